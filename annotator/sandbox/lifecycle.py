"""A sandbox task's life: created pending, then completed (or error), or canceled.

Completion is reached three ways, all through `finish()`, which claims the row with a
conditional UPDATE so it happens once: a job scheduled at creation, a read of a task
past its due time, and the periodic sweep. So the sandbox works with or without a
Celery worker.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import callbacks, results
from .faults import Decision
from .models import SandboxAccount, SandboxBatch, SandboxProject, SandboxTask, SandboxTaskTag, due_at_from_now

log = logging.getLogger(__name__)

# Parameters Scale keeps on the task itself; everything else is echoed in `params`.
TASK_LEVEL = ("project", "batch", "instruction", "callback_url", "metadata", "unique_id", "tags")
DROPPED = ("clear_unique_id_on_error",)
DUPLICATE_MESSAGE = 'The unique_id ("{unique_id}") is already used for a different task ({task_id}).'
ERROR_MARKER = "sandbox-error"
# What Scale echoes back for parameters left out (reference §2, §1.3, seed responses).
GEOMETRY_DEFAULTS = {
    "box": {"objects_to_annotate": [], "min_height": 0, "min_width": 0, "can_rotate": False, "integer_pixels": False},
    "polygon": {"objects_to_annotate": [], "min_vertices": 1},
    "line": {"objects_to_annotate": [], "min_vertices": 1},
    "point": {"objects_to_annotate": [], "connections": []},
    "cuboid": {"objects_to_annotate": [], "min_height": 0, "min_width": 0},
    "ellipse": {"objects_to_annotate": []},
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def echo_params(task_type: str, payload: dict) -> dict:
    params = {k: v for k, v in payload.items() if k not in TASK_LEVEL and k not in DROPPED}
    if task_type == "segmentannotation":
        params.setdefault("attachment_type", "image")
        params.setdefault("allow_unlabeled", False)
        return params
    params.setdefault("attachment_type", "image" if "attachments" in payload else "video")
    params.setdefault("events_to_annotate", [])
    if task_type == "videoplaybackannotation":
        params.setdefault("with_labels", True)
        params.setdefault("frame_rate", 1)
    geometries = params.get("geometries")
    if isinstance(geometries, dict):
        params["geometries"] = {
            kind: ({**GEOMETRY_DEFAULTS.get(kind, {}), **spec} if isinstance(spec, dict) else spec)
            for kind, spec in geometries.items()
        }
    return params


def _place(task: SandboxTask) -> None:
    """Resolve the task's batch and project; a staging batch holds the task back."""
    account = task.account
    if task.batch:
        batch = SandboxBatch.objects.filter(account=account, name=task.batch).first()
        if batch is None:
            # Scale wants batches created first; the sandbox makes one on first use
            # so a workspace's default batch just works (docs/sandbox.md).
            batch, _ = SandboxBatch.objects.get_or_create(
                account=account,
                name=task.batch,
                defaults={"project": task.project, "status": SandboxBatch.Status.IN_PROGRESS},
            )
        if task.project and batch.project and task.project != batch.project:
            raise ApiError(400, f'batch "{batch.name}" belongs to project "{batch.project}", not "{task.project}"')
        task.project = task.project or batch.project
        if batch.status == SandboxBatch.Status.STAGING:
            task.due_at = None
    if task.project:
        SandboxProject.objects.get_or_create(account=account, name=task.project, defaults={"task_type": task.task_type})


def create(
    account: SandboxAccount,
    task_type: str,
    payload: dict,
    *,
    decision: Decision,
    callback_fail: float = 0.0,
    origin: str = "",
) -> SandboxTask:
    """Insert a validated task; 409 (ApiError) when its unique_id is taken. Atomic."""
    # null means "not set", as scale_rules judges it: the SDKs send unset arguments as null.
    payload = {key: value for key, value in payload.items() if value is not None}
    unique_id = payload.get("unique_id") or None
    task = SandboxTask(
        account=account,
        task_type=task_type,
        params=echo_params(task_type, payload),
        instruction=payload.get("instruction", ""),
        callback_url=payload.get("callback_url") or account.default_callback_url,
        metadata=payload.get("metadata", {}),
        project=payload.get("project", ""),
        batch=payload.get("batch", ""),
        unique_id=unique_id,
        tags=payload.get("tags", []),
        clear_unique_id_on_error=payload.get("clear_unique_id_on_error") is True,
        faults={
            **{
                name: True
                for name in ("task_error", "callback_duplicate", "callback_reorder")
                if getattr(decision, name)
            },
            **({"callback_fail_share": callback_fail} if callback_fail else {}),
        },
        origin=origin,
        due_at=due_at_from_now(),
    )
    try:
        with transaction.atomic():
            _place(task)
            task.save()
            if task.tags:
                SandboxTaskTag.objects.bulk_create(
                    [SandboxTaskTag(task=task, tag=tag) for tag in dict.fromkeys(task.tags)]
                )
    except IntegrityError:
        # The constraint, not a prior SELECT, decides: two concurrent creates with
        # one unique_id give one task and one 409.
        existing = SandboxTask.objects.filter(account=account, unique_id=unique_id).first() if unique_id else None
        if existing is None:
            raise
        raise ApiError(409, DUPLICATE_MESSAGE.format(unique_id=unique_id, task_id=existing.task_id)) from None
    if task.due_at is not None:
        schedule_finish(task)
    return task


