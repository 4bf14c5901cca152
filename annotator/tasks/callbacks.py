"""Scale's callbacks as they arrive: authenticate, check the shape, store the raw event.

Nothing here changes a task: the stored event is applied later, in a job, by
annotator/tasks/transitions.py. The receiver only has to be fast and durable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from annotator.accounts.models import Workspace
from annotator.tasks.models import CallbackEvent

log = logging.getLogger(__name__)

STATUSES = ("pending", "completed", "error", "canceled")
# Scale's ids are 24 hex digits; the model keeps up to 32.
TASK_ID = re.compile(r"[0-9a-fA-F]{1,32}")
# Real callbacks nest a handful of levels; anything deeper is hostile and would
# make later recursive code (templates, JSON encoders) fall over.
MAX_DEPTH = 64
# Compared against when the token is unknown, so both paths do the same work.
_NO_KEY = b"\x00" * 43


class BadCallback(ValueError):
    """The body cannot be a Scale callback; the message tells the sender why."""


@dataclass(frozen=True)
class Parsed:
    task_id: str
    status: str
    # When Scale last changed the task: the event's place in the task's history.
    updated_at: datetime | None
    task: dict | None
    response: object


# token -> (monotonic expiry, workspace id, callback key). Scale may post hundreds
# of callbacks a second: remembering the key for a few seconds per process
# saves a query on each; a changed key takes effect within AUTH_CACHE_SECONDS.
_keys: dict[str, tuple[float, int, str]] = {}
_keys_lock = threading.Lock()
AUTH_CACHE_SECONDS = 10.0
AUTH_CACHE_SIZE = 1000


def _key_for(token: str) -> tuple[int, str] | None:
    now = time.monotonic()
    hit = _keys.get(token)
    if hit is not None and hit[0] > now:
        return hit[1], hit[2]
    row = Workspace.objects.filter(callback_token=token).values_list("id", "callback_auth_key").first()
    if row is None:
        return None  # unknown tokens are never cached: guessing cannot fill memory
    with _keys_lock:
        if len(_keys) >= AUTH_CACHE_SIZE:
            _keys.clear()
        _keys[token] = (now + AUTH_CACHE_SECONDS, row[0], row[1])
    return row


def forget_keys() -> None:
    with _keys_lock:
        _keys.clear()


def authenticate(token: str, header: str | None) -> Workspace | None:
    """The workspace owning this callback URL (id only), if the header carries its key."""
    found = _key_for(token)
    expected = found[1].encode() if found and found[1] else _NO_KEY
    given = (header or "").encode("utf-8", "replace")
    # Constant time: a plain == would tell an attacker how many leading bytes matched.
    if not hmac.compare_digest(given, expected) or found is None or expected == _NO_KEY:
        return None
    return Workspace(id=found[0])


def _too_deep(value: object, limit: int = MAX_DEPTH) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


def scale_time(task: dict | None) -> datetime | None:
    """updated_at, else completed_at, else created_at of Scale's task object."""
    if not task:
        return None
    for key in ("updated_at", "completed_at", "created_at"):
        raw = task.get(key)
        if raw is None:
            continue
        if not isinstance(raw, str):
            raise BadCallback(f"task.{key} must be a date string")
        try:
            parsed = parse_datetime(raw.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise BadCallback(f"task.{key} is not an ISO 8601 date")
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, UTC)
        return parsed
    return None


