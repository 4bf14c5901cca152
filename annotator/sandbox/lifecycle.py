"""A sandbox task's life: created pending, then completed (or error), or canceled.

Completion is reached three ways, all through `finish()`, which claims the row with a
conditional UPDATE so it happens once: a job scheduled at creation, a read of a task
past its due time, and the periodic sweep. So the sandbox works with or without a
Celery worker.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator import scale_rules

from . import callbacks, results
from .faults import Decision
from .models import SandboxAccount, SandboxBatch, SandboxProject, SandboxTask, SandboxTaskTag, due_at_from_now, iso

log = logging.getLogger(__name__)

# Parameters Scale keeps on the task itself; everything else is echoed in `params`.
TASK_LEVEL = ("project", "batch", "instruction", "callback_url", "metadata", "unique_id", "tags")
DROPPED = ("clear_unique_id_on_error",)
DUPLICATE_MESSAGE = 'The unique_id ("{unique_id}") is already used for a different task ({task_id}).'
ERROR_MARKER = "sandbox-error"
MAX_TAG_LENGTH = SandboxTaskTag._meta.get_field("tag").max_length
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


def resolve(account: SandboxAccount, task_type: str, payload: dict) -> dict:
    """The payload as Scale treats it: nulls unset, its batch and project known, project params filled in.

    A batch or project must exist before a task names it (Scale wants them created
    first); a 400 says which. Project-level params fill what the task leaves out
    (SDK `update_project`: "set on future tasks ... if they are not set in the task request").
    """
    # null means "not set" (the SDK sends unset optionals as null).
    payload = {k: v for k, v in payload.items() if v is not None}
    batch_name, project_name = payload.get("batch"), payload.get("project")
    batch = None
    if isinstance(batch_name, str) and batch_name:
        batch = SandboxBatch.objects.filter(account=account, name=batch_name).first()
        if batch is None:
            raise ApiError(400, f'batch: no batch named "{batch_name}" exists; create it first (POST /v1/batches).')
        if isinstance(project_name, str) and project_name and project_name != batch.project:
            raise ApiError(
                400, f'batch: batch "{batch.name}" belongs to project "{batch.project}", not "{project_name}".'
            )
        project_name = batch.project
    project = None
    if isinstance(project_name, str) and project_name:
        project = SandboxProject.objects.filter(account=account, name=project_name).first()
        if project is None:
            raise ApiError(
                400, f'project: no project named "{project_name}" exists; create it first (POST /v1/projects).'
            )
    if project is not None and project.task_type in ("", task_type):
        for key, value in project.defaults().items():
            if key not in payload and value is not None:
                payload[key] = value
    return payload


def _hold_if_staging(task: SandboxTask) -> None:
    """A task in a batch that is still staging waits for the batch's finalize."""
    if task.batch:
        batch = SandboxBatch.objects.filter(account=task.account, name=task.batch).first()
        if batch is not None:
            task.project = task.project or batch.project
            if batch.status == SandboxBatch.Status.STAGING:
                task.due_at = None


def completes_at_once(account: SandboxAccount) -> bool:
    return settings.SANDBOX_INSTANT_TEST_KEYS and account.is_test_key


def create(
    account: SandboxAccount,
    task_type: str,
    payload: dict,
    *,
    decision: Decision,
    callback_fail: float = 0.0,
    origin: str = "",
) -> SandboxTask:
    """Insert a validated, resolved task; 409 (ApiError) when its unique_id is taken. Atomic."""
    # null means "not set", as scale_rules judges it: the SDKs send unset arguments as null
    # (resolve() drops them too; direct callers such as tests may not have resolved).
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
        tags=payload.get("tags"),
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
            _hold_if_staging(task)
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
        if completes_at_once(account):
            # Scale's test keys: the task is done before the create is answered.
            task.due_at = timezone.now()
            SandboxTask.objects.filter(pk=task.pk).update(due_at=task.due_at)
            finish(task)
        else:
            schedule_finish(task)
    return task


def schedule_finish(task: SandboxTask) -> None:
    from . import jobs

    delay = max(0.0, (task.due_at - timezone.now()).total_seconds()) if task.due_at else 0.0
    try:
        jobs.finish_sandbox_task.apply_async(args=[task.task_id], countdown=delay)
    except Exception:  # a broker outage must not fail the create: reads and the sweep finish it
        log.warning("sandbox: could not schedule completion of %s", task.task_id, exc_info=True)


def _attachment_urls(params: dict) -> list[str]:
    return [u for u in [params.get("attachment"), *(params.get("attachments") or [])] if isinstance(u, str)]


def has_error_marker(params: dict) -> bool:
    return any(ERROR_MARKER in u for u in _attachment_urls(params))


def undownloadable(task: SandboxTask) -> list[str]:
    """Attachments Scale could not fetch: the error marker, or a scaledata:// file the account lacks."""
    from . import files

    return [
        u
        for u in _attachment_urls(task.params)
        if ERROR_MARKER in u or (files.file_id_of(u) and files.owned_file(task.account_id, u) is None)
    ]


def error_response(params: dict, failing: list[str] | None = None) -> dict:
    urls = _attachment_urls(params)
    failing = failing or [u for u in urls if ERROR_MARKER in u] or urls[:1]
    return {
        "error": "One or more attachments could not be downloaded.",
        "attachments": [{"statusCode": 404, "url": url} for url in failing],
    }


