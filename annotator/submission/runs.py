"""A bulk run followed to the end: counts at Scale, and one summary email per run.

A task of a run (SubmissionGroup) that finishes creates RUN notifications
instead of immediate ones (transitions.create_notifications), unless the run
has `email_each`. When every task of the run has finished (completed, error,
canceled at Scale, or failed before Scale), each recipient gets one email that
sums the run up. Sending claims the rows first, so it happens once.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from annotator.tasks.models import Notification, SubmissionGroup, Task

SCALE_STATUSES = ("pending", "completed", "error", "canceled")


@dataclass
class AtScale:
    """Where a run's tasks are, once submitted."""

    pending: int = 0
    completed: int = 0
    error: int = 0
    canceled: int = 0
    failed: int = 0  # never reached Scale (permanent error or out of attempts)
    waiting: int = 0  # not submitted yet (queued, submitting, submitted without news)

    @property
    def finished(self) -> bool:
        return self.pending == 0 and self.waiting == 0

    @property
    def done_count(self) -> int:
        return self.completed + self.error + self.canceled + self.failed

    def as_dict(self) -> dict[str, int]:
        return {s: getattr(self, s) for s in (*SCALE_STATUSES, "failed")}


def at_scale(group: SubmissionGroup) -> AtScale:
    counts = AtScale()
    rows = Task.objects.filter(group=group).order_by().values_list("state", "scale_status").annotate(n=Count("id"))
    for state, status, n in rows:
        if state == Task.State.FAILED:
            counts.failed += n
        elif state == Task.State.SUBMITTED and status in SCALE_STATUSES:
            setattr(counts, status, getattr(counts, status) + n)
        else:
            counts.waiting += n
    return counts


def links(group: SubmissionGroup) -> dict[str, str]:
    query = f"?run={group.code}"
    return {
        "run": settings.SITE_URL + reverse("submission_group", args=[group.code]),
        "tasks": settings.SITE_URL + reverse("task_list") + query,
        "export": settings.SITE_URL + reverse("export_new") + query,
    }


def send_summary(group_id: int) -> int:
    """One email per recipient of a finished run; returns how many were sent."""
    from annotator.tasks.emails import make_message

    group = SubmissionGroup.objects.filter(id=group_id).first()
    if group is None:
        return 0
    counts = at_scale(group)
    if not counts.finished:
        return 0
    sent = 0
    users = (
        Notification.objects.filter(task__group=group, kind=Notification.Kind.RUN, sent_at__isnull=True)
        .values_list("user_id", flat=True)
        .distinct()
    )
    for user_id in list(users):
        now = timezone.now()
        with transaction.atomic():
            mine = Notification.objects.filter(
                task__group=group, user_id=user_id, kind=Notification.Kind.RUN, sent_at__isnull=True
            ).filter(Q(claimed_at__isnull=True))
            ids = list(mine.values_list("id", flat=True))
            claimed = Notification.objects.filter(id__in=ids, claimed_at__isnull=True).update(claimed_at=now)
        if not ids or claimed != len(ids):
            # Another sender took some: release ours, the next pass decides.
            Notification.objects.filter(id__in=ids, claimed_at=now, sent_at__isnull=True).update(claimed_at=None)
            continue
        rows = list(Notification.objects.filter(id__in=ids).select_related("user", "task").order_by("created_at"))
        user = rows[0].user
        errors = [n.task for n in rows if n.status == "error"][:20]
        ctx = {"group": group, "counts": counts, "links": links(group), "user": user, "told": len(rows),
               "errors": errors}  # fmt: skip
        try:
            make_message("run_summary", user.email, ctx).send()
        except Exception:
            Notification.objects.filter(id__in=ids).update(claimed_at=None)
            raise
        Notification.objects.filter(id__in=ids).update(sent_at=timezone.now())
        sent += 1
    return sent


def due_runs() -> list[int]:
    """Runs with untold finished tasks: the periodic pass tries each (a safety net
    for a run whose last task failed before Scale, or a lost job)."""
    return list(
        Notification.objects.filter(kind=Notification.Kind.RUN, sent_at__isnull=True, claimed_at__isnull=True)
        .values_list("task__group_id", flat=True)
        .distinct()[:200]
    )
