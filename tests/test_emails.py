"""Email about tasks: who gets what, when, and what it looks like."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from PIL import Image

from annotator.accounts.models import Membership
from annotator.tasks import emails
from annotator.tasks.models import Notification, ResultFile
from tests.test_callbacks_receiver import make_task
from tests.test_callbacks_transitions import body, deliver


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def send_all() -> None:
    for n in Notification.objects.filter(kind="every", sent_at__isnull=True):
        emails.send_notification(n.id)


def test_it_emails_the_submitter_an_html_and_text_message_with_a_link(users, settings):
    settings.SITE_URL = "https://annotator.example.org"
    task = make_task(users.ws_a, users.alice)
    deliver(users.ws_a, body("completed", 10))
    send_all()
    assert len(mail.outbox) == 1
    msg = mail.outbox[0]
    assert msg.to == ["alice@example.org"]
    assert msg.subject == "Completed: a.png (segmentation)"  # the attachment's file name: no name was given
    link = f"https://annotator.example.org/tasks/{task.code}/"
    assert link in msg.body
    html, mime = msg.alternatives[0]
    assert mime == "text/html" and link in html and "is complete" in html


def test_it_sends_nothing_twice(users):
    make_task(users.ws_a, users.alice)
    deliver(users.ws_a, body("completed", 10))
    row = Notification.objects.get()
    assert emails.send_notification(row.id) == "sent"
    assert emails.send_notification(row.id) == "already sent or being sent"
    assert len(mail.outbox) == 1


def test_subscribers_get_every_task_and_none_means_nothing(users):
    Membership.objects.filter(user=users.bob).update(subscribed=True)
    Membership.objects.filter(user=users.alice).update(notify="none")
    make_task(users.ws_a, users.alice)
    deliver(users.ws_a, body("error", 10))
    send_all()
    assert [m.to for m in mail.outbox] == [["bob@example.org"]]


def test_a_digest_waits_its_period_and_summarises_every_change(users, settings):
    settings.SITE_URL = "https://annotator.example.org"
    Membership.objects.filter(user=users.alice).update(notify="digest", digest_minutes=30)
    for i in range(3):
        make_task(users.ws_a, users.alice, unique_id=f"bulk-{i}", scale_task_id=f"{i:024x}")
        deliver(users.ws_a, body("completed" if i else "error", 10, task_id=f"{i:024x}"))
    now = timezone.now()
    assert emails.due_digests(now) == []  # nothing before the period has passed
    assert emails.due_digests(now + timedelta(minutes=31)) == [(users.alice.id, users.ws_a.id)]
    assert emails.send_digest(users.alice.id, users.ws_a.id, now + timedelta(minutes=31)) == 3
    assert len(mail.outbox) == 1
    msg = mail.outbox[0]
    assert msg.subject == "3 task updates in Team A"
    assert "completed: 2" in msg.body and "error: 1" in msg.body
    assert "bulk-0" in msg.body and "bulk-2" in msg.body
    # Sent: the next pass has nothing to send.
    assert emails.due_digests(now + timedelta(hours=5)) == []


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def test_a_completed_segmentation_email_carries_an_inline_thumbnail(users, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    task = make_task(users.ws_a, users.alice)
    deliver(users.ws_a, body("completed", 10))
    task.refresh_from_db()
    task.response = {"labelMapping": {"road": {"index": 1, "color": "#ff0000"}}}
    task.save()
    folder = tmp_path / "results" / task.code.hex
    folder.mkdir(parents=True)
    mask = Image.new("L", (64, 48), 0)
    mask.paste(1, (0, 24, 64, 48))
    (folder / "mask.png").write_bytes(_png(mask))
    (folder / "attachment.png").write_bytes(_png(Image.new("RGB", (64, 48), (0, 0, 255))))
    for name in ("mask", "attachment"):
        ResultFile.objects.create(
            task=task, name=name, source_url="x", path=f"results/{task.code.hex}/{name}.png", content_type="image/png"
        )
    send_all()
    msg = mail.outbox[0].message()
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1
    assert images[0]["Content-ID"] == "<result-thumbnail>"
    html = next(p for p in msg.walk() if p.get_content_type() == "text/html").get_payload(decode=True).decode()
    assert 'src="cid:result-thumbnail"' in html
    thumb = Image.open(io.BytesIO(images[0].get_payload(decode=True))).convert("RGB")
    top, bottom = thumb.getpixel((5, 5)), thumb.getpixel((5, thumb.height - 5))
    assert top == (0, 0, 255)  # the image, no label there
    assert bottom[0] > 100 and bottom[2] < 200  # red road blended over blue


def test_it_delivers_over_real_smtp(users, smtp_server):
    make_task(users.ws_a, users.alice)
    deliver(users.ws_a, body("canceled", 10))
    send_all()
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["To"] == "alice@example.org"
    assert message["Subject"].startswith("Canceled:")
    kinds = {p.get_content_type() for p in message.walk()}
    assert {"text/plain", "text/html"} <= kinds


def test_a_failed_send_releases_the_claim_for_a_retry(users, settings):
    from annotator.devstack import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", free_port(), False
    make_task(users.ws_a, users.alice)
    deliver(users.ws_a, body("completed", 10))
    row = Notification.objects.get()
    with pytest.raises(OSError):
        emails.send_notification(row.id)
    row.refresh_from_db()
    assert row.sent_at is None and row.claimed_at is None and row.attempts == 1 and row.last_error
    # A sweep finds it again once RESEND_AFTER has passed.
    assert emails.lost_notifications(timezone.now() + timedelta(minutes=6)) == [row.id]
