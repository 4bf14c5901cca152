from __future__ import annotations

import base64
import csv
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from annotator import inbound, safe_files
from annotator.accounts.access import get_for_user, require_workspace
from annotator.tasks import callbacks, results
from annotator.tasks.models import CallbackEvent, ResultFile, SubmissionAttempt, Task, TaskEvent, TaskType
from annotator.tasks.reviews import COMMENT_MAX_LENGTH

log = logging.getLogger(__name__)

PAGE_SIZE = 50
# Shown in the status filter and the counts, in lifecycle order.
DISPLAY_STATUSES = ["queued", "submitting", "failed", "submitted", "pending", "completed", "error", "canceled"]
SORTS = {
    "created_desc": ("created_at", True),
    "created_asc": ("created_at", False),
    "updated_desc": ("updated_at", True),
    "updated_asc": ("updated_at", False),
}
COUNTS_TTL = 5  # seconds: counts refresh with the poll, not with every request
COUNT_CAP = 10_000
HEX24 = re.compile(r"[0-9a-fA-F]{24}")
RUN_CODE = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")


# --- Callbacks --------------------------------------------------------------


@csrf_exempt
@require_POST
def callback_receive(request: HttpRequest, token: str) -> HttpResponse:
    # Authenticate before reading the body: forged requests cost one indexed lookup.
    # META, not request.headers: that would parse every header name of every callback.
    workspace_id = callbacks.authenticate(token, request.META.get("HTTP_SCALE_CALLBACK_AUTH"))
    if workspace_id is None:
        return JsonResponse({"error": "not authorised"}, status=401)
    try:
        body = request.body
    except RequestDataTooBig:
        return JsonResponse({"error": "body larger than 10 MB"}, status=413)
    try:
        parsed = callbacks.parse(body)
    except callbacks.BadCallback as e:
        return JsonResponse({"error": str(e)}, status=400)
    event_id = callbacks.store(workspace_id, body, parsed)
    if event_id is not None:
        callbacks.enqueue(event_id)
    # 200 for duplicates and unknown tasks too: Scale stops retrying. The two
    # answers are constant bytes: no JSON encoding per callback.
    return HttpResponse(_DUPLICATE if event_id is None else _STORED, content_type="application/json")


_STORED = b'{"ok": true, "duplicate": false}'
_DUPLICATE = b'{"ok": true, "duplicate": true}'


# --- The status table -------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    status: str = ""
    type: str = ""
    project: str = ""
    batch: str = ""
    tag: str = ""
    since: date | None = None
    until: date | None = None
    q: str = ""
    sort: str = "created_desc"
    cursor: str = ""
    run: str = ""  # a bulk run (submission group) code

    @classmethod
    def from_request(cls, request: HttpRequest) -> Filters:
        return cls.from_params(request.GET)

    @classmethod
    def from_params(cls, g) -> Filters:

        def text(name: str) -> str:
            return g.get(name, "").strip()[:200]

        def day(name: str) -> date | None:
            try:
                return parse_date(text(name))
            except ValueError:
                return None

        return cls(
            status=text("status") if text("status") in DISPLAY_STATUSES else "",
            type=text("type") if text("type") in TaskType.values else "",
            project=text("project"),
            batch=text("batch"),
            tag=text("tag"),
            since=day("since"),
            until=day("until"),
            q=text("q"),
            sort=text("sort") if text("sort") in SORTS else "created_desc",
            cursor=g.get("cursor", "")[:200],
            run=text("run") if RUN_CODE.fullmatch(text("run")) else "",
        )

    def params(self, **changes) -> dict[str, str]:
        f = replace(self, **changes)
        out = {
            "status": f.status,
            "type": f.type,
            "project": f.project,
            "batch": f.batch,
            "tag": f.tag,
            "since": f.since.isoformat() if f.since else "",
            "until": f.until.isoformat() if f.until else "",
            "q": f.q,
            "sort": "" if f.sort == "created_desc" else f.sort,
            "cursor": f.cursor,
            "run": f.run,
        }
        return {k: v for k, v in out.items() if v}

    def query(self, **changes) -> str:
        return urlencode(self.params(**changes))

    @property
    def active(self) -> bool:
        return bool(self.params(cursor="", sort="created_desc"))


