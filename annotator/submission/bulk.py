"""Many tasks from one file: parse, dry-run every row, then create them as one group.

The bulk page and `manage.py submit_tasks` both call plan() then submit_plan(),
so what the dry run accepts is exactly what is created.

A row supplies the attachment(s) and may override metadata (a JSON `metadata`
column and/or `metadata.<key>` columns), tags, unique_id and priority; the rest
comes from the template. Every row's payload is checked by scale_rules.validate:
its errors (Scale would refuse the task) keep the row out; its warnings (inferred
rules) are listed in the dry run and never block.

Uploading the same file twice creates nothing the second time: a row without
its own unique_id gets one derived from the workspace, the file's SHA-256 and
the row number, and the (workspace, unique_id) constraint is the guard.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from annotator import inbound, scale_rules
from annotator.accounts.models import Workspace
from annotator.scale_client import DuplicateError, TemporaryError
from annotator.submission import pipeline
from annotator.tasks.models import UNIQUE_ID_MAX_LENGTH, SubmissionGroup, Task, TaskEvent

log = logging.getLogger(__name__)

ROW_FIELDS = ("attachment", "attachments", "metadata", "tags", "unique_id", "priority")
CHUNK = 500
# A dry run lists at most this many row errors (the counts are always complete).
MAX_LISTED_ERRORS = 500
# A warning repeated on many rows is listed once, with this many of its row numbers.
MAX_LISTED_WARNING_ROWS = 10


class FileError(ValueError):
    """The file as a whole cannot be read (not CSV/JSONL, bad header, too many rows)."""


@dataclass
class RowError:
    row: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"row {self.row}: {where}{self.message}"


@dataclass
class RowWarning:
    """One warning of scale_rules, with every row that has it (most rows of a file share
    the template's warnings, so they are listed once)."""

    path: str
    message: str
    rows: list[int] = field(default_factory=list)

    @property
    def listed_rows(self) -> str:
        shown = ", ".join(str(number) for number in self.rows[:MAX_LISTED_WARNING_ROWS])
        more = len(self.rows) - MAX_LISTED_WARNING_ROWS
        return f"{shown} and {more} more" if more > 0 else shown

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        plural = "s" if len(self.rows) > 1 else ""
        return f"warning: {where}{self.message} (row{plural} {self.listed_rows})"


@dataclass
class Row:
    number: int
    payload: dict | None = None  # kept only with plan(keep_payloads=True); else see Plan.payloads()
    unique_id: str = ""
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)  # shown, never blocking
    already: bool = False  # this unique_id is already a task of the workspace


@dataclass
class Plan:
    workspace: Workspace
    template: object  # composer.models.TaskTemplate
    sha256: str
    file_format: str
    rows: list[Row]
    batch: str = ""
    source: Source = b""  # read again by payloads(), so rows need not hold their payloads
    base: dict = field(default_factory=dict)

    def payloads(self) -> Iterator[tuple[Row, dict]]:
        """(row, payload) for every valid row, built again from the source, in order."""
        valid = {row.number: row for row in self.valid_rows}
        if not valid:
            return
        for number, fields in read_rows(self.source, self.file_format):
            row = valid.get(number)
            if row is None:
                continue
            payload = row.payload or _row_payload(self.base, fields, row.unique_id)[0]
            yield row, payload

    @property
    def valid_rows(self) -> list[Row]:
        return [r for r in self.rows if not r.errors and not r.already]

    @property
    def invalid_rows(self) -> list[Row]:
        return [r for r in self.rows if r.errors]

    @property
    def already_count(self) -> int:
        return sum(1 for r in self.rows if r.already and not r.errors)

    @property
    def errors(self) -> list[RowError]:
        found: list[RowError] = []
        for row in self.rows:
            found.extend(row.errors)
            if len(found) >= MAX_LISTED_ERRORS:
                return found[:MAX_LISTED_ERRORS]
        return found

    @property
    def error_count(self) -> int:
        return sum(len(r.errors) for r in self.rows)

    @property
    def warned_row_count(self) -> int:
        return sum(1 for r in self.rows if r.warnings and not r.errors)

    @property
    def warnings(self) -> list[RowWarning]:
        """Each distinct warning once, with the rows that have it, in first-seen order."""
        grouped: dict[tuple[str, str], RowWarning] = {}
        for row in self.rows:
            for warning in row.warnings:
                key = (warning.path, warning.message)
                if key not in grouped:
                    grouped[key] = RowWarning(warning.path, warning.message)
                grouped[key].rows.append(row.number)
        return list(grouped.values())


