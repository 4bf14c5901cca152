"""The Django side of exports: which tasks, rows to records, the job's body, the email.

The converters (archive.py and friends) know nothing of the database; this
module feeds them one task at a time from a server-side iteration, so an
export of any size holds one chunk of rows in memory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from annotator.tasks.models import SubmissionGroup, Task, TaskType

from . import FORMATS
from .archive import write_export
from .models import Export
from .records import TaskRecord

log = logging.getLogger(__name__)

CHUNK = 500
PROGRESS_EVERY = 0.5  # seconds between progress writes
# A running export whose heartbeat is older than this lost its worker: it may be restarted.
STALE_AFTER = timedelta(minutes=5)


def selection_tasks(workspace, selection: dict) -> QuerySet[Task]:
    from annotator.tasks.views import Filters, filtered

    return filtered(workspace, Filters.from_params(selection)).order_by("id")


def describe(workspace, selection: dict) -> str:
    """A title for an export, from its selection."""
    from annotator.tasks.views import Filters

    f = Filters.from_params(selection)
    parts = []
    if f.run:
        group = SubmissionGroup.objects.filter(workspace=workspace, code=f.run).first()
        parts.append(f"bulk run “{group.name}”" if group else "a bulk run")
    if f.project:
        parts.append(f"project {f.project}")
    if f.batch:
        parts.append(f"batch {f.batch}")
    if f.type:
        # People know the types by their names in the composer, not Scale's keys.
        parts.append(str(dict(TaskType.choices).get(f.type, f.type)).lower() + " tasks")
    for key in ("status", "tag"):
        if getattr(f, key):
            parts.append(f"{key} {getattr(f, key)}")
    if f.q:
        parts.append(f"matching “{f.q}”")
    if f.since or f.until:
        parts.append(f"created {f.since or '…'} to {f.until or '…'}")
    return "Tasks: " + (", ".join(parts) if parts else "all tasks")


def suggested_formats(qs: QuerySet[Task]) -> list[str]:
    types = set(qs.order_by().values_list("task_type", flat=True).distinct()[:3])
    out = ["scale"]
    if "segmentannotation" in types:
        out += ["coco", "segmentation_mask"]
    if types & {"videoannotation", "videoplaybackannotation"}:
        out += ["mot", "cvat_video", "coco_video"]
    return out


def record_of(task: Task, media_root: Path) -> TaskRecord:
    files = {f.name: media_root / f.path for f in task.result_files.all() if f.path}
    links = {name: settings.SITE_URL + reverse("task_result_file", args=[task.code, name]) for name in files}
    return TaskRecord(
        code=task.code.hex,
        task_type=task.task_type,
        unique_id=task.unique_id,
        payload=task.payload if isinstance(task.payload, dict) else {},
        response=task.response if isinstance(task.response, dict) else None,
        status=task.display_status,
        scale_task_id=task.scale_task_id,
        name=task.display_name,
        info={
            "project": task.project,
            "batch": task.batch,
            "tags": task.tags,
            "created_at": task.created_at.isoformat(),
            "scale_updated_at": task.scale_updated_at.isoformat() if task.scale_updated_at else None,
            "page": settings.SITE_URL + reverse("task_detail", args=[task.code]),
        },
        files=files,
        links=links,
    )


def records(qs: QuerySet[Task]) -> Iterator[TaskRecord]:
    media_root = Path(settings.MEDIA_ROOT)
    for task in qs.prefetch_related("result_files").iterator(chunk_size=CHUNK):
        yield record_of(task, media_root)


def create(workspace, user, selection: dict, formats: list[str], include_images: bool = True) -> Export:
    from annotator.exports import jobs

    formats = [f for f in FORMATS if f in formats]
    export = Export.objects.create(
        workspace=workspace,
        created_by=user,
        title=describe(workspace, selection)[:300],
        selection=selection,
        formats=formats,
        include_images=include_images,
        total=selection_tasks(workspace, selection).count(),
    )
    transaction.on_commit(lambda: jobs.run_export.delay(export.id))
    return export


def claim(export_id: int) -> Export | None:
    """Take the export for this worker: queued, or running with a dead worker."""
    now = timezone.now()
    claimed = (
        Export.objects.filter(id=export_id)
        .filter(Q(status=Export.Status.QUEUED) | Q(status=Export.Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER))
        .update(status=Export.Status.RUNNING, started_at=now, heartbeat_at=now, done=0, error="")
    )
    return Export.objects.select_related("workspace", "created_by").get(id=export_id) if claimed else None


def folder() -> Path:
    path = Path(settings.MEDIA_ROOT) / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run(export_id: int) -> str:
    export = claim(export_id)
    if export is None:
        return "not claimed"
    qs = selection_tasks(export.workspace, export.selection)
    total = qs.count()
    Export.objects.filter(id=export.id).update(total=total)
    last = [time.monotonic()]

    def progress(n: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY or n == total:
            last[0] = now
            Export.objects.filter(id=export.id).update(done=n, heartbeat_at=timezone.now())

    target = folder() / f"{export.code.hex}.zip"
    try:
        report = write_export(
            records(qs),
            export.formats,
            target,
            title=f"{export.title}\nExported {timezone.now():%Y-%m-%d %H:%M} UTC by annotator",
            include_images=export.include_images,
            progress=progress,
        )
    except Exception as e:
        log.exception("export %s failed", export.id)
        Export.objects.filter(id=export.id).update(
            status=Export.Status.FAILED, error=f"{type(e).__name__}: {e}"[:2000], finished_at=timezone.now()
        )
        return "failed"
    size = target.stat().st_size
    Export.objects.filter(id=export.id).update(
        status=Export.Status.DONE,
        done=report.tasks,
        total=max(total, report.tasks),
        path=f"exports/{target.name}",
        size=size,
        report=report.as_dict(),
        finished_at=timezone.now(),
    )
    export.refresh_from_db()
    if is_large(export):
        from annotator.exports import jobs

        jobs.send_export_email.delay(export.id)
    return "done"


def is_large(export: Export) -> bool:
    return export.total >= settings.EXPORT_EMAIL_TASKS or export.size >= settings.EXPORT_EMAIL_BYTES


def send_ready_email(export_id: int) -> str:
    from annotator.tasks.emails import make_message

    export = Export.objects.select_related("created_by").get(id=export_id)
    user = export.created_by
    if user is None or not user.email:
        return "no address"
    # Claimed first, so a redelivered job never sends it twice; released if SMTP fails.
    if not Export.objects.filter(id=export.id, emailed_at__isnull=True).update(emailed_at=timezone.now()):
        return "already sent"
    url = settings.SITE_URL + reverse("export_detail", args=[export.code])
    try:
        make_message("export_ready", user.email, {"export": export, "url": url, "user": user}).send()
    except Exception:
        Export.objects.filter(id=export.id).update(emailed_at=None)
        raise
    return "sent"


def delete_old(now=None) -> int:
    """Delete the zips of exports older than EXPORT_KEEP_DAYS; the rows stay, marked expired."""
    now = now or timezone.now()
    old = Export.objects.filter(
        status=Export.Status.DONE, finished_at__lt=now - timedelta(days=settings.EXPORT_KEEP_DAYS)
    ).exclude(path="")
    media = Path(settings.MEDIA_ROOT).resolve()
    count = 0
    for export in old.iterator():
        path = (media / export.path).resolve()
        if path.is_relative_to(media):
            path.unlink(missing_ok=True)
        Export.objects.filter(id=export.id).update(path="", size=0)
        count += 1
    return count
