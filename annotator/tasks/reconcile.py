"""The safety net for missed callbacks: ask Scale about tasks that went quiet.

Scale gives up on a callback after 20 tries in 24 h, and we may be down or the
callback URL may be wrong. Tasks that are still pending here and have had no
news for RECONCILE_AFTER seconds are read back with GET /task/{id} and the
answer goes through the same transition code as a callback.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from annotator.tasks import transitions
from annotator.tasks.models import CallbackEvent, Task, TaskEvent

log = logging.getLogger(__name__)


def due(now: datetime, limit: int) -> list[Task]:
    cutoff = now - timedelta(seconds=settings.RECONCILE_AFTER)
    checked_lately = TaskEvent.objects.filter(task=OuterRef("pk"), kind=TaskEvent.Kind.RECONCILED, at__gte=cutoff)
    quiet = Q(last_callback_at__isnull=True) | Q(last_callback_at__lt=cutoff)
    return list(
        Task.objects.filter(quiet, state=Task.State.SUBMITTED, scale_status=Task.ScaleStatus.PENDING)
        .exclude(scale_task_id="")
        .filter(submitted_at__lt=cutoff)
        .exclude(Exists(checked_lately))
        .select_related("workspace")
        .order_by("submitted_at")[:limit]
    )


def reconcile(now: datetime | None = None, limit: int | None = None) -> dict[str, int]:
    """Check quiet pending tasks at Scale; returns counts by outcome."""
    from annotator.scale_client import ScaleError
    from annotator.submission.pipeline import client_for

    now = now or timezone.now()
    counts: dict[str, int] = {}
    clients: dict[int, object] = {}
    for task in due(now, limit or settings.RECONCILE_BATCH):
        if task.workspace_id not in clients:
            clients[task.workspace_id] = client_for(task.workspace)
        try:
            obj = clients[task.workspace_id].get_task(task.scale_task_id)
            news = transitions.news_from_scale_task(obj, source="reconciled")
        except (ScaleError, ValueError) as e:
            log.warning("reconcile: task %s: %s", task.pk, e)
            counts["error"] = counts.get("error", 0) + 1
            continue
        outcome = transitions.apply_news(task.pk, news)
        key = "changed" if "→" in outcome else "unchanged"
        counts[key] = counts.get(key, 0) + 1
    counts["requeued_callbacks"] = requeue_unprocessed(now)
    return counts


def requeue_unprocessed(now: datetime) -> int:
    """Callback events stored while the broker was away get their job again."""
    from annotator.tasks import jobs

    stale = now - timedelta(seconds=settings.RECONCILE_AFTER)
    ids = list(
        CallbackEvent.objects.filter(processed_at__isnull=True, received_at__lt=stale).values_list("id", flat=True)[
            :1000
        ]
    )
    for event_id in ids:
        jobs.apply_callback.delay(event_id)
    return len(ids)
