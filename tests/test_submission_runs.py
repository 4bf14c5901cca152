"""A bulk run followed to the end: counts at Scale on its page, links to its tasks and
their export, and one summary email per run instead of one per task."""

from __future__ import annotations

import pytest
from django.core import mail

from annotator.accounts.models import Membership
from annotator.submission import runs
from annotator.tasks.models import Notification, SubmissionGroup, Task
from tests import support
from tests.test_callbacks_receiver import make_task
from tests.test_callbacks_transitions import body, deliver


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def run_of(users, n: int = 3, **group_fields) -> tuple[SubmissionGroup, list[Task]]:
    group = SubmissionGroup.objects.create(workspace=users.ws_a, created_by=users.alice, name="Shelves", total=n,
                                           **group_fields)  # fmt: skip
    tasks = [
        make_task(users.ws_a, users.alice, group=group, unique_id=f"shelf-{i}", scale_task_id=f"{i + 1:024x}")
        for i in range(n)
    ]
    return group, tasks


def finish(users, task: Task, status: str) -> None:
    deliver(users.ws_a, body(status, 10, task_id=task.scale_task_id))


@pytest.mark.django_db
def test_one_summary_per_person_when_the_last_task_finishes(users, settings):
    settings.SITE_URL = "https://dash.example"
    Membership.objects.filter(user=users.bob).update(subscribed=True)
    group, tasks = run_of(users)
    finish(users, tasks[0], "completed")
    finish(users, tasks[1], "error")
    assert set(Notification.objects.values_list("kind", flat=True)) == {"run"}
    assert runs.send_summary(group.id) == 0  # one task still pending: not yet
    assert mail.outbox == []
    finish(users, tasks[2], "completed")
    assert runs.send_summary(group.id) == 2
    assert runs.send_summary(group.id) == 0  # never twice
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.org", "bob@example.org"]
    msg = mail.outbox[0]
    assert msg.subject == "Bulk run finished: Shelves — 2 completed, 1 error"
    assert f"https://dash.example/tasks/?run={group.code}" in msg.body
    assert f"https://dash.example/exports/new/?run={group.code}" in msg.body
    assert "shelf-1" in msg.body  # the task that ended in an error is named
    assert Notification.objects.filter(sent_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_a_run_can_ask_for_an_email_per_task_instead(users, alice_client):
    group, tasks = run_of(users, 2)
    response = alice_client.post(f"/submit/groups/{group.code}/email", {"email": "each"})
    assert response.status_code == 302
    group.refresh_from_db()
    assert group.email_each is True
    finish(users, tasks[0], "completed")
    assert list(Notification.objects.values_list("kind", flat=True)) == ["every"]
    page = alice_client.get(response["Location"]).content.decode()
    assert "an email for each task of this run" in page
    assert 'value="each" checked' in page


@pytest.mark.django_db
def test_a_task_outside_any_run_is_still_emailed_at_once(users):
    make_task(users.ws_a, users.alice)
    deliver(users.ws_a, body("completed", 10))
    assert list(Notification.objects.values_list("kind", flat=True)) == ["every"]


@pytest.mark.django_db
def test_the_run_page_counts_by_scale_status_and_links_to_its_tasks_and_export(users, alice_client):
    group, tasks = run_of(users, 4)
    finish(users, tasks[0], "completed")
    finish(users, tasks[1], "error")
    Task.objects.filter(id=tasks[2].id).update(state=Task.State.FAILED, scale_status="")
    page = alice_client.get(f"/submit/groups/{group.code}/")
    html = page.content.decode()
    counts = page.context["at_scale"].as_dict()
    assert counts == {"pending": 1, "completed": 1, "error": 1, "canceled": 0, "failed": 1}
    assert f'href="/tasks/?run={group.code}"' in html and f'href="/exports/new/?run={group.code}"' in html
    assert f"/tasks/?run={group.code}&amp;status=error" in html
    poll = alice_client.get(f"/submit/groups/{group.code}/?part=scale", HTTP_HX_REQUEST="true")
    assert poll.status_code == 200 and b"every 3s" in poll.content
    finish(users, tasks[3], "canceled")
    poll = alice_client.get(f"/submit/groups/{group.code}/?part=scale", HTTP_HX_REQUEST="true")
    assert poll.status_code == 286  # every task has finished: htmx stops polling
    assert b"Every task has finished" in poll.content
    table = alice_client.get(f"/tasks/?run={group.code}")
    assert len(table.context["rows"]) == 4


@pytest.mark.django_db
def test_another_workspace_cannot_change_a_runs_email(client, users):
    group, _ = run_of(users, 1)
    client.force_login(users.charlie)
    assert client.post(f"/submit/groups/{group.code}/email", {"email": "each"}).status_code == 404
    group.refresh_from_db()
    assert group.email_each is False


@pytest.mark.django_db(transaction=True)
def test_a_real_run_through_the_sandbox_sends_one_summary_email(live_server, users, settings, smtp_server):
    from annotator.sandbox.models import SandboxAccount
    from annotator.submission import pipeline

    settings.SITE_URL = live_server.url
    users.ws_a.set_api_key("run-test-key")
    users.ws_a.save()
    SandboxAccount.objects.ensure("run-test-key", users.ws_a.callback_auth_key)
    group = SubmissionGroup.objects.create(workspace=users.ws_a, created_by=users.alice, name="Street run", total=3)
    worker = support.Worker(
        concurrency=3, SITE_URL=live_server.url, SANDBOX_COMPLETE_AFTER="1", EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_server.port), EMAIL_USE_TLS="false",
    ).start()  # fmt: skip
    try:
        for n in (1, 2, 3):
            payload = {"attachment": f"{live_server.url}/sandbox/media/street-{n}.png", "labels": ["road", "sky"]}
            pipeline.create_task(users.ws_a, users.alice, "segmentannotation", payload, group=group)
        support.wait_until(lambda: len(smtp_server.messages) >= 1, timeout=90, message="the run's summary")
        support.wait_until(
            lambda: Task.objects.filter(group=group, scale_status="completed").count() == 3, timeout=30,
            message="three completed tasks",
        )  # fmt: skip
        # Time for a stray per-task email to show up, were one sent.
        support.wait_until(
            lambda: not Notification.objects.filter(sent_at__isnull=True).exists(), timeout=30, message="all told"
        )
    finally:
        worker.stop()
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["To"] == "alice@example.org"
    from email.header import decode_header, make_header

    assert str(make_header(decode_header(message["Subject"]))) == "Bulk run finished: Street run — 3 completed"