# --- reading ------------------------------------------------------------------


Source = bytes | Path  # a file's content, or the path of a kept upload


def _open(source: Source) -> BinaryIO:
    if isinstance(source, bytes):
        return io.BytesIO(source)
    try:
        return open(source, "rb")  # the callers close it
    except OSError:
        raise FileError("That upload is no longer here; please upload the file again.") from None


def source_sha256(source: Source) -> str:
    digest = hashlib.sha256()
    if isinstance(source, bytes):
        digest.update(source)
        return digest.hexdigest()
    with _open(source) as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def sniff_format(content: bytes, filename: str = "") -> str:
    """CSV, JSON Lines or a list of URLs, from the name or (failing that) the first bytes."""
    name = filename.lower()
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".csv", ".tsv")):
        return "csv"
    head = content.lstrip()[:1]
    if head == b"{":
        return "jsonl"
    first_line = content.lstrip().split(b"\n", 1)[0].strip()
    # Every URL form Scale fetches attachments from (scale_rules.ATTACHMENT_SCHEMES).
    if re.fullmatch(rb"(?i:https?|s3|gs|scaledata)://\S+", first_line):
        return "urls"
    return "csv"


def _sniff_source(source: Source, filename: str) -> str:
    with _open(source) as stream:
        return sniff_format(stream.read(64 * 1024), filename)


def read_rows(source: Source, file_format: str) -> Iterator[tuple[int, dict]]:
    """(row number, fields) for each data row, read as a stream: memory does not grow with the file.

    Raises FileError when the file as a whole cannot be read.
    """
    with _open(source) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        number = 0
        try:
            if file_format == "csv":
                yield from _read_csv(text)
                return
            for line in text:
                if not line.strip() or (file_format == "urls" and line.lstrip().startswith("#")):
                    continue
                number += 1
                yield number, _line_fields(line, file_format)
        except UnicodeDecodeError:
            raise FileError("The file is not UTF-8 text.") from None


def _line_fields(line: str, file_format: str) -> dict:
    if file_format == "urls":
        return {"attachment": line.strip()}
    try:
        value = inbound.loads(line, what="this line")
    except inbound.InputError as e:
        return {"__error__": str(e).replace("this line is not valid JSON", "not valid JSON")}
    if not isinstance(value, dict):
        return {"__error__": "each line must be a JSON object"}
    return value


def _read_csv(text: io.TextIOBase) -> Iterator[tuple[int, dict]]:
    reader = csv.DictReader(text)
    try:
        header = [h.strip() for h in reader.fieldnames or []]
    except csv.Error as e:
        raise FileError(f"The CSV header cannot be read: {_csv_problem(e)}") from None
    if not header:
        raise FileError("The CSV file is empty: its first line must name the columns (e.g. attachment).")
    unknown = [h for h in header if h not in ROW_FIELDS and not h.startswith("metadata.")]
    if unknown:
        raise FileError(
            f"Unknown column(s): {', '.join(unknown)}. Columns may be: {', '.join(ROW_FIELDS)}, metadata.<key>."
        )
    reader.fieldnames = header
    number = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            # The reader cannot resume inside a broken row, so the file is refused, naming the row.
            raise FileError(f"Row {number + 1} cannot be read: {_csv_problem(e)}") from None
        number += 1
        if None in record:
            yield number, {"__error__": "this row has more cells than the header has columns"}
            continue
        yield number, {k: v for k, v in record.items() if v not in (None, "")}


def _csv_problem(error: csv.Error) -> str:
    if "field larger than field limit" in str(error):
        return f"a cell is longer than {csv.field_size_limit():,} characters, the most one cell may hold"
    return str(error)


def _csv_list(value: object) -> object:
    # A cell holds a JSON array, or values separated by commas, spaces or newlines.
    if not isinstance(value, str):
        return value
    value = value.strip()
    if value.startswith("["):
        try:
            return inbound.loads(value)
        except inbound.InputError:
            return value  # validation then says what a list must hold
    return [part for part in re.split(r"[\s,]+", value) if part]


