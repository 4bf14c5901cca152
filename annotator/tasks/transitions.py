"""The Scale status of a task, whatever order the news arrives in.

Callbacks, the reconciler and our own cancel requests all end here. Each piece
of news carries Scale's `updated_at`: news older than what we know is recorded
in the timeline and otherwise ignored, so a stale or duplicated callback can
never move a task backwards, while Scale's own "recall" (completed back to
pending, with a newer `updated_at`) is honoured.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from annotator.accounts.models import Membership
from annotator.tasks import callbacks, reviews
from annotator.tasks.models import CallbackEvent, Notification, Task, TaskEvent

log = logging.getLogger(__name__)

FINAL = ("completed", "error", "canceled")
# Breaks ties between two pieces of news with the same updated_at: an ending
# beats "pending", so a task cannot be stuck pending by an equal-time echo.
_RANK = {"": -1, "pending": 0, "completed": 1, "error": 1, "canceled": 1}


@dataclass(frozen=True)
class News:
    status: str
    updated_at: datetime
    response: object = None
    source: str = "callback"  # callback | reconciled | cancel
    # Scale's `audits` list from the task object, any shape: the review it shows (reviews.py).
    audits: object = None


def is_newer(task: Task, news: News) -> bool:
    if task.scale_updated_at is None:
        return True
    if news.updated_at != task.scale_updated_at:
        return news.updated_at > task.scale_updated_at
    return _RANK.get(news.status, 0) > _RANK.get(task.scale_status, 0)


def news_from_scale_task(obj: dict, *, source: str, fallback: datetime | None = None) -> News:
    """News from a task object (GET /task/{id} or a cancel response)."""
    status = obj.get("status")
    if status not in callbacks.STATUSES:
        raise callbacks.BadCallback(f"Scale answered an unknown status {status!r}")
    at = callbacks.scale_time(obj) or fallback or timezone.now()
    return News(status=status, updated_at=at, response=obj.get("response"), source=source, audits=obj.get("audits"))


def apply_news(task_pk: int, news: News, *, callback_event: CallbackEvent | None = None) -> str:
    """Apply one piece of news under a row lock; returns what happened, in words."""
    with transaction.atomic():
        task = Task.objects.select_for_update().get(pk=task_pk)
        old = task.scale_status
        known = task.scale_updated_at == news.updated_at and old == news.status
        newer = is_newer(task, news)
        changed = newer and news.status != old
        if newer:
            task.scale_updated_at = news.updated_at
            if task.scale_status != news.status:
                task.scale_status = news.status
            if isinstance(news.response, dict):
                task.response = news.response
        # Audits are ordered by their own audited_at, not by the news' updated_at.
        review = reviews.apply_audits(task, news.audits)
        if callback_event is not None:
            task.callback_count += 1
            task.last_callback_at = callback_event.received_at
            task.callback_succeeded = True
        task.save()

        if changed:
            outcome = f"{old or 'unknown'} → {news.status}"
        else:
            outcome = "no change" if newer else ("already known" if known else "stale, ignored")
        if review:
            outcome += f"; review: {review}"
        elif (latest := reviews.latest_audit(news.audits)) is not None:
            outcome += f"; review {latest[0]} already known"  # e.g. the callback of our own audit
        if callback_event is not None:
            TaskEvent.objects.create(
                task=task,
                kind=TaskEvent.Kind.CALLBACK,
                message=f"Callback: {news.status} ({outcome})",
                data={
                    "callback_event": callback_event.id,
                    "status": news.status,
                    "updated_at": news.updated_at.isoformat(),
                    "outcome": outcome,
                },
            )
        elif news.source == "reconciled":
            _record_reconcile_check(task, news, outcome)
        if review:
            said = f" “{task.review_comment}”" if task.review_comment and not task.review_in_flight else ""
            TaskEvent.objects.create(
                task=task,
                kind=TaskEvent.Kind.REVIEW,
                message=f"Scale reports the review: {review}{said}",
                data={"review": review, "source": news.source, "step": "reported"},
            )
        if changed:
            status_event = TaskEvent.objects.create(
                task=task,
                kind=TaskEvent.Kind.STATUS,
                message=f"{old or 'unknown'} → {news.status}",
                data={"from": old, "to": news.status, "source": news.source, "updated_at": news.updated_at.isoformat()},
            )
            _after_status_change(task, status_event)
        return outcome


def _record_reconcile_check(task: Task, news: News, outcome: str) -> None:
    # A task may wait days at Scale: one "checked" row, bumped, instead of
    # one timeline row per reconciler pass.
    last = task.events.order_by("-at", "-id").first()
    data = {"status": news.status, "updated_at": news.updated_at.isoformat(), "outcome": outcome}
    if last is not None and last.kind == TaskEvent.Kind.RECONCILED and outcome != "stale, ignored":
        checks = (last.data or {}).get("checks", 1) + 1
        TaskEvent.objects.filter(pk=last.pk).update(at=timezone.now(), data={**data, "checks": checks})
        return
    TaskEvent.objects.create(
        task=task, kind=TaskEvent.Kind.RECONCILED, message=f"Checked at Scale: {news.status} ({outcome})", data=data
    )


def _after_status_change(task: Task, status_event: TaskEvent) -> None:
    """Side effects of a real change, queued to run only once the change is committed."""
    from annotator.tasks import jobs

    if task.scale_status not in FINAL:
        return  # a recall back to pending is shown, not emailed
    notifications = create_notifications(task, status_event)
    if task.scale_status == "completed":
        # The copy job sends the emails when it is done, so they can show the result.
        jobs.copy_results.delay_on_commit(task.id, status_event.id)
    else:
        for n in notifications:
            if n.kind == Notification.Kind.EVERY:
                jobs.send_notification.delay_on_commit(n.id)
    if any(n.kind == Notification.Kind.RUN for n in notifications):
        from annotator.submission import jobs as submission_jobs

        submission_jobs.send_run_summary.delay_on_commit(task.group_id)


def notify_submission_failed(task: Task, event: TaskEvent) -> None:
    """Scale refused the task (or never took it after every retry): the people who asked
    hear of it as of a final status, "failed". A bulk run's tasks are left to its page and
    summary, which count the failures."""
    from annotator.tasks import jobs

    if task.group_id is not None:
        return
    for n in create_notifications(task, event, status="failed"):
        if n.kind == Notification.Kind.EVERY:
            jobs.send_notification.delay_on_commit(n.id)


def recipients(task: Task) -> list[Membership]:
    """The submitter (unless they chose nothing) and everyone subscribed to the workspace."""
    members = Membership.objects.filter(workspace_id=task.workspace_id).exclude(notify=Membership.Notify.NONE)
    chosen = [m for m in members.select_related("user") if m.subscribed or m.user_id == task.created_by_id]
    return [m for m in chosen if m.user.email]


def create_notifications(task: Task, status_event: TaskEvent, status: str = "") -> list[Notification]:
    rows = []
    status = status or task.scale_status
    # A bulk run's tasks are told in one summary per run, unless the run asks otherwise.
    in_run = task.group_id is not None and not task.group.email_each
    for membership in recipients(task):
        kind = Notification.Kind.DIGEST if membership.notify == Membership.Notify.DIGEST else Notification.Kind.EVERY
        if kind == Notification.Kind.EVERY and in_run:
            kind = Notification.Kind.RUN
        row, _ = Notification.objects.get_or_create(
            user_id=membership.user_id,
            event=status_event,
            defaults={"workspace_id": task.workspace_id, "task": task, "kind": kind, "status": status},
        )
        rows.append(row)
    return rows


def find_task(event: CallbackEvent, scale_task: dict) -> Task | None:
    tasks = Task.objects.filter(workspace_id=event.workspace_id)
    task = tasks.filter(scale_task_id=event.scale_task_id).first()
    if task is None:
        # The callback can beat the create response (fast tasks, a retried
        # create): our unique_id is in Scale's task object.
        unique_id = scale_task.get("unique_id")
        if isinstance(unique_id, str) and unique_id:
            task = tasks.filter(unique_id=unique_id).first()
    return task


def apply_callback_event(event_id: int) -> str:
    """Apply a stored callback once; running it again is harmless."""
    with transaction.atomic():
        event = CallbackEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None or event.processed_at is not None:
            return "already processed"
        parsed = callbacks.parse(event.body.encode())
        task = find_task(event, parsed.task or {})
        if task is None:
            outcome = "unknown task: kept"
        else:
            if not task.scale_task_id:
                Task.objects.filter(pk=task.pk, scale_task_id="").update(scale_task_id=parsed.task_id)
            news = News(
                status=parsed.status,
                updated_at=parsed.updated_at or event.received_at,
                response=parsed.response,
                source="callback",
                audits=(parsed.task or {}).get("audits"),
            )
            outcome = apply_news(task.pk, news, callback_event=event)
        CallbackEvent.objects.filter(pk=event.pk).update(task=task, processed_at=timezone.now(), outcome=outcome[:200])
        return outcome


def cancel_at_scale(task_id: int, user_id: int | None = None) -> str:
    """Ask Scale to cancel a pending task and apply its answer like any other news."""
    from annotator.scale_client import ScaleError
    from annotator.submission.pipeline import client_for

    task = Task.objects.select_related("workspace").filter(id=task_id).first()
    if task is None or task.scale_status != Task.ScaleStatus.PENDING or not task.scale_task_id:
        return "not cancellable"
    try:
        obj = client_for(task.workspace).cancel_task(task.scale_task_id)
        news = news_from_scale_task(obj, source="cancel")
    except (ScaleError, ValueError) as e:
        TaskEvent.objects.create(
            task=task, kind=TaskEvent.Kind.SUBMISSION, message=f"Cancel refused: {e}", data={"cancel_by": user_id}
        )
        return f"refused: {e}"
    TaskEvent.objects.create(
        task=task, kind=TaskEvent.Kind.SUBMISSION, message="Cancel requested at Scale", data={"cancel_by": user_id}
    )
    return apply_news(task.pk, news)
