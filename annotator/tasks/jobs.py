"""Background jobs of the task domain. Thin: take ids, call plain functions."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

log = logging.getLogger(__name__)


@shared_task(name="annotator.ping", queue="default", ignore_result=False)
def ping(value: str) -> str:
    # Used by the health check and the test that proves a job round-trips
    # through a real worker and broker.
    return f"pong:{value}"


# A busy database (SQLite's single writer, a PostgreSQL deadlock) is worth
# another try soon; the event waits, stored, until it is applied.
_DB_RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": 1, "retry_backoff_max": 30, "max_retries": 8}


@shared_task(name="annotator.apply_callback", queue="callbacks", **_DB_RETRY)
def apply_callback(event_id: int) -> str:
    from annotator.tasks import transitions

    return transitions.apply_callback_event(event_id)


@shared_task(name="annotator.drain_callbacks", queue="callbacks", **_DB_RETRY)
def drain_callbacks(follow_up: bool = False) -> int:
    from annotator.tasks import callbacks

    # Cleared before reading, so a callback stored from now on wakes another drain.
    callbacks.clear_wake()
    ids = callbacks.claim_for_apply()
    for event_id in ids:
        apply_callback.delay(event_id)  # applied in parallel by every callbacks worker
    if len(ids) == callbacks.DRAIN_BATCH:
        drain_callbacks.delay(follow_up=follow_up)
    elif not follow_up:
        # Receivers skip the wake-up for WAKE_EVERY seconds after one (see
        # callbacks.enqueue): whatever they stored in that window is claimed here.
        drain_callbacks.apply_async(kwargs={"follow_up": True}, countdown=callbacks.WAKE_EVERY)
    return len(ids)


@shared_task(name="annotator.copy_results", queue="default")
def copy_results(task_id: int, status_event_id: int) -> None:
    from annotator.tasks import results
    from annotator.tasks.models import Notification, Task

    task = Task.objects.select_related("workspace").filter(id=task_id).first()
    if task is not None:
        try:
            results.copy_results(task)
        except Exception:
            # The email still goes out, without a thumbnail; the page shows what is missing.
            log.exception("copying results of task %s failed", task_id)
    for n_id in Notification.objects.filter(event_id=status_event_id, kind="every").values_list("id", flat=True):
        send_notification.delay(n_id)


@shared_task(name="annotator.make_thumbnail", queue="default", ignore_result=True)
def make_thumbnail(task_id: int) -> None:
    from annotator.tasks import thumbnails
    from annotator.tasks.models import Task

    task = Task.objects.filter(id=task_id).first()
    if task is not None:
        thumbnails.make(task)


@shared_task(
    bind=True, name="annotator.send_notification", queue="email", max_retries=6, acks_late=True, ignore_result=True
)
def send_notification(self, notification_id: int) -> str:
    from annotator.tasks import emails

    try:
        return emails.send_notification(notification_id)
    except Exception as e:
        # SMTP down or refusing: back off (10 s, 20 s, 40 s ... capped at 10 min).
        raise self.retry(exc=e, countdown=min(10 * 2**self.request.retries, 600)) from e


@shared_task(name="annotator.send_digests", queue="email")
def send_digests() -> int:
    from django.utils import timezone

    from annotator.tasks import emails

    now = timezone.now()
    for user_id, workspace_id in emails.due_digests(now):
        send_digest.delay(user_id, workspace_id)
    for n_id in emails.lost_notifications(now):
        send_notification.delay(n_id)
    return 0


@shared_task(bind=True, name="annotator.send_digest", queue="email", max_retries=6)
def send_digest(self, user_id: int, workspace_id: int) -> int:
    from annotator.tasks import emails

    try:
        return emails.send_digest(user_id, workspace_id)
    except Exception as e:
        raise self.retry(exc=e, countdown=min(10 * 2**self.request.retries, 600)) from e


@shared_task(name="annotator.reconcile_tasks", queue="default")
def reconcile_tasks() -> dict:
    from annotator.tasks import reconcile, reviews

    counts = reconcile.reconcile()
    counts["requeued_reviews"] = reviews.sweep()
    return counts


@shared_task(name="annotator.cancel_at_scale", queue="default")
def cancel_at_scale(task_id: int, user_id: int | None = None) -> str:
    from annotator.tasks import transitions

    return transitions.cancel_at_scale(task_id, user_id)


@shared_task(name="annotator.review_at_scale", queue="default", **_DB_RETRY)
def review_at_scale(task_id: int, seq: int) -> str:
    # Thin: the review is saved on the Task; reviews.send claims it, sends it once,
    # and schedules its own retry on a temporary error.
    from annotator.tasks import reviews

    return reviews.send(task_id, seq)
