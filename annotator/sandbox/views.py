"""Scale's v1 task API, played locally (docs/sandbox.md).

Every answer is JSON; success is always HTTP 200 (the official SDK treats anything
else as a failure) and errors are `{"status_code": N, "error": "..."}`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.csrf import csrf_exempt

from annotator import scale_rules

from . import faults, files, lifecycle, media, results
from .lifecycle import ApiError
from .models import SandboxAccount, SandboxBatch, SandboxFile, SandboxProject, SandboxTask, iso

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024  # Scale's documented request size
MAX_DRAIN_BYTES = 64 * 1024 * 1024
MAX_JSON_DEPTH = 64
# Scale's other v1 task types (the SDK's TaskType enum): real, but not served here.
OTHER_SCALE_TYPES = frozenset(
    [
        "annotation",
        "categorization",
        "comparison",
        "cuboidannotation",
        "datacollection",
        "documentmodel",
        "documenttranscription",
        "imageannotation",
        "laneannotation",
        "lidarannotation",
        "lidarlinking",
        "lidarsegmentation",
        "lidartopdown",
        "lineannotation",
        "namedentityrecognition",
        "pointannotation",
        "polygonannotation",
        "transcription",
        "textcollection",
        "videoboxannotation",
        "videocuboidannotation",
        "sensorfusion",
        "chat",
        "chatexperimental",
        "chatlite",
        "multichat",
        "multistage",
        "federal2dvideoannotation",
    ]
)
STATUSES = tuple(SandboxTask.Status.values)

View = Callable[..., Any]


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse({"status_code": status, "error": message}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def authenticate(request: HttpRequest) -> SandboxAccount | None:
    scheme, _, encoded = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").split(":", 1)[0]
    except (binascii.Error, ValueError):
        return None
    if not username:
        return None
    return SandboxAccount.objects.filter(api_key=username).first()


def api(*methods: str) -> Callable[[View], View]:
    """Method check, HTTP Basic auth with a sandbox key, ApiError → JSON error."""

    def decorate(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                return error_response(405, f"{request.method} is not allowed here; use {' or '.join(methods)}.")
            account = authenticate(request)
            if account is None:
                response = error_response(
                    401, "Invalid API key: use HTTP Basic auth with a sandbox API key as the username."
                )
                response["WWW-Authenticate"] = 'Basic realm="annotator sandbox"'
                return response
            try:
                result = view(request, account, *args, **kwargs)
            except ApiError as e:
                return error_response(e.status, e.message, e.headers)
            except Exception:
                # Scale answers JSON even when it fails; so does the sandbox.
                log.exception("sandbox: %s %s failed", request.method, request.path)
                return error_response(500, "Internal server error (sandbox); the server log has the details.")
            if isinstance(result, HttpResponse):
                return result
            return JsonResponse(result, safe=False)

        return wrapper

    return decorate


# --- request bodies -------------------------------------------------------------


def _drain(request: HttpRequest, length: int) -> None:
    # Read and drop an oversize body, so the client gets our 413 rather than a
    # connection reset while it is still sending.
    remaining = min(length, MAX_DRAIN_BYTES)
    while remaining > 0:
        chunk = request.read(min(remaining, 1 << 20))
        if not chunk:
            break
        remaining -= len(chunk)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _check_tree(value: object) -> None:
    """Depth limit and strings every database can store (no NUL, no lone surrogates)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise ApiError(400, f"The request body is nested too deeply (more than {MAX_JSON_DEPTH} levels).")
            children = list(item.items()) if isinstance(item, dict) else [(None, v) for v in item]
            for key, child in children:
                if key is not None:
                    _check_string(key)
                stack.append((child, depth + 1))
        elif isinstance(item, str):
            _check_string(item)


def _check_string(text: str) -> None:
    if "\x00" in text:
        raise ApiError(400, "Strings in the request body must not contain NUL (\\u0000) characters.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "Strings in the request body must not contain unpaired surrogates (\\ud800).") from None


def read_json(request: HttpRequest, *, empty: object = None) -> object:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError(400, "The Content-Length header is not a number.") from None
    too_big = ApiError(413, f"The request body is larger than 10 MB ({MAX_BODY_BYTES} bytes); send less data.")
    if length > MAX_BODY_BYTES:
        _drain(request, length)
        raise too_big
    try:
        raw = request.body
    except RequestDataTooBig:
        raise too_big from None
    if len(raw) > MAX_BODY_BYTES:
        raise too_big
    if not raw.strip():
        # The SDK sends no body at all when a call has no parameters.
        return empty
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "The request body is not valid UTF-8.") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ApiError(400, f"The request body is nested too deeply (more than {MAX_JSON_DEPTH} levels).") from None
    except ValueError as e:
        raise ApiError(400, f"The request body is not valid JSON: {e}.") from None
    _check_tree(data)
    return data


