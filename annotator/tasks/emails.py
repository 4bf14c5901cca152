"""Email about tasks: `make_message(name, to, ctx)` + one small function per email.

Templates by naming convention: templates/emails/<name>_subject.txt,
<name>.txt and <name>.html. Sending happens only in jobs (annotator/tasks/jobs.py),
never in a request, and every send is claimed first so it happens once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from email.mime.image import MIMEImage

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Min, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from annotator.accounts.models import Membership
from annotator.tasks import results
from annotator.tasks.models import Notification, Task, TaskEvent

log = logging.getLogger(__name__)

# A claim older than this is a send whose worker died: it may be tried again.
CLAIM_TIMEOUT = timedelta(minutes=10)
# An unsent immediate notification older than this lost its job (broker outage).
RESEND_AFTER = timedelta(minutes=5)
DIGEST_MAX_TASKS = 50
# After this many failed sends (each already retried with backoff) we stop.
MAX_ATTEMPTS = 8


def make_message(name: str, to: str, ctx: dict) -> EmailMultiAlternatives:
    ctx = {"site_name": settings.SITE_NAME, "site_url": settings.SITE_URL, **ctx}
    subject = " ".join(render_to_string(f"emails/{name}_subject.txt", ctx).split())
    text = render_to_string(f"emails/{name}.txt", ctx)
    html = render_to_string(f"emails/{name}.html", ctx)
    msg = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to])
    msg.attach_alternative(html, "text/html")
    return msg


def task_url(task: Task) -> str:
    return settings.SITE_URL + reverse("task_detail", args=[task.code])


def task_status(notification: Notification) -> EmailMultiAlternatives:
    task = notification.task
    thumbnail = results.thumbnail_png(task) if notification.status == "completed" else None
    ctx = {
        "task": task,
        "status": notification.status,
        "url": task_url(task),
        "error": task.last_error
        if notification.status == "failed"
        else ((task.response or {}).get("error") if isinstance(task.response, dict) else None),
        "has_thumbnail": thumbnail is not None,
        "user": notification.user,
    }
    msg = make_message("task_status", notification.user.email, ctx)
    if thumbnail is not None:
        # Inline (cid:) so mail clients that block remote images still show it.
        msg.mixed_subtype = "related"
        image = MIMEImage(thumbnail, "png")
        image.add_header("Content-ID", "<result-thumbnail>")
        image.add_header("Content-Disposition", "inline", filename="result.png")
        msg.attach(image)
    return msg


def digest(user, workspace, rows: list[Notification]) -> EmailMultiAlternatives:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    shown = rows[:DIGEST_MAX_TASKS]
    ctx = {
        "user": user,
        "workspace": workspace,
        "counts": sorted(counts.items()),
        "total": len(rows),
        "items": [{"task": r.task, "status": r.status, "url": task_url(r.task), "at": r.created_at} for r in shown],
        "more": len(rows) - len(shown),
        "list_url": settings.SITE_URL + reverse("task_list"),
    }
    return make_message("digest", user.email, ctx)


def claim(notification_id: int) -> bool:
    now = timezone.now()
    free = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT)
    return Notification.objects.filter(free, id=notification_id, sent_at__isnull=True).update(claimed_at=now) == 1


def send_notification(notification_id: int) -> str:
    """Send one immediate email; raises on SMTP failure after releasing the claim."""
    if not claim(notification_id):
        return "already sent or being sent"
    row = Notification.objects.select_related("task", "user", "task__workspace").get(id=notification_id)
    try:
        task_status(row).send()
    except Exception as e:
        Notification.objects.filter(id=row.id).update(
            claimed_at=None, attempts=row.attempts + 1, last_error=str(e)[:1000]
        )
        raise
    Notification.objects.filter(id=row.id).update(sent_at=timezone.now(), attempts=row.attempts + 1, last_error="")
    # "about", not "(failed)": the status is the news told, not how the sending went.
    about = "not submitted" if row.status == "failed" else row.status
    TaskEvent.objects.create(
        task=row.task, kind=TaskEvent.Kind.EMAIL, message=f"Emailed {row.user.email} about: {about}"
    )
    return "sent"


def due_digests(now: datetime) -> list[tuple[int, int]]:
    """(user id, workspace id) pairs whose digest may go out now."""
    pending = (
        Notification.objects.filter(kind=Notification.Kind.DIGEST, sent_at__isnull=True, claimed_at__isnull=True)
        .values("user_id", "workspace_id")
        .annotate(oldest=Min("created_at"))
    )
    due = []
    for row in pending:
        membership = Membership.objects.filter(user_id=row["user_id"], workspace_id=row["workspace_id"]).first()
        minutes = membership.digest_minutes if membership else 60
        # Waiting a full period from the first unsent change collects a bulk
        # submission into one email, and keeps digests at least that far apart.
        if row["oldest"] <= now - timedelta(minutes=minutes):
            due.append((row["user_id"], row["workspace_id"]))
    return due


def send_digest(user_id: int, workspace_id: int, now: datetime | None = None) -> int:
    """Send one digest of every pending change; returns how many changes it covered."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            Notification.objects.filter(
                user_id=user_id,
                workspace_id=workspace_id,
                kind=Notification.Kind.DIGEST,
                sent_at__isnull=True,
                claimed_at__isnull=True,
            ).values_list("id", flat=True)
        )
        claimed = Notification.objects.filter(id__in=ids, claimed_at__isnull=True).update(claimed_at=now)
    if not ids or claimed != len(ids):
        # Another sender took some of them: release ours and let the next pass decide.
        Notification.objects.filter(id__in=ids, claimed_at=now, sent_at__isnull=True).update(claimed_at=None)
        return 0
    rows = list(
        Notification.objects.filter(id__in=ids).select_related("task", "user", "workspace").order_by("created_at")
    )
    try:
        digest(rows[0].user, rows[0].workspace, rows).send()
    except Exception:
        Notification.objects.filter(id__in=ids).update(claimed_at=None)
        raise
    Notification.objects.filter(id__in=ids).update(sent_at=timezone.now())
    return len(ids)


def lost_notifications(now: datetime) -> list[int]:
    """Immediate notifications whose job never ran or whose sender died."""
    stale = Notification.objects.filter(kind=Notification.Kind.EVERY, sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS)
    never = stale.filter(claimed_at__isnull=True, created_at__lt=now - RESEND_AFTER)
    died = stale.filter(claimed_at__lt=now - CLAIM_TIMEOUT)
    return list((never | died).values_list("id", flat=True)[:500])