def row_overrides(fields: dict) -> tuple[dict, list[tuple[str, str]]]:
    """What a row changes in the template's payload, and the problems found reading it."""
    problems: list[tuple[str, str]] = []
    out: dict = {}
    metadata: dict = {}
    for key, value in fields.items():
        if key.startswith("metadata."):
            metadata[key.removeprefix("metadata.")] = value
        elif key == "metadata":
            parsed = value
            if isinstance(value, str):
                try:
                    parsed = inbound.loads(value, what="the metadata")
                except inbound.InputError as e:
                    problems.append(("metadata", f"must be a JSON object ({e})"))
                    continue
            if not isinstance(parsed, dict):
                problems.append(("metadata", "must be a JSON object"))
                continue
            metadata.update(parsed)
        elif key in ("tags", "attachments"):
            out[key] = _csv_list(value)
        elif key == "priority" and isinstance(value, str):
            try:
                out[key] = int(value.strip())
            except ValueError:
                problems.append(("priority", f"must be a whole number (10, 20 or 30), got {value!r}"))
        elif key in ROW_FIELDS:
            out[key] = value.strip() if isinstance(value, str) else value
        else:
            problems.append((key, f"is not something a row can set (allowed: {', '.join(ROW_FIELDS)})"))
    if metadata:
        out["metadata"] = metadata
    return out, problems


def build_row_payload(template_payload: dict, overrides: dict) -> dict:
    payload = copy.deepcopy(template_payload)
    for key, value in overrides.items():
        if key == "metadata" and isinstance(payload.get("metadata"), dict):
            payload["metadata"] = {**payload["metadata"], **value}
        else:
            payload[key] = value
    if "attachment" in overrides:
        payload.pop("attachments", None)
    if "attachments" in overrides and "attachment" not in overrides and payload.get("attachment_type") == "image":
        payload.pop("attachment", None)
    return payload


def derived_unique_id(workspace: Workspace, sha256: str, number: int) -> str:
    return f"annotator:{workspace.code.hex[:8]}:{sha256[:16]}:{number}"


# --- the dry run ----------------------------------------------------------------


def plan(
    workspace: Workspace,
    template,
    source: Source,
    filename: str = "",
    *,
    batch: str = "",
    file_format: str | None = None,
    keep_payloads: bool = False,
) -> Plan:
    """Read and validate every row as a stream; nothing is written. Raises FileError for an unreadable file.

    Rows keep their payloads only with keep_payloads (tests, small files): otherwise the memory a
    dry run takes does not grow with the file, and submit_plan() reads the source again.
    """
    sha256 = source_sha256(source)
    file_format = file_format or _sniff_source(source, filename)
    base = dict(template.payload or {})
    if batch:
        base["batch"] = batch
    # Validated as sent: the callback URL is part of every payload.
    base.setdefault("callback_url", workspace.callback_url)
    result = Plan(
        workspace=workspace,
        template=template,
        sha256=sha256,
        file_format=file_format,
        rows=[],
        batch=batch,
        source=source,
        base=base,
    )
    seen: dict[str, int] = {}
    for number, fields in read_rows(source, file_format):
        if number > settings.SUBMIT_MAX_ROWS:
            raise FileError(f"The file has more than {settings.SUBMIT_MAX_ROWS} rows; split it.")
        row = Row(number=number)
        result.rows.append(row)
        if "__error__" in fields:
            row.errors.append(RowError(number, "", fields["__error__"]))
            continue
        derived = derived_unique_id(workspace, sha256, number)
        payload, problems = _row_payload(base, fields, derived)
        row.errors.extend(RowError(number, path, message) for path, message in problems)
        row.unique_id = payload["unique_id"]
        if keep_payloads:
            row.payload = payload
        for finding in scale_rules.validate(template.task_type, payload):
            target = row.errors if finding.is_error else row.warnings
            target.append(RowError(number, finding.path, finding.message))
        if len(row.unique_id) > UNIQUE_ID_MAX_LENGTH:
            row.errors.append(
                RowError(
                    number, "unique_id", f"is longer than the {UNIQUE_ID_MAX_LENGTH} characters this dashboard stores"
                )
            )
        if row.unique_id in seen:
            row.errors.append(RowError(number, "unique_id", f"is the same as row {seen[row.unique_id]}'s"))
        else:
            seen[row.unique_id] = number
    if not result.rows:
        raise FileError("The file has no rows.")
    _mark_existing(workspace, result.rows)
    return result


def _row_payload(base: dict, fields: dict, derived_id: str) -> tuple[dict, list[tuple[str, str]]]:
    overrides, problems = row_overrides(fields)
    payload = build_row_payload(base, overrides)
    payload["unique_id"] = str(payload.get("unique_id") or derived_id)
    return payload, problems


def _mark_existing(workspace: Workspace, rows: list[Row]) -> None:
    by_id = {r.unique_id: r for r in rows if r.unique_id}
    ids = list(by_id)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for uid in Task.objects.filter(workspace=workspace, unique_id__in=chunk).values_list("unique_id", flat=True):
            by_id[uid].already = True