def read_object(request: HttpRequest) -> dict:
    data = read_json(request, empty={})
    if not isinstance(data, dict):
        raise ApiError(400, f"The request body must be a JSON object, got {type(data).__name__}.")
    return data


# --- tasks ------------------------------------------------------------------------


@api("GET", "POST")
def task_entry(request: HttpRequest, account: SandboxAccount, name: str) -> dict:
    # One path, two meanings, as at Scale: POST /task/<type> creates, GET /task/<id> reads.
    if request.method == "POST":
        return create_task(request, account, name)
    task = _get_task(account, name)
    lifecycle.finish(task)
    return task.to_json()


def create_task(request: HttpRequest, account: SandboxAccount, task_type: str) -> dict:
    if task_type not in scale_rules.TASK_TYPES:
        if task_type in OTHER_SCALE_TYPES:
            raise ApiError(
                402,
                f"Task type {task_type} is not enabled for this sandbox account; it serves "
                f"{', '.join(scale_rules.TASK_TYPES)}.",
            )
        raise ApiError(400, f"Unknown task type {task_type!r}; expected one of {', '.join(scale_rules.TASK_TYPES)}.")
    try:
        spec = faults.combine(settings.SANDBOX_FAULTS, request.headers.get("X-Sandbox-Faults"))
    except faults.FaultSpecError as e:
        raise ApiError(400, str(e)) from None
    payload = read_object(request)
    if spec.latency_ms:
        # Outside any transaction: slow answers must not hold a database lock.
        time.sleep(spec.latency_ms / 1000)
    decision = faults.decide(spec)
    if decision.error_429:
        raise ApiError(
            429,
            "Too many requests; retry later (sandbox fault injection).",
            {"Retry-After": str(spec.retry_after)},
        )
    if decision.error_500:
        raise ApiError(500, "Internal server error (sandbox fault injection).")
    payload = lifecycle.resolve(account, task_type, payload)
    findings = scale_rules.validate(task_type, payload)
    # Like Scale: refuse only what Scale refuses; warnings (inferred rules) never block.
    messages = [str(error) for error in scale_rules.errors(findings)]
    # The project's params are already filled in: what is still missing, the project
    # does not define either, and Scale refuses the task for it.
    messages += [
        f"{finding.path}: is required for {task_type}, and the task's project does not define it either"
        for finding in findings
        if finding.code == "param.project_defined"
    ]
    messages += lifecycle.tag_length_errors(payload.get("tags"))
    unique_id = payload.get("unique_id")
    if isinstance(unique_id, str) and len(unique_id) > scale_rules.MAX_UNIQUE_ID_LENGTH:
        # What the sandbox stores (Scale documents no limit): a clear 400, never a database error.
        messages.append(f"unique_id: at most {scale_rules.MAX_UNIQUE_ID_LENGTH:,} characters in the sandbox")
    if messages:
        raise ApiError(400, "; ".join(messages))
    task = lifecycle.create(
        account,
        task_type,
        payload,
        decision=decision,
        callback_fail=spec.share("callback_fail"),
        origin=f"{request.scheme}://{request.get_host()}",
    )
    if decision.false_500:
        # Scale's known quirk: the task exists, yet the answer is a 500.
        raise ApiError(500, "Internal server error.")
    return task.to_json()


def _get_task(account: SandboxAccount, task_id: str) -> SandboxTask:
    task = SandboxTask.objects.select_related("account").filter(account=account, task_id=task_id).first()
    if task is None:
        raise ApiError(404, "Task with that ID not found.")
    return task


@api("POST")
def task_cancel(request: HttpRequest, account: SandboxAccount, task_id: str) -> dict:
    clear = request.GET.get("clear_unique_id", "false").lower()
    if clear not in ("true", "false"):
        raise ApiError(400, f"clear_unique_id must be true or false, got {clear!r}.")
    return lifecycle.cancel(_get_task(account, task_id), clear_unique_id=clear == "true").to_json()