def finish(task: SandboxTask) -> bool:
    """Complete (or fail) a pending task that is due. Returns whether this call did it."""
    now = timezone.now()
    if task.status != SandboxTask.Status.PENDING or task.due_at is None or task.due_at > now:
        return False
    failing = undownloadable(task)
    if task.faults.get("task_error") or failing:
        changes: dict = {"status": SandboxTask.Status.ERROR, "response": error_response(task.params, failing)}
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


# --- edits after creation (the SDK's task methods) ---------------------------------


def _field_errors(task_type: str, field: str, value: object) -> list[str]:
    """scale_rules' verdict on one task-level field, as it would be at create."""
    errors = scale_rules.errors(scale_rules.validate(task_type, {field: value}))
    return [str(e) for e in errors if e.path == field or e.path.startswith((f"{field}.", f"{field}["))]


def tag_length_errors(tags: object) -> list[str]:
    """Tags longer than the sandbox stores (Scale documents no limit): a 400, never a database error."""
    if not isinstance(tags, list):
        return []
    return [
        f"tags[{i}]: at most {MAX_TAG_LENGTH} characters in the sandbox"
        for i, tag in enumerate(tags)
        if isinstance(tag, str) and len(tag) > MAX_TAG_LENGTH
    ]


def set_metadata(task: SandboxTask, metadata: object) -> SandboxTask:
    if not isinstance(metadata, dict):
        raise ApiError(400, "metadata: the request body must be a JSON object (the new metadata).")
    if errors := _field_errors(task.task_type, "metadata", metadata):
        raise ApiError(400, "; ".join(errors))
    SandboxTask.objects.filter(pk=task.pk).update(metadata=metadata, updated_at=timezone.now())
    task.refresh_from_db()
    return task


def change_tags(task: SandboxTask, tags: object, how: str) -> SandboxTask:
    """how: "set" replaces the list, "add" appends the missing ones, "delete" removes the given ones."""
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise ApiError(400, "tags: the request body must be a JSON array of non-empty strings.")
    with transaction.atomic():
        row = SandboxTask.objects.select_for_update().get(pk=task.pk)
        current = list(row.tags or [])
        if how == "set":
            new = list(dict.fromkeys(tags))
        elif how == "add":
            new = current + [t for t in dict.fromkeys(tags) if t not in current]
        else:
            new = [t for t in current if t not in set(tags)]
        if errors := _field_errors(row.task_type, "tags", new) + tag_length_errors(new):
            raise ApiError(400, "; ".join(errors))
        row.tags = new
        row.updated_at = timezone.now()
        row.save(update_fields=["tags", "updated_at"])
        SandboxTaskTag.objects.filter(task=row).delete()
        SandboxTaskTag.objects.bulk_create([SandboxTaskTag(task=row, tag=tag) for tag in new])
    return row


def set_unique_id(task: SandboxTask, unique_id: object) -> SandboxTask:
    if not isinstance(unique_id, str) or not unique_id.strip():
        raise ApiError(400, "unique_id: must be a non-empty string (DELETE /task/{id}/unique_id clears it).")
    if len(unique_id) > scale_rules.MAX_UNIQUE_ID_LENGTH:
        # What the sandbox stores (Scale documents no limit): a clear 400, never a database error.
        raise ApiError(400, f"unique_id: at most {scale_rules.MAX_UNIQUE_ID_LENGTH:,} characters in the sandbox")
    if errors := _field_errors(task.task_type, "unique_id", unique_id):
        raise ApiError(400, "; ".join(errors))
    try:
        with transaction.atomic():
            SandboxTask.objects.filter(pk=task.pk).update(unique_id=unique_id, updated_at=timezone.now())
    except IntegrityError:
        existing = SandboxTask.objects.filter(account_id=task.account_id, unique_id=unique_id).first()
        if existing is None:
            raise
        raise ApiError(409, DUPLICATE_MESSAGE.format(unique_id=unique_id, task_id=existing.task_id)) from None
    task.refresh_from_db()
    return task


def clear_unique_id(task: SandboxTask) -> SandboxTask:
    SandboxTask.objects.filter(pk=task.pk).update(unique_id=None, updated_at=timezone.now())
    task.refresh_from_db()
    return task


def audit(task: SandboxTask, accepted: object, comments: object) -> SandboxTask:
    """A customer audit of a completed task; Scale calls back on the audit status change."""
    if not isinstance(accepted, bool):
        raise ApiError(400, "accepted: must be true or false.")
    if comments is not None and not isinstance(comments, str):
        raise ApiError(400, "comments: must be a string.")
    finish(task)  # a task past its due time has completed and may be audited
    if task.status != SandboxTask.Status.COMPLETED:
        raise ApiError(400, f"Task {task.task_id} is {task.status}; only completed tasks can be audited.")
    now = timezone.now()
    result = "accepted" if accepted else "rejected"
    entry = {
        "audited_by": "api",
        "audited_at": iso(now),
        "audit_time_secs": 0,
        "audit_result": result,
        "audit_source": "customer",
    }
    if comments:
        entry["comments"] = comments
    with transaction.atomic():
        row = SandboxTask.objects.select_for_update().select_related("account").get(pk=task.pk)
        row.audits = [*row.audits, entry]
        row.review_status = result
        row.updated_at = now
        row.save(update_fields=["audits", "review_status", "updated_at"])
        callbacks.plan_audit(row)
    return row