def parse(body: bytes) -> Parsed:
    """The callback's fields, or BadCallback with a message a person understands."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadCallback("The body is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise BadCallback(f"The JSON is nested too deeply (at most {MAX_DEPTH} levels)") from None
    except ValueError as e:  # JSONDecodeError, and int literals over Python's digit limit
        raise BadCallback(f"The body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise BadCallback("The body must be a JSON object")
    if _too_deep(data):
        raise BadCallback(f"The JSON is nested too deeply (at most {MAX_DEPTH} levels)")
    task = data.get("task")
    if task is not None and not isinstance(task, dict):
        raise BadCallback("task must be an object")
    task_id = data.get("task_id")
    if task_id is None and task:
        task_id = task.get("task_id")
    if not isinstance(task_id, str) or not TASK_ID.fullmatch(task_id):
        raise BadCallback("task_id must be a Scale task id (hexadecimal string)")
    if task and task.get("task_id") not in (None, task_id):
        raise BadCallback("task.task_id does not match task_id")
    # The docs' example body has no top-level status: fall back to the task's.
    status = data.get("status")
    if status is None and task:
        status = task.get("status")
    if status not in STATUSES:
        raise BadCallback(f"status must be one of {', '.join(STATUSES)}")
    response = data.get("response")
    if response is None and task:
        response = task.get("response")
    return Parsed(task_id=task_id, status=status, updated_at=scale_time(task), task=task, response=response)


_INSERT = (
    "INSERT INTO {table} (workspace_id, scale_task_id, status, scale_updated_at, body, body_sha256, received_at,"
    " outcome) VALUES (%s, %s, %s, %s, %s, %s, %s, '') ON CONFLICT (workspace_id, body_sha256) DO NOTHING RETURNING id"
)


def store(workspace: Workspace, body: bytes, parsed: Parsed) -> tuple[CallbackEvent, bool]:
    """Save the raw event once; (event, created). A body seen before changes nothing.

    One INSERT ... ON CONFLICT DO NOTHING: the unique (workspace, body_sha256)
    constraint settles races between concurrent duplicates inside the database,
    and in autocommit the statement is its own durable transaction (no
    BEGIN/SAVEPOINT/COMMIT round trips on the hot path)."""
    digest = hashlib.sha256(body).hexdigest()
    ops = connection.ops
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT.format(table=ops.quote_name(CallbackEvent._meta.db_table)),
            [
                workspace.id,
                parsed.task_id,
                parsed.status,
                ops.adapt_datetimefield_value(parsed.updated_at),
                body.decode("utf-8"),
                digest,
                ops.adapt_datetimefield_value(now),
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return CallbackEvent.objects.get(workspace=workspace, body_sha256=digest), False
    event = CallbackEvent(
        id=row[0],
        workspace=workspace,
        scale_task_id=parsed.task_id,
        status=parsed.status,
        scale_updated_at=parsed.updated_at,
        body_sha256=digest,
        received_at=now,
    )
    return event, True


# Set while a drain job is queued: a burst of callbacks costs one Celery message,
# not one each (publishing is most of a callback's cost, ~2 ms of CPU). Expires
# so a lost drain message cannot block the next one; the reconciler's sweep
# re-enqueues anything left behind.
WAKE_KEY = "annotator:callbacks:drain-queued"
WAKE_TTL = 2
DRAIN_BATCH = 500
_redis = None


def _redis_client():
    global _redis  # noqa: PLW0603 - one connection pool per process
    if _redis is None and settings.REDIS_URL:
        import redis

        _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    return _redis


def enqueue(event: CallbackEvent) -> None:
    """Have the event applied by a job; a broker outage must not turn into a 5xx."""
    from annotator.tasks import jobs

    try:
        client = _redis_client()
        if client is None:
            jobs.apply_callback.delay_on_commit(event.id)
        elif client.set(WAKE_KEY, "1", nx=True, ex=WAKE_TTL):
            jobs.drain_callbacks.delay_on_commit()
    except Exception:
        # The event is stored: the reconciler's sweep re-enqueues unprocessed
        # events, so answering 2xx is still right (Scale would only resend it).
        log.exception("could not enqueue callback event %s", event.id)


def clear_wake() -> None:
    client = _redis_client()
    if client is not None:
        client.delete(WAKE_KEY)


def claim_for_apply(limit: int = DRAIN_BATCH) -> list[int]:
    """Ids of stored events nobody has queued yet, marked queued (oldest first)."""
    with transaction.atomic():
        pending = CallbackEvent.objects.filter(processed_at__isnull=True, outcome="").order_by("processed_at", "id")
        ids = list(pending.select_for_update(skip_locked=True).values_list("id", flat=True)[:limit])
        CallbackEvent.objects.filter(id__in=ids).update(outcome="queued")
    return ids