@api("POST")
def task_audit(request: HttpRequest, account: SandboxAccount, task_id: str) -> dict:
    data = read_object(request)
    return lifecycle.audit(_get_task(account, task_id), data.get("accepted"), data.get("comments")).to_json()


@api("POST", "DELETE")
def task_unique_id(request: HttpRequest, account: SandboxAccount, task_id: str) -> dict:
    task = _get_task(account, task_id)
    if request.method == "DELETE":
        return lifecycle.clear_unique_id(task).to_json()
    return lifecycle.set_unique_id(task, read_object(request).get("unique_id")).to_json()


@api("POST")
def task_set_metadata(request: HttpRequest, account: SandboxAccount, task_id: str) -> dict:
    task = _get_task(account, task_id)
    return lifecycle.set_metadata(task, read_json(request, empty={})).to_json()


@api("POST", "PUT", "DELETE")
def task_tags(request: HttpRequest, account: SandboxAccount, task_id: str) -> dict:
    # POST sets the list, PUT adds to it, DELETE removes from it (the SDK's three calls).
    task = _get_task(account, task_id)
    how = {"POST": "set", "PUT": "add", "DELETE": "delete"}[request.method]
    return lifecycle.change_tags(task, read_json(request, empty=[]), how).to_json()


def _moment(name: str, value: str) -> datetime:
    try:
        moment = parse_datetime(value.replace("Z", "+00:00"))
        if moment is None:
            day = parse_date(value)
            moment = datetime(day.year, day.month, day.day) if day else None
    except ValueError:
        moment = None
    if moment is None:
        raise ApiError(400, f"{name} must be an ISO-8601 date or time such as 2021-04-25T03:14:15Z, got {value!r}.")
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def _encode_token(task: SandboxTask, offset: int) -> str:
    raw = json.dumps({"c": task.created_at.isoformat(), "t": task.task_id, "o": offset}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_token(token: str) -> tuple[datetime, str, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        created = datetime.fromisoformat(data["c"])
        task_id, offset = str(data["t"]), int(data["o"])
        if timezone.is_naive(created) or offset < 0:
            raise ValueError
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "next_token is not valid: pass the next_token of the previous page unchanged.") from None
    return created, task_id, offset


REVIEW_STATUSES = ("pending", "accepted", "fixed", "commented", "rejected")


def _true(value: str | None) -> bool:
    # The SDK sends Python booleans through requests: "True".
    return (value or "").strip().lower() in ("true", "1")


def _attachment_downloads(task: SandboxTask, origin: str) -> list[dict]:
    """Scale's `attachmentS3Downloads`: a fetchable URL per attachment (ours for scaledata://)."""
    downloads = []
    for url in lifecycle._attachment_urls(task.params):
        file = files.owned_file(task.account_id, url)
        downloads.append(
            {
                "attachmentURL": url,
                "s3URL": files.http_url(file, origin) if file else url,
                "isConvertedImage": False,
            }
        )
    return downloads


TIME_FILTERS = {
    "start_time": "created_at__gte",
    "created_after": "created_at__gte",
    "end_time": "created_at__lte",
    "created_before": "created_at__lte",
    "completed_after": "completed_at__gte",
    "completed_before": "completed_at__lte",
    "updated_after": "updated_at__gte",
    "updated_before": "updated_at__lte",
}


@api("GET")
def task_list(request: HttpRequest, account: SandboxAccount) -> dict:
    query = request.GET
    raw_limit = query.get("limit") or "100"
    # At most three ASCII digits: int() of 5,000 digits raises, and isdigit() also accepts "٣".
    if not (raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 3) or not 1 <= int(raw_limit) <= 100:
        raise ApiError(400, f"limit must be a whole number from 1 to 100, got {raw_limit[:20]!r}.")
    limit = int(raw_limit)
    tasks = SandboxTask.objects.filter(account=account)
    lifecycle.finish_due(tasks)  # reading is one of the ways tasks complete
    if status := query.get("status"):
        if status not in STATUSES:
            raise ApiError(400, f"status must be one of {', '.join(STATUSES)}, got {status!r}.")
        tasks = tasks.filter(status=status)
    for name, field in (("type", "task_type"), ("project", "project"), ("batch", "batch")):
        if value := query.get(name):
            tasks = tasks.filter(**{field: value})
    if unique_ids := [u for u in query.getlist("unique_id") if u]:
        tasks = tasks.filter(unique_id__in=unique_ids)
    # Several tags: a task must carry all of them.
    for tag in dict.fromkeys(t for t in query.getlist("tags") if t):
        tasks = tasks.filter(pk__in=SandboxTask.objects.filter(tag_rows__tag=tag).values("pk"))
    for name, lookup in TIME_FILTERS.items():
        if value := query.get(name):
            tasks = tasks.filter(**{lookup: _moment(name, value)})
    if wanted := [v.strip() for raw in query.getlist("customer_review_status") for v in raw.split(",") if v.strip()]:
        unknown = [v for v in wanted if v not in REVIEW_STATUSES]
        if unknown:
            raise ApiError(
                400, f"customer_review_status must be among {', '.join(REVIEW_STATUSES)}, got {unknown[0]!r}."
            )
        # "pending": completed and waiting for the customer's audit.
        reviewed = Q(review_status__in=wanted)
        if "pending" in wanted:
            reviewed |= Q(status=SandboxTask.Status.COMPLETED, review_status="")
        tasks = tasks.filter(reviewed)
    total = tasks.count()
    offset = 0
    page = tasks
    if token := query.get("next_token"):
        created, task_id, offset = _decode_token(token)
        # Keyset, not OFFSET: stable when tasks are added meanwhile, and cheap at any depth.
        page = page.filter(created_at__lte=created).exclude(created_at=created, task_id__gte=task_id)
    rows = list(page.order_by("-created_at", "-task_id")[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    if _true(query.get("limited_response")):
        docs = [{k: t.to_json().get(k) for k in ("task_id", "status", "metadata", "project")} for t in rows]
    else:
        docs = [t.to_json() for t in rows]
        if _true(query.get("include_attachment_url")):
            origin = f"{request.scheme}://{request.get_host()}"
            for task, doc in zip(rows, docs, strict=True):
                doc["attachmentS3Downloads"] = _attachment_downloads(task, origin)
    return {
        "docs": docs,
        "total": total,
        "limit": limit,
        "offset": offset,
        "has_more": has_more,
        "next_token": _encode_token(rows[-1], offset + len(rows)) if has_more else None,
    }


# --- batches ----------------------------------------------------------------------


def _name(data: dict, key: str, what: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"{key}: the {what} name is required (a non-empty string).")
    if len(value) > 200:
        raise ApiError(400, f"{key}: the {what} name must be at most 200 characters.")
    return value


def _get_batch(account: SandboxAccount, name: str) -> SandboxBatch:
    batch = SandboxBatch.objects.filter(account=account, name=name).first()
    if batch is None:
        raise ApiError(404, f'Batch "{name}" not found.')
    return batch


@api("GET", "POST")
def batches(request: HttpRequest, account: SandboxAccount) -> dict:
    if request.method == "GET":
        return _batch_list(request, account)
    data = read_object(request)
    name = _name(data, "name", "batch")
    project = _name(data, "project", "project")
    callback = data.get("callback") or ""
    metadata = data.get("metadata") or {}
    if not isinstance(callback, str):
        raise ApiError(400, "callback: must be a URL or an email address (a string).")
    if not isinstance(metadata, dict):
        raise ApiError(400, "metadata: must be an object.")
    for flag in ("calibration_batch", "self_label_batch"):
        if not isinstance(data.get(flag, False), bool):
            raise ApiError(400, f"{flag}: must be true or false.")
    owner = SandboxProject.objects.filter(account=account, name=project).first()
    if owner is None:
        raise ApiError(400, f'project: no project named "{project}" exists; create it first (POST /v1/projects).')
    try:
        with transaction.atomic():
            batch = SandboxBatch.objects.create(
                account=account,
                name=name,
                project=project,
                # Only Rapid and Studio batches are staged until finalized.
                status=SandboxBatch.Status.STAGING if owner.rapid or owner.studio else SandboxBatch.Status.IN_PROGRESS,
                callback=callback,
                calibration_batch=data.get("calibration_batch", False),
                self_label_batch=data.get("self_label_batch", False),
                metadata=metadata,
            )
    except IntegrityError:
        raise ApiError(409, f'A batch named "{name}" already exists.') from None
    return batch.to_json()


def _batch_list(request: HttpRequest, account: SandboxAccount) -> dict:
    query = request.GET
    try:
        limit = int(query.get("limit") or 100)
        offset = int(query.get("offset") or 0)
    except ValueError:
        raise ApiError(400, "limit and offset must be whole numbers.") from None
    if not 1 <= limit <= 100 or offset < 0:
        raise ApiError(400, "limit must be from 1 to 100 and offset at least 0.")
    rows = SandboxBatch.objects.filter(account=account).order_by("-created_at", "-id")
    if project := query.get("project"):
        rows = rows.filter(project=project)
    # exclude_archived: nothing is archived here, so it changes nothing.
    for name, lookup in (("start_time", "created_at__gte"), ("end_time", "created_at__lte")):
        if value := query.get(name):
            rows = rows.filter(**{lookup: _moment(name, value)})
    docs = [b.to_json() for b in rows]
    if status := query.get("status"):
        docs = [d for d in docs if d["status"] == status]
    return {
        "docs": docs[offset : offset + limit],
        "totalDocs": len(docs),
        "limit": limit,
        "offset": offset,
        "has_more": offset + limit < len(docs),
    }


@api("GET")
def batch_detail(request: HttpRequest, account: SandboxAccount, name: str) -> dict:
    return _get_batch(account, name).to_json()


@api("POST")
def batch_finalize(request: HttpRequest, account: SandboxAccount, name: str) -> dict:
    return lifecycle.finalize(_get_batch(account, name)).to_json()


@api("POST")
def batch_set_metadata(request: HttpRequest, account: SandboxAccount, name: str) -> dict:
    metadata = read_json(request, empty={})
    if not isinstance(metadata, dict):
        raise ApiError(400, "metadata: the request body must be a JSON object (the new metadata).")
    batch = _get_batch(account, name)
    SandboxBatch.objects.filter(pk=batch.pk).update(metadata=metadata)
    batch.refresh_from_db()
    return batch.to_json()


@api("GET")
def batch_status(request: HttpRequest, account: SandboxAccount, name: str) -> dict:
    batch = _get_batch(account, name)
    lifecycle.finish_due(SandboxTask.objects.filter(account=account, batch=name))
    counts = batch.counts()
    return {"status": batch.current_status(counts), **counts}


# --- projects ---------------------------------------------------------------------


@api("GET", "POST")
def projects(request: HttpRequest, account: SandboxAccount) -> object:
    if request.method == "GET":
        return [p.to_json() for p in SandboxProject.objects.filter(account=account).order_by("created_at", "id")]
    data = read_object(request)
    name = _name(data, "name", "project")
    task_type = data.get("type")
    if task_type not in scale_rules.TASK_TYPES:
        raise ApiError(400, f"type: must be one of {', '.join(scale_rules.TASK_TYPES)}, got {task_type!r}.")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise ApiError(400, "params: must be an object.")
    for flag in ("rapid", "studio"):
        if not isinstance(data.get(flag) or False, bool):
            raise ApiError(400, f"{flag}: must be true or false.")
    with transaction.atomic():
        project, created = SandboxProject.objects.select_for_update().get_or_create(
            account=account, name=name, defaults={"task_type": task_type}
        )
        # Projects the sandbox made on first use (by a task or batch) have no history
        # yet: an explicit create adopts them instead of failing.
        if not created and project.param_history:
            raise ApiError(409, f'A project named "{name}" already exists.')
        project.task_type = task_type
        project.rapid = bool(data.get("rapid"))
        project.studio = bool(data.get("studio"))
        project.param_history = [{**params, "version": 0, "created_at": iso(timezone.now())}]
        project.save()
    return project.to_json()


def _get_project(account: SandboxAccount, name: str) -> SandboxProject:
    project = SandboxProject.objects.filter(account=account, name=name).first()
    if project is None:
        raise ApiError(404, f'Project "{name}" not found.')
    return project


@api("GET")
def project_detail(request: HttpRequest, account: SandboxAccount, name: str) -> dict:
    return _get_project(account, name).to_json()


@api("POST")
def project_set_params(request: HttpRequest, account: SandboxAccount, name: str) -> dict:
    params = read_object(request)
    with transaction.atomic():
        project = SandboxProject.objects.select_for_update().filter(account=account, name=name).first()
        if project is None:
            raise ApiError(404, f'Project "{name}" not found.')
        version = len(project.param_history)
        project.param_history = [
            *project.param_history,
            {**params, "version": version, "created_at": iso(timezone.now())},
        ]
        project.save(update_fields=["param_history"])
    return project.to_json()


# Scale serves task templates for textcollection and chat projects only (SDK docstring).
TEMPLATE_TYPES = ("textcollection", "chat")


@api("GET")
def project_template(request: HttpRequest, account: SandboxAccount, name: str) -> dict:
    project = _get_project(account, name)
    raise ApiError(
        400,
        f'Project "{project.name}" has no task template: task templates exist only for '
        f"{' and '.join(TEMPLATE_TYPES)} projects, and this is a {project.task_type or 'sandbox'} project.",
    )


@api("GET")
def teams(request: HttpRequest, account: SandboxAccount) -> list:
    # A sandbox account has one member: its owner, an admin (list_teammates).
    owner = f"owner-{account.scaledata_owner[:8]}@sandbox.invalid"
    return [{"email": owner, "role": "admin", "company": "annotator sandbox", "firstName": "Sandbox",
             "lastName": "Owner", "isStudioLabeler": False}]  # fmt: skip


# --- files --------------------------------------------------------------------------


@api("POST")
def file_upload(request: HttpRequest, account: SandboxAccount) -> dict:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > files.MAX_UPLOAD_BYTES + 1024 * 1024:
        _drain(request, length)
        raise ApiError(413, f"file: the sandbox takes files up to {files.MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    try:
        upload = request.FILES.get("file")
        project_name = request.POST.get("project_name")
    except RequestDataTooBig:
        raise ApiError(413, "The form fields are too large.") from None
    return files.upload(account, upload, project_name).to_json()


@api("POST")
def file_import(request: HttpRequest, account: SandboxAccount) -> dict:
    return files.import_url(account, read_object(request)).to_json()


def file_download(request: HttpRequest, file_id: str) -> HttpResponse:
    """An uploaded file (public and unguessable, like a presigned URL), or a redirect for an import."""
    if request.method not in ("GET", "HEAD"):
        return error_response(405, "Use GET.")
    record = SandboxFile.objects.filter(file_id=file_id).first()
    if record is None:
        return error_response(404, "No such file.")
    if record.source_url:
        if record.source_url.startswith(("http://", "https://")):
            return HttpResponseRedirect(record.source_url)
        return error_response(404, "The sandbox does not read s3:// or gs:// files; it only recorded this import.")
    path = files.path_of(record)
    if not path.exists():
        return error_response(404, "No such file.")
    response = media.serve(request, path, record.mime_type if files.inline(record) else "application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    if not files.inline(record):
        response["Content-Disposition"] = "attachment"
    return response


@csrf_exempt
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    return error_response(404, f"No sandbox endpoint at {request.path}.")


# --- files --------------------------------------------------------------------------

CACHE_FOREVER = "public, max-age=31536000, immutable"


def result_file(request: HttpRequest, name: str) -> HttpResponse:
    """A result file (mask PNG, annotations JSON): public, like an S3 presigned URL."""
    if request.method not in ("GET", "HEAD"):
        return error_response(405, "Use GET.")
    parsed = results.parse_result_name(name)
    task = SandboxTask.objects.filter(task_id=parsed[0]).first() if parsed else None
    if task is None or task.status != SandboxTask.Status.COMPLETED:
        return error_response(404, "No such result file.")
    path = results.materialize(task, name, parsed[1], parsed[2])
    if path is None:
        return error_response(404, "No such result file.")
    content_type = "image/png" if parsed[2] == "png" else "application/json"
    response = FileResponse(path.open("rb"), content_type=content_type)
    response["Cache-Control"] = CACHE_FOREVER
    return response


def media_file(request: HttpRequest, name: str) -> HttpResponse:
    """Demo media made by media.py, drawn on first request."""
    if request.method not in ("GET", "HEAD"):
        return error_response(405, "Use GET.")
    item = media.DEMO_MEDIA.get(name)
    if item is None:
        return error_response(404, f"No demo media named {name!r}; see /sandbox/media/.")
    path = media.ensure(name)
    return media.serve(request, path, item.content_type)


def media_index(request: HttpRequest) -> JsonResponse:
    return JsonResponse(media.demo_media_urls(f"{request.scheme}://{request.get_host()}"))