def schedule_finish(task: SandboxTask) -> None:
    from . import jobs

    delay = max(0.0, (task.due_at - timezone.now()).total_seconds()) if task.due_at else 0.0
    try:
        jobs.finish_sandbox_task.apply_async(args=[task.task_id], countdown=delay)
    except Exception:  # a broker outage must not fail the create: reads and the sweep finish it
        log.warning("sandbox: could not schedule completion of %s", task.task_id, exc_info=True)


def has_error_marker(params: dict) -> bool:
    urls = [params.get("attachment"), *(params.get("attachments") or [])]
    return any(isinstance(u, str) and ERROR_MARKER in u for u in urls)


def error_response(params: dict) -> dict:
    urls = [u for u in [params.get("attachment"), *(params.get("attachments") or [])] if isinstance(u, str)]
    failing = [u for u in urls if ERROR_MARKER in u] or urls[:1]
    return {
        "error": "One or more attachments could not be downloaded.",
        "attachments": [{"statusCode": 404, "url": url} for url in failing],
    }


def finish(task: SandboxTask) -> bool:
    """Complete (or fail) a pending task that is due. Returns whether this call did it."""
    now = timezone.now()
    if task.status != SandboxTask.Status.PENDING or task.due_at is None or task.due_at > now:
        return False
    if task.faults.get("task_error") or has_error_marker(task.params):
        changes: dict = {"status": SandboxTask.Status.ERROR, "response": error_response(task.params)}
        if task.clear_unique_id_on_error:
            # Scale's clear_unique_id_on_error: the id may be used again at once.
            changes["unique_id"] = None
    else:
        changes = {
            "status": SandboxTask.Status.COMPLETED,
            "response": results.completed_response(task),
            "completed_at": now,
            "work_started": True,
        }
    with transaction.atomic():
        claimed = SandboxTask.objects.filter(pk=task.pk, status=SandboxTask.Status.PENDING).update(
            updated_at=now, **changes
        )
        if claimed != 1:
            return False
        for name, value in changes.items():
            setattr(task, name, value)
        task.updated_at = now
        callbacks.plan(task)
    return True


def finish_due(queryset, limit: int = 500) -> int:
    """Lazy completion: finish every due pending task of the queryset (reads call this)."""
    due = queryset.filter(status=SandboxTask.Status.PENDING, due_at__lte=timezone.now()).order_by("due_at")
    return sum(finish(task) for task in due.select_related("account")[:limit])


def cancel(task: SandboxTask, clear_unique_id: bool) -> SandboxTask:
    finish(task)  # a task past its due time has completed: canceling it must fail
    if task.status != SandboxTask.Status.PENDING:
        raise ApiError(400, f"Task {task.task_id} is already {task.status} and cannot be canceled.")
    now = timezone.now()
    changes: dict = {"status": SandboxTask.Status.CANCELED, "updated_at": now, "completed_at": now}
    if clear_unique_id:
        changes["unique_id"] = None
    claimed = SandboxTask.objects.filter(pk=task.pk, status=SandboxTask.Status.PENDING).update(**changes)
    task.refresh_from_db()
    if claimed != 1:
        raise ApiError(400, f"Task {task.task_id} is already {task.status} and cannot be canceled.")
    return task


def finalize(batch: SandboxBatch) -> SandboxBatch:
    if batch.status != SandboxBatch.Status.STAGING:
        return batch
    claimed = SandboxBatch.objects.filter(pk=batch.pk, status=SandboxBatch.Status.STAGING).update(
        status=SandboxBatch.Status.IN_PROGRESS
    )
    batch.refresh_from_db()
    if claimed:
        held = SandboxTask.objects.filter(
            account_id=batch.account_id, batch=batch.name, status=SandboxTask.Status.PENDING, due_at=None
        )
        held.update(due_at=due_at_from_now())
        for task in SandboxTask.objects.filter(account_id=batch.account_id, batch=batch.name, status="pending"):
            schedule_finish(task)
    return batch


def sweep() -> None:
    """Periodic safety net: finish due tasks and re-send callbacks whose job was lost."""
    finish_due(SandboxTask.objects.all())
    callbacks.resend_stuck(older_than=timedelta(seconds=10))