# --- keeping the file between the dry run and the go-ahead -----------------------


def _uploads_dir() -> Path:
    return Path(settings.DATA_DIR) / "uploads"


def upload_path(workspace: Workspace, sha256: str) -> Path:
    if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise FileError("That upload is unknown; please upload the file again.")
    return _uploads_dir() / workspace.code.hex / sha256


def keep_upload(workspace: Workspace, upload) -> str:
    """Keep an upload (bytes, or a Django UploadedFile read in chunks) for the go-ahead; its SHA-256.

    Written to a temporary name and renamed, so a half-written file is never read. Every call
    also deletes uploads older than SUBMIT_UPLOAD_TTL: a dry run that is never confirmed does
    not stay on disk.
    """
    expire_uploads()
    folder = _uploads_dir() / workspace.code.hex
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    partial = folder / f".partial-{os.getpid()}-{time.monotonic_ns()}"
    try:
        with open(partial, "wb") as out:
            for chunk in [upload] if isinstance(upload, bytes) else upload.chunks():
                digest.update(chunk)
                out.write(chunk)
        sha256 = digest.hexdigest()
        os.replace(partial, folder / sha256)  # also refreshes the age of a file uploaded again
    finally:
        partial.unlink(missing_ok=True)
    return sha256


def forget_upload(workspace: Workspace, sha256: str) -> None:
    upload_path(workspace, sha256).unlink(missing_ok=True)


def load_upload(workspace: Workspace, sha256: str) -> Path:
    """The kept upload's path (read as a stream by plan()); FileError when it is gone or expired."""
    expire_uploads()
    path = upload_path(workspace, sha256)
    if not path.is_file():
        raise FileError("That upload is no longer here (uploads are kept for a day); please upload the file again.")
    return path


def expire_uploads(now: float | None = None) -> int:
    """Delete kept uploads (and abandoned partial writes) older than SUBMIT_UPLOAD_TTL; how many."""
    limit = (now or time.time()) - settings.SUBMIT_UPLOAD_TTL
    removed = 0
    root = _uploads_dir()
    if not root.is_dir():
        return 0
    for folder in os.scandir(root):
        if not folder.is_dir(follow_symlinks=False):
            continue
        for entry in os.scandir(folder.path):
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < limit:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                pass  # another process expired it first
    return removed


# --- creating -----------------------------------------------------------------


class NothingToSubmit(Exception):
    pass


def submit_plan(the_plan: Plan, user, *, name: str = "", finalize_batch: bool = False) -> SubmissionGroup:
    """Create the valid rows as one group in one transaction; their jobs are enqueued after commit."""
    rows = the_plan.valid_rows
    if not rows:
        raise NothingToSubmit("No row can be submitted: every row is invalid or already submitted.")
    template = the_plan.template
    from annotator.composer.models import TemplateUse

    is_stored = isinstance(template, TemplateUse.template_model())
    version = template.versions.order_by("-number").values_list("number", flat=True).first() if is_stored else None
    with transaction.atomic():
        group = SubmissionGroup.objects.create(
            workspace=the_plan.workspace,
            created_by=user,
            name=name or f"{template.name} · {timezone.localtime():%Y-%m-%d %H:%M}",
            template_name=template.name,
            source_sha256=the_plan.sha256,
            total=len(rows),
            scale_batch=the_plan.batch,
            finalize_batch=bool(the_plan.batch and finalize_batch),
        )
        for chunk in _chunks(the_plan.payloads(), CHUNK):
            tasks = [pipeline.new_task(the_plan.workspace, user, template.task_type, p, group) for _, p in chunk]
            Task.objects.bulk_create(tasks)
            if tasks[0].pk is None:  # a backend that does not return ids from bulk_create
                ids = dict(
                    Task.objects.filter(group=group, unique_id__in=[t.unique_id for t in tasks]).values_list(
                        "unique_id", "id"
                    )
                )
                for t in tasks:
                    t.pk = t.id = ids[t.unique_id]
            TaskEvent.objects.bulk_create(
                TaskEvent(task=t, kind=TaskEvent.Kind.COMPOSED, message=f"Created from {group.name}, row {r.number}")
                for t, (r, _) in zip(tasks, chunk, strict=True)
            )
            # The Library counts the tasks made from each template (and from which version).
            if is_stored:
                TemplateUse.objects.bulk_create(
                    TemplateUse(task=t, template_code=template.code, version=version) for t in tasks
                )
        from annotator.submission import jobs

        # One message that publishes the rows' messages: the web request stays
        # short however big the file (the rows are already safe in the database).
        jobs.enqueue_group.delay_on_commit(group.id)
    return group