def status_q(status: str) -> Q:
    """A display status as a filter on (state, scale_status), matching the indexes."""
    if status in ("pending", "completed", "error", "canceled"):
        return Q(state=Task.State.SUBMITTED, scale_status=status)
    if status == "submitted":
        return Q(state=Task.State.SUBMITTED, scale_status="")
    return Q(state=status)


def prefix_q(field: str, prefix: str) -> Q:
    q = Q(**{f"{field}__startswith": prefix})
    if connection.vendor == "postgresql":
        # LIKE 'x%' cannot use a btree under the C.UTF-8 / ICU collations; a
        # range on the same column can (the LIKE keeps the answer exact).
        q &= Q(**{f"{field}__gte": prefix, f"{field}__lt": prefix + "\U0010ffff"})
    return q


def search_q(q: str) -> Q:
    """Index-friendly by the shape of the query: ids exactly, unique_id by prefix;
    only URL-like text falls back to scanning the attachment column."""
    if q.startswith(("http://", "https://")):
        return Q(attachment__startswith=q)
    if HEX24.fullmatch(q):
        return Q(scale_task_id=q.lower()) | Q(unique_id=q)
    if "/" in q or "." in q:
        return Q(attachment__contains=q) | prefix_q("unique_id", q)
    return prefix_q("unique_id", q)


def tag_q(tag: str) -> Q:
    if connection.vendor == "postgresql":
        return Q(tags__contains=[tag])
    # SQLite has no JSON containment: match the encoded element in the JSON text.
    return Q(tags_text__contains=json.dumps(tag))


def filtered(workspace, f: Filters) -> QuerySet[Task]:
    qs = Task.objects.filter(workspace=workspace)
    if f.status:
        qs = qs.filter(status_q(f.status))
    if f.type:
        qs = qs.filter(task_type=f.type)
    if f.project:
        qs = qs.filter(project=f.project)
    if f.batch:
        qs = qs.filter(batch=f.batch)
    if f.tag:
        if connection.vendor != "postgresql":
            qs = qs.annotate(tags_text=Cast("tags", TextField()))
        qs = qs.filter(tag_q(f.tag))
    tz = timezone.get_current_timezone()
    if f.since:
        qs = qs.filter(created_at__gte=datetime.combine(f.since, time.min, tz))
    if f.until and f.until < date.max:  # "until 9999-12-31" bounds nothing (and the next day does not exist)
        qs = qs.filter(created_at__lt=datetime.combine(f.until + timedelta(days=1), time.min, tz))
    if f.q:
        qs = qs.filter(search_q(f.q))
    if f.run:
        qs = qs.filter(group__code=f.run)
    return qs