def _chunks(items: Iterator[tuple[Row, dict]], size: int) -> Iterator[list[tuple[Row, dict]]]:
    chunk: list[tuple[Row, dict]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def enqueue_group(group_id: int) -> int:
    """Create the Scale batch if asked, then hand every queued row of the group to the submitter."""
    from annotator.submission import jobs

    group = SubmissionGroup.objects.select_related("workspace").get(id=group_id)
    if group.scale_batch:
        ensure_batch(group)
    ids = Task.objects.filter(group=group, state=Task.State.QUEUED).values_list("id", flat=True)
    count = 0
    for task_id in ids.iterator(chunk_size=CHUNK):
        jobs.submit_to_scale.delay(task_id)
        count += 1
    return count


def ensure_batch(group: SubmissionGroup) -> None:
    payload_project = str((group.tasks.values_list("payload__project", flat=True).first()) or "")
    project = payload_project or group.workspace.default_project
    client = pipeline.client_for(group.workspace)
    try:
        client.create_batch(project, group.scale_batch, callback=group.workspace.callback_url)
    except DuplicateError:
        pass  # made by an earlier run of this job, or by hand: either way it exists
    except TemporaryError:
        raise  # the job retries
    except Exception as e:
        # The rows still go out; Scale will refuse them with its own message if the batch is unusable.
        log.warning("could not create batch %s: %s", group.scale_batch, e)


def maybe_finalize(group_id: int) -> None:
    """Called after each row of a group ends: the last one finalizes the group's Scale batch."""
    group = SubmissionGroup.objects.filter(id=group_id, finalize_batch=True, batch_finalized_at__isnull=True).first()
    if group is None:
        return
    if Task.objects.filter(group_id=group_id, state__in=[Task.State.QUEUED, Task.State.SUBMITTING]).exists():
        return
    from annotator.submission import jobs

    jobs.finalize_group_batch.delay_on_commit(group_id)


def finalize_batch(group_id: int) -> bool:
    # Claim first, so several "last rows" finishing together finalize once.
    now = timezone.now()
    claimed = SubmissionGroup.objects.filter(id=group_id, batch_finalized_at__isnull=True, finalize_batch=True).update(
        batch_finalized_at=now
    )
    if claimed != 1:
        return False
    group = SubmissionGroup.objects.select_related("workspace").get(id=group_id)
    try:
        pipeline.client_for(group.workspace).finalize_batch(group.scale_batch)
    except TemporaryError:
        SubmissionGroup.objects.filter(id=group_id).update(batch_finalized_at=None)
        raise
    return True


# --- progress -----------------------------------------------------------------


@dataclass
class Progress:
    total: int
    queued: int
    submitting: int
    submitted: int
    failed: int
    rate: float  # rows finished per second over the last RATE_WINDOW
    eta_seconds: float | None
    elapsed_seconds: float

    @property
    def finished(self) -> int:
        return self.submitted + self.failed

    @property
    def done(self) -> bool:
        return self.queued == 0 and self.submitting == 0

    @property
    def percent(self) -> int:
        return int(100 * self.finished / self.total) if self.total else 100


RATE_WINDOW = 10


def progress(group: SubmissionGroup) -> Progress:
    rows = Task.objects.filter(group=group)
    counts = dict.fromkeys(Task.State.values, 0)
    for state, n in rows.values_list("state").annotate(n=Count("id")).values_list("state", "n"):
        counts[state] = n
    total = sum(counts.values())
    now = timezone.now()
    recent = rows.filter(
        state__in=[Task.State.SUBMITTED, Task.State.FAILED], updated_at__gte=now - timedelta(seconds=RATE_WINDOW)
    )
    window = min(RATE_WINDOW, max(1.0, (now - group.created_at).total_seconds()))
    rate = recent.count() / window
    remaining = counts[Task.State.QUEUED] + counts[Task.State.SUBMITTING]
    eta = remaining / rate if rate > 0 and remaining else (0.0 if not remaining else None)
    span = rows.filter(state=Task.State.SUBMITTED).aggregate(first=Min("submitted_at"), last=Max("submitted_at"))
    end = span["last"] if not remaining and span["last"] else now
    return Progress(
        total=total,
        queued=counts[Task.State.QUEUED],
        submitting=counts[Task.State.SUBMITTING],
        submitted=counts[Task.State.SUBMITTED],
        failed=counts[Task.State.FAILED],
        rate=rate,
        eta_seconds=eta,
        elapsed_seconds=max(0.0, (end - group.created_at).total_seconds()),
    )