def encode_cursor(sort: str, at: datetime, pk: int) -> str:
    raw = json.dumps([sort, at.isoformat(), pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[datetime, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, at, pk = json.loads(raw)
        moment = parse_datetime(at)
    except (ValueError, TypeError):
        return None
    if cursor_sort != sort or moment is None or not isinstance(pk, int):
        return None  # a cursor from another sort order (or junk) means the first page
    return moment, pk


def page(qs: QuerySet[Task], f: Filters, size: int = PAGE_SIZE) -> tuple[list[Task], str]:
    """One page by keyset on (sort field, id): the same cost at any depth, no OFFSET."""
    field, desc = SORTS[f.sort]
    after = decode_cursor(f.cursor, f.sort) if f.cursor else None
    if after is not None:
        at, pk = after
        # The leading bound lets the planner start the index scan at the cursor.
        if desc:
            qs = qs.filter(**{f"{field}__lte": at}).filter(Q(**{f"{field}__lt": at}) | Q(**{field: at, "id__lt": pk}))
        else:
            qs = qs.filter(**{f"{field}__gte": at}).filter(Q(**{f"{field}__gt": at}) | Q(**{field: at, "id__gt": pk}))
    order = [f"-{field}", "-id"] if desc else [field, "id"]
    rows = list(qs.order_by(*order)[: size + 1])
    next_cursor = ""
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = encode_cursor(f.sort, getattr(last, field), last.pk)
    return rows, next_cursor


def status_counts(workspace) -> dict[str, int]:
    """Tasks per display status, exact up to COUNT_CAP (then shown as "10,000+").

    Each status is one index range scan that stops at the cap, so the cost is
    bounded whatever the table's size; a GROUP BY of the workspace grows with it
    (about 1 s at a million rows). Cached a few seconds: every poll shows them."""
    key = f"task-counts:{workspace.pk}"
    counts = cache.get(key)
    if counts is None:
        base = Task.objects.filter(workspace=workspace).order_by()
        counts = {s: base.filter(status_q(s)).values("id")[: COUNT_CAP + 1].count() for s in DISPLAY_STATUSES}
        cache.set(key, counts, COUNTS_TTL)
    return counts


def long_pending_cutoff() -> datetime:
    return timezone.now() - timedelta(seconds=settings.RECONCILE_AFTER)


@login_required
@require_GET
def task_list(request: HttpRequest) -> HttpResponse:
    workspace = require_workspace(request)
    f = Filters.from_request(request)
    started = timezone.now()
    rows, next_cursor = page(filtered(workspace, f), f)
    ctx = {
        "f": f,
        "rows": rows,
        "next_cursor": next_cursor,
        "next_query": f.query(cursor=next_cursor) if next_cursor else "",
        "counts": status_counts(workspace),
        "count_cap": COUNT_CAP,
        "statuses": DISPLAY_STATUSES,
        "types": TaskType.choices,
        "sorts": [
            (k, k.replace("_", " ").replace("desc", "newest first").replace("asc", "oldest first")) for k in SORTS
        ],
        "since_token": started.isoformat(),
        # Where new rows go on top: the newest row shown, or (an empty table) now.
        "top": (rows[0].created_at if rows else started).isoformat() if _inserts_new_rows(f) else "",
        "poll_query": f.query(),
        "quiet_before": long_pending_cutoff(),
        "export_query": f.query(cursor=""),
    }
    if request.htmx and request.GET.get("poll"):
        return _poll(request, workspace, f, rows, ctx)
    return render(request, "tasks/list.html", ctx)


def _inserts_new_rows(f: Filters) -> bool:
    # Only the first page, newest first, has a place where a new task belongs: the top.
    return not f.cursor and f.sort == "created_desc"


def _moment(text: str) -> datetime | None:
    try:
        moment = parse_datetime(text[:64])
        # In UTC now: 9999-12-31T23:59:59-23:59 is a valid string but no database can hold it.
        if moment is None:
            return None
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):  # well-formed but impossible, e.g. T99:99:99
        return None


def _poll(request: HttpRequest, workspace, f: Filters, rows: list[Task], ctx: dict) -> HttpResponse:
    """Only what changed since the last poll: the cells of changed rows and the
    rows of tasks created since, which tasks.js puts in place. Filters, checked
    boxes, scroll and focus on the page are left alone."""
    since = _moment(request.GET.get("since", "")) or timezone.now()
    top = _moment(request.GET.get("top", "")) if _inserts_new_rows(f) else None
    new_rows: list[Task] = []
    newer = 0
    if top is not None:
        new_rows = list(
            filtered(workspace, f).filter(created_at__gt=top).order_by("-created_at", "-id")[: PAGE_SIZE + 1]
        )
        if len(new_rows) > PAGE_SIZE:
            # Too many to slide in: offer a reload instead.
            newer = filtered(workspace, f).filter(created_at__gt=top).order_by()[:100].count()
            new_rows = []
        elif new_rows:
            top = new_rows[0].created_at
    fresh = {t.pk for t in new_rows}
    ctx["new_rows"] = new_rows
    ctx["changed"] = [t for t in rows if t.updated_at >= since and t.pk not in fresh]
    ctx["newer"] = newer
    ctx["top"] = top.isoformat() if top is not None else ""
    return render(request, "tasks/list.html#poll", ctx)


@login_required
@require_POST
def task_bulk(request: HttpRequest) -> HttpResponse:
    from annotator.submission import pipeline
    from annotator.tasks import jobs

    workspace = require_workspace(request)
    codes = [code for c in request.POST.getlist("task")[:500] if (code := inbound.parse_uuid(c)) is not None]
    tasks = list(Task.objects.filter(workspace=workspace, code__in=codes))
    action = request.POST.get("action")
    back = request.POST.get("back", "")
    if action == "cancel" and request.POST.get("confirmed") != "1":
        # Cancelling cannot be undone: say what will happen, then ask.
        pending = [t for t in tasks if _cancellable(t)]
        ctx = {"pending": pending, "skipped": len(tasks) - len(pending), "back": back}
        return render(request, "tasks/bulk_cancel_confirm.html", ctx)
    if action in ("accept", "reject"):
        return _bulk_review(request, tasks, action == "accept", back)
    if action == "cancel":
        pending = [t for t in tasks if _cancellable(t)]
        for t in pending:
            jobs.cancel_at_scale.delay_on_commit(t.id, request.user.id)
        skipped = len(tasks) - len(pending)
        messages.success(
            request,
            f"Cancelling {_tasks(len(pending))} at Scale."
            + (f" {skipped} skipped: only pending tasks can be cancelled." if skipped else ""),
        )
    elif action == "retry":
        retried = sum(1 for t in tasks if t.state == Task.State.FAILED and pipeline.retry(t))
        skipped = len(tasks) - retried
        messages.success(
            request,
            f"Queued {retried} failed {_noun(retried)} again."
            + (f" {skipped} skipped: only failed submissions can be retried." if skipped else ""),
        )
    elif action == "resubmit":
        made = [resubmit(t, request.user)[1] for t in tasks if t.display_status in RESUBMITTABLE]
        skipped = len(tasks) - len(made)
        messages.success(
            request,
            f"Resubmitted {_tasks(sum(made))} as new linked tasks."
            + (f" {len(made) - sum(made)} had been resubmitted before." if len(made) > sum(made) else "")
            + (f" {skipped} skipped: only failed or errored tasks are resubmitted." if skipped else ""),
        )
    else:
        messages.error(request, "Choose an action for the selected tasks.")
    if not tasks and action in ("cancel", "retry", "resubmit"):
        messages.info(request, "No tasks were selected.")
    # `back` is the table's query string, appended after "?": it cannot leave the site.
    return redirect(reverse("task_list") + (f"?{back}" if back else ""))


def _bulk_review(request: HttpRequest, tasks: list[Task], accepted: bool, back: str) -> HttpResponse:
    """Accept or reject a selection: a page that asks for the comment first, then each
    completed task's review is saved and queued as from its own page."""
    from annotator.tasks import reviews

    reviewable = [t for t in tasks if t.reviewable and not t.review_in_flight]
    if request.POST.get("confirmed") != "1":
        ctx = {
            "tasks": reviewable,
            "skipped": len(tasks) - len(reviewable),
            "back": back,
            "accepted": accepted,
            "verdict": "accept" if accepted else "reject",
            "comment_max": COMMENT_MAX_LENGTH,
        }
        return render(request, "tasks/bulk_review_confirm.html", ctx)
    comment = request.POST.get("comment", "")
    outcomes: dict[str, int] = {}
    refusal = ""
    for t in tasks:
        # Each task's review number as the confirmation page showed it: a second press asks nothing new.
        seq = _seq(request.POST.get(f"seq-{t.code}", ""))
        if seq is None:
            continue
        asked = reviews.ask(t, request.user, accepted=accepted, comment=comment, seq=seq)
        outcomes[asked.outcome] = outcomes.get(asked.outcome, 0) + 1
        refusal = refusal or (asked.message if asked.outcome == "refused" else "")
    verdict = "accepted" if accepted else "rejected"
    queued = outcomes.get("queued", 0)
    text = f"Review queued for {_tasks(queued)}: {verdict}. Reviews are sent to Scale in the background."
    if outcomes.get("duplicate"):
        text += f" {outcomes['duplicate']} already had this review on its way (nothing sent twice)."
    if outcomes.get("refused"):
        text += f" {outcomes['refused']} not reviewed: {refusal}"
    (messages.success if queued else messages.info)(request, text)
    return redirect(reverse("task_list") + (f"?{back}" if back else ""))


CSV_COLUMNS = [
    "code",
    "name",
    "status",
    "task_type",
    "project",
    "batch",
    "tags",
    "unique_id",
    "scale_task_id",
    "attachment",
    "created_at",
    "updated_at",
    "callback_count",
    "last_callback_at",
    "callback_succeeded",
    # Scale's review of the task (accepted / rejected, or Scale's own fixed / commented;
    # blank: not reviewed) and its comment.
    "review",
    "review_comment",
    # JSON: the payload's metadata, and {file name: URL of our copy} of the result files.
    "metadata",
    "result_urls",
]


def _csv_cell(value: object) -> str:
    text = "" if value is None else (", ".join(value) if isinstance(value, list) else str(value))
    # A leading = + - @ makes spreadsheets evaluate the cell: neutralise it.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(workspace, f: Filters) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    cursor_f = replace(f, cursor="")
    while True:
        rows, next_cursor = page(filtered(workspace, cursor_f), cursor_f, size=2000)
        copies: dict[int, list[str]] = {}
        # One query per page for every row's copies, not one per row.
        for task_id, name in (
            ResultFile.objects.filter(task__in=rows).exclude(path="").order_by("name").values_list("task_id", "name")
        ):
            copies.setdefault(task_id, []).append(name)
        for t in rows:
            values = {c: getattr(t, c, None) for c in CSV_COLUMNS}
            values["status"] = t.display_status
            values["name"] = t.display_name
            values["review"] = t.review_status
            values["review_comment"] = t.review_comment if t.review_status and not t.review_in_flight else ""
            metadata = (t.payload or {}).get("metadata") if isinstance(t.payload, dict) else None
            values["metadata"] = json.dumps(metadata, ensure_ascii=False) if metadata else ""
            urls = {n: settings.SITE_URL + results.file_url(t, n) for n in copies.get(t.id, [])}
            values["result_urls"] = json.dumps(urls, ensure_ascii=False) if urls else ""
            yield writer.writerow([_csv_cell(values[c]) for c in CSV_COLUMNS])
        if not next_cursor:
            return
        cursor_f = replace(cursor_f, cursor=next_cursor)


@login_required
@require_GET
def task_export(request: HttpRequest) -> StreamingHttpResponse:
    workspace = require_workspace(request)
    f = Filters.from_request(request)
    response = StreamingHttpResponse(_csv_rows(workspace, f), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="tasks-{stamp}.csv"'
    return response


# --- The task page ----------------------------------------------------------


def _pretty(value: object, limit: int = 200_000) -> str:
    # Rows saved before callbacks were scrubbed may still hold a lone surrogate.
    text = json.dumps(inbound.scrub_surrogates(value), indent=2, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit:,} more characters)"


def _body_preview(body: str, limit: int = 200_000) -> str:
    if len(body) > limit:
        return body[:limit] + f"\n… ({len(body) - limit:,} more characters)"
    try:
        # A lone surrogate ("\\ud800" in the JSON) cannot be sent in a UTF-8 page: _pretty shows U+FFFD.
        return _pretty(json.loads(body), limit)
    except (ValueError, RecursionError):
        return body


def timeline(task: Task) -> list[dict]:
    """Everything that happened to the task, oldest first."""
    events = list(task.events.all())
    ids = [e.data.get("callback_event") for e in events if e.kind == TaskEvent.Kind.CALLBACK and e.data]
    bodies = dict(CallbackEvent.objects.filter(id__in=[i for i in ids if i]).values_list("id", "body"))
    items = []
    for e in events:
        label = e.get_kind_display()
        # "Composed Composed": a message that only repeats its label says nothing more.
        message = "" if e.message.strip().lower() == label.lower() else e.message
        item = {"at": e.at, "kind": e.kind, "label": label, "message": message, "id": f"ev-{e.pk}"}
        if e.kind == TaskEvent.Kind.CALLBACK and e.data and e.data.get("callback_event") in bodies:
            item["body"] = _body_preview(bodies[e.data["callback_event"]])
        items.append(item)
    for a in task.submission_attempts.all():
        items.append(
            {
                "at": a.started_at,
                "kind": "attempt",
                "label": "Attempt",
                "message": a.get_outcome_display(),
                "status_code": a.status_code,
                "duration_ms": a.duration_ms,
                "error": a.error,
                "id": f"att-{a.pk}",
            }
        )
    return sorted(items, key=lambda i: i["at"])


def _refused(task: Task) -> bool:
    """Scale refused this very payload (its last attempt was a permanent error): sending it
    unchanged helps only if what it refused was fixed elsewhere (the file, the project), so the
    page offers fixing it in the composer first."""
    if task.state != Task.State.FAILED:
        return False
    attempts = SubmissionAttempt.objects.filter(task=task).order_by("-started_at")
    return attempts.values_list("outcome", flat=True).first() == SubmissionAttempt.Outcome.PERMANENT


def _results_pending(task: Task) -> bool:
    # Completed, but the copy job has not written anything yet: keep polling a
    # little longer so the viewer appears without a reload.
    if task.display_status != "completed" or task.result_files.exists():
        return False
    return task.scale_updated_at is None or timezone.now() - task.updated_at < timedelta(minutes=2)


@login_required
@require_GET
def task_detail(request: HttpRequest, task_code) -> HttpResponse:
    task = get_for_user(
        Task.objects.select_related("workspace", "created_by", "group", "resubmission_of"), request, code=task_code
    )
    # A review on its way keeps the page polling: "review queued", then Scale's answer.
    final = (
        task.display_status in ("completed", "error", "canceled", "failed")
        and not _results_pending(task)
        and not task.review_in_flight
    )
    ctx = {
        "task": task,
        "final": final,
        "timeline": timeline(task),
        "payload": _pretty(task.payload),
        "response": _pretty(task.response) if task.response is not None else "",
        "viewer": results.viewer_data(task),
        "result_files": list(task.result_files.all()),
        "quiet": task.display_status == "pending"
        and task.callback_count == 0
        and task.submitted_at is not None
        and task.submitted_at < long_pending_cutoff(),
        "attempts": SubmissionAttempt.objects.filter(task=task).count(),
        "again_json": json.dumps(again_payload(task), ensure_ascii=False),
        "can_resubmit": task.display_status in RESUBMITTABLE,
        "refused": _refused(task),
        "can_cancel": _cancellable(task),
        "resubmissions": list(task.resubmissions.order_by("created_at")),
        "comment_max": COMMENT_MAX_LENGTH,
    }
    if request.htmx and request.GET.get("live"):
        response = render(request, "tasks/detail.html#live", ctx)
        if final:
            # 286: htmx swaps this last version in and stops polling.
            return HttpResponseStopPolling(response.content)
        return response
    return render(request, "tasks/detail.html", ctx)


@login_required
@require_GET
def task_result_file(request: HttpRequest, task_code, result_name: str) -> FileResponse:
    task = get_for_user(Task.objects.all(), request, code=task_code)
    row = ResultFile.objects.filter(task=task, name=result_name).exclude(path="").first()
    if row is None:
        raise Http404("No such result file")
    path = (Path(settings.MEDIA_ROOT) / row.path).resolve()
    if not path.is_relative_to(Path(settings.MEDIA_ROOT).resolve()) or not path.exists():
        raise Http404("No such result file")
    # Served only as the types copies are kept as (images, JSON), never as the upstream said:
    # a copy made before that rule, typed as script or HTML, comes back as an inert download.
    kind = row.content_type if row.content_type in safe_files.SERVED_TYPES else ""
    extension = safe_files.SERVED_TYPES.get(kind, ".bin")
    response = FileResponse(path.open("rb"), content_type=kind or "application/octet-stream")
    return safe_files.harden(response, filename=path.stem + extension, attachment=not kind)


# --- Names and thumbnails ---------------------------------------------------


@login_required
@require_GET
def task_thumbnail(request: HttpRequest, task_code) -> HttpResponse:
    """The task's small picture, or a transparent pixel while none is made (tasks.js asks again)."""
    from annotator.tasks import jobs, thumbnails

    task = get_for_user(Task.objects.all(), request, code=task_code)
    if thumbnails.wanted(task) and cache.add(f"thumbnail-job:{task.pk}", 1, 120):
        try:
            jobs.make_thumbnail.delay(task.pk)
        except Exception:  # no broker: the page still works, without the picture
            log.warning("could not queue a thumbnail for task %s", task.pk, exc_info=True)
    path = thumbnails.best(task)
    if path is None:
        response = HttpResponse(thumbnails.placeholder(), content_type="image/png")
        response["Cache-Control"] = "no-store"
        response["X-Thumbnail"] = "pending"
    else:
        response = FileResponse(path.open("rb"), content_type="image/png")
        response["Cache-Control"] = "private, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
def task_rename(request: HttpRequest, task_code) -> HttpResponse:
    task = get_for_user(Task.objects.all(), request, code=task_code)
    name = " ".join(request.POST.get("name", "").split())  # one line: it becomes titles and subjects
    if len(name) > 200:
        messages.error(request, f"A name can have at most 200 characters; this one has {len(name)}. Nothing changed.")
        return redirect("task_detail", task_code=task.code)
    old = task.name
    Task.objects.filter(pk=task.pk).update(name=name, updated_at=timezone.now())
    if name:
        messages.success(request, f"Named “{name}”." + (f" (It was “{old}”.)" if old else ""))
    else:
        task.name = ""
        messages.success(request, f"Name removed: the task is shown as “{task.display_name}”.")
    return redirect("task_detail", task_code=task.code)


# --- Acting on one task -----------------------------------------------------

RESUBMITTABLE = ("failed", "error")


def again_payload(task: Task) -> dict:
    """The task's payload to send as a new task: without its unique_id (a new one is made)
    and its callback URL (the workspace's current one is put back)."""
    payload = dict(task.payload) if isinstance(task.payload, dict) else {}
    payload.pop("unique_id", None)
    payload.pop("callback_url", None)
    return payload


@login_required
@require_POST
def task_resubmit(request: HttpRequest, task_code) -> HttpResponse:
    """Send a failed or errored task again, as a new task linked to this one."""
    task = get_for_user(Task.objects.select_related("workspace"), request, code=task_code)
    earlier = task.resubmissions.order_by("created_at").first()
    if earlier is not None:
        # A second click (or a second tab) must not send it twice.
        messages.info(request, f"This task was already resubmitted as “{earlier.display_name}”.")
        return redirect("task_detail", task_code=earlier.code)
    if task.display_status not in RESUBMITTABLE:
        messages.error(request, f"Only a failed or errored task can be resubmitted; this one is {task.display_status}.")
        return redirect("task_detail", task_code=task.code)
    new, _ = resubmit(task, request.user)
    messages.success(request, f"Resubmitted as a new task (the {task.display_status} one stays as it was).")
    return redirect("task_detail", task_code=new.code)


def resubmit(task: Task, user) -> tuple[Task, bool]:
    """The task's resubmission: made now (True), or the one made before (False)."""
    from django.db import transaction

    from annotator.submission import pipeline

    with transaction.atomic():
        # Locked: two requests at once make one new task.
        Task.objects.select_for_update().filter(pk=task.pk).first()
        earlier = task.resubmissions.order_by("created_at").first()
        if earlier is not None:
            return earlier, False
        new = pipeline.create_task(
            task.workspace, user, task.task_type, again_payload(task), group=task.group, name=task.name
        )
        Task.objects.filter(pk=new.pk).update(resubmission_of=task)
        TaskEvent.objects.create(task=task, kind=TaskEvent.Kind.SUBMISSION, message=f"Resubmitted as {new.unique_id}")
        TaskEvent.objects.create(task=new, kind=TaskEvent.Kind.SUBMISSION, message=f"Resubmission of {task.unique_id}")
    return new, True


def _cancellable(task: Task) -> bool:
    return task.display_status == "pending" and bool(task.scale_task_id)


@login_required
@require_http_methods(["GET", "POST"])
def task_cancel(request: HttpRequest, task_code) -> HttpResponse:
    """Cancel at Scale, after a confirmation page: cancelling cannot be undone."""
    from annotator.tasks import jobs

    task = get_for_user(Task.objects.all(), request, code=task_code)
    if not _cancellable(task):
        messages.error(request, f"Only a task pending at Scale can be cancelled; this one is {task.display_status}.")
        return redirect("task_detail", task_code=task.code)
    if request.method == "POST":
        jobs.cancel_at_scale.delay_on_commit(task.id, request.user.id)
        messages.success(request, "Asked Scale to cancel this task; its status changes here when Scale answers.")
        return redirect("task_detail", task_code=task.code)
    return render(request, "tasks/cancel_confirm.html", {"task": task})


# --- Reviewing a completed task ---------------------------------------------


def _verdict(value: str) -> bool | None:
    return {"accept": True, "reject": False}.get(value)


def _seq(value: str) -> int | None:
    try:
        n = int(value)
    except (TypeError, ValueError):
        return None
    return n if 0 <= n < 2**31 else None


@login_required
@require_POST
def task_review(request: HttpRequest, task_code) -> HttpResponse:
    """Accept or reject a completed task: saved now, sent to Scale by a job (reviews.py)."""
    from annotator.tasks import reviews

    task = get_for_user(Task.objects.all(), request, code=task_code)
    accepted = _verdict(request.POST.get("verdict", ""))
    seq = _seq(request.POST.get("seq", ""))
    if accepted is None or seq is None:
        return HttpResponse("Choose Accept or Reject on the task's page.", status=400, content_type="text/plain")
    asked = reviews.ask(task, request.user, accepted=accepted, comment=request.POST.get("comment", ""), seq=seq)
    {"queued": messages.success, "duplicate": messages.info}.get(asked.outcome, messages.error)(request, asked.message)
    return redirect(reverse("task_detail", kwargs={"task_code": task.code}) + "#review")


def _noun(count: int) -> str:
    return "task" if count == 1 else "tasks"


def _tasks(count: int) -> str:
    """ "1 task", "3 tasks": messages people read, not "task(s)"."""
    return f"{count} {_noun(count)}"
