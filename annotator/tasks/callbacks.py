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

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from annotator import inbound
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


def authenticate(token: str, header: str | None) -> int | None:
    """The id of the workspace owning this callback URL, if the header carries its key."""
    found = _key_for(token)
    expected = found[1].encode() if found and found[1] else _NO_KEY
    given = (header or "").encode("utf-8", "replace")
    # Constant time: a plain == would tell an attacker how many leading bytes matched.
    if not hmac.compare_digest(given, expected) or found is None or expected == _NO_KEY:
        return None
    return found[0]


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


def parse_time(raw: str) -> datetime | None:
    """A time as Scale writes it (ISO 8601; naive means UTC), or None when it cannot be read."""
    try:
        parsed = parse_datetime(raw.strip())
    except (ValueError, OverflowError):
        return None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


def too_far_ahead(moment: datetime) -> bool:
    """Whether `moment` is more than CALLBACK_MAX_CLOCK_SKEW ahead of this server's clock.

    A time far ahead of ours would make every real update after it look stale, freezing the
    task (or hiding every later review): such times are not trusted."""
    try:
        return (moment - timezone.now()).total_seconds() > settings.CALLBACK_MAX_CLOCK_SKEW
    except OverflowError:
        return True


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
        parsed = parse_time(raw)
        if parsed is None:
            raise BadCallback(f"task.{key} is not an ISO 8601 date")
        # Refused (Scale then retries, or the reconciler reads the task).
        if too_far_ahead(parsed):
            raise BadCallback(
                f"task.{key} {raw.strip()[:40]} is in the future (more than {settings.CALLBACK_MAX_CLOCK_SKEW} s "
                "ahead of this server's clock, CALLBACK_MAX_CLOCK_SKEW)"
            )
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
    # An escape such as "\\ud800" decodes to a lone surrogate, which no database, page or email can
    # hold. Scale's text is kept with U+FFFD in its place (the raw body keeps the escape).
    data = inbound.scrub_surrogates(data)
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


_COLUMNS = "workspace_id, scale_task_id, status, scale_updated_at, body, body_sha256, received_at, outcome"
_ROW = "(%s, %s, %s, %s, %s, %s, %s, '')"
_ON_CONFLICT = " ON CONFLICT (workspace_id, body_sha256) DO NOTHING RETURNING id, workspace_id, body_sha256"
# Callbacks that arrive together in one process share an INSERT (and a commit).
GROUP_MAX = 16


_sql_for: dict[tuple[str, int], str] = {}


def _insert_sql(db: BaseDatabaseWrapper, rows: int) -> str:
    key = (db.vendor, rows)
    if key not in _sql_for:
        table = db.ops.quote_name(CallbackEvent._meta.db_table)
        # Only constants and a row count go into the text; the values are parameters.
        _sql_for[key] = f"INSERT INTO {table} ({_COLUMNS}) VALUES {', '.join([_ROW] * rows)}{_ON_CONFLICT}"  # noqa: S608
    return _sql_for[key]


def store(workspace_id: int, body: bytes, parsed: Parsed) -> int | None:
    """Save the raw event once: its id, or None when this body was seen before.

    INSERT ... ON CONFLICT DO NOTHING: the unique (workspace, body_sha256)
    constraint settles races between concurrent duplicates inside the database.
    In autocommit the statement is its own durable transaction, and this
    returns only once it is committed: the caller answers 2xx after that."""
    # The thread's connection, looked up once: each `connection.x` goes through
    # a proxy and a thread-local, which adds up at hundreds of callbacks a second.
    db = connections[DEFAULT_DB_ALIAS]
    params = (
        workspace_id,
        parsed.task_id,
        parsed.status,
        db.ops.adapt_datetimefield_value(parsed.updated_at),
        body.decode("utf-8"),
        hashlib.sha256(body).hexdigest(),
        db.ops.adapt_datetimefield_value(timezone.now()),
    )
    if db.vendor != "postgresql" or db.in_atomic_block:
        # SQLite has one writer anyway; inside a transaction (tests, a caller's
        # atomic block) the row must commit or roll back with that transaction.
        with db.cursor() as cursor:
            cursor.execute(_insert_sql(db, 1), params)
            row = cursor.fetchone()
        return row[0] if row else None
    return _group.insert(params)


class _Slot:
    __slots__ = ("done", "error", "leads", "params", "result")

    def __init__(self, params: tuple) -> None:
        self.params = params
        self.done = threading.Event()
        self.leads = False
        self.result: int | None = None
        self.error: BaseException | None = None


class _GroupInsert:
    """Group commit: the callbacks of one process that arrive while an INSERT is
    in flight go to the database together, in the next one.

    One thread at a time leads: it takes up to GROUP_MAX waiting rows, inserts
    them in one statement on its own connection, hands each row's answer to its
    thread, and passes the lead to the first row still waiting. Every thread
    still returns only after its own row is committed, so a 2xx is never given
    for an event that could be lost; a failed statement fails every thread of
    its group and stores none of them (one statement, one transaction), and
    Scale sends those callbacks again. Under load this saves a round trip, a
    commit (a WAL flush) and most of the driver's work per callback."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[_Slot] = []
        self._leader = False

    def insert(self, params: tuple) -> int | None:
        slot = _Slot(params)
        with self._lock:
            self._waiting.append(slot)
            leads = slot.leads = not self._leader
            self._leader = True
        if not leads:
            slot.done.wait()
        if slot.leads:
            self._lead()
        if slot.error is not None:
            raise slot.error
        return slot.result

    def _lead(self) -> None:
        with self._lock:
            group = self._waiting[:GROUP_MAX]
            del self._waiting[:GROUP_MAX]
        try:
            ids = _insert_rows([s.params for s in group])
            for s, event_id in zip(group, ids, strict=True):
                s.result = event_id
        except BaseException as e:  # every thread of the group gets the error
            for s in group:
                s.error = e
        finally:
            with self._lock:
                following = self._waiting[0] if self._waiting else None
                if following is not None:
                    following.leads = True
                else:
                    self._leader = False
            for s in group[1:]:  # group[0] is this thread
                s.done.set()
            if following is not None:
                following.done.set()


_group = _GroupInsert()


def _insert_rows(rows: list[tuple]) -> list[int | None]:
    """Insert the rows in one statement; each row's new id, or None for a duplicate."""
    db = connections[DEFAULT_DB_ALIAS]
    sql = _insert_sql(db, len(rows))
    params = [v for row in rows for v in row]
    try:
        returned = _execute_prepared(db, sql, params)
    except (InterfaceError, OperationalError):
        # The connection died while idle (a database restart, a proxy timeout):
        # the statement above was the health check. A fresh connection, once;
        # replaying is safe, ON CONFLICT makes the insert idempotent.
        db.close()
        returned = _execute_prepared(db, sql, params)
    new = {(ws, digest): event_id for event_id, ws, digest in returned}
    # The same body twice in one group: the first one is the new event.
    return [new.pop((row[0], row[5]), None) for row in rows]


def _execute_prepared(db: BaseDatabaseWrapper, sql: str, params: list) -> list[tuple]:
    """The statement as a server-side prepared statement, on Django's own connection.

    Django's psycopg cursors bind client-side, so PostgreSQL would parse and plan
    the statement on every callback; prepared once per connection (and group
    size) it does not. Django's per-request health check (a SELECT 1 round
    trip) is skipped on purpose: ensure_connection() opens a connection when
    there is none, and a dead one fails this statement, which is retried once."""
    db.ensure_connection()
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall()


# Waking the drain job costs a Redis SET NX; a burst of callbacks wakes it once.
# The flag is set while a drain is queued and cleared when the drain starts, so
# an event stored after that wakes the next one. It expires, so a lost drain
# message cannot block the next one; the reconciler's sweep re-enqueues anything
# left behind. Each process also skips the SET for WAKE_EVERY seconds after one:
# every woken drain schedules a follow-up drain WAKE_EVERY seconds after it
# starts, which claims whatever was stored in that window (see jobs.drain_callbacks).
WAKE_KEY = "annotator:callbacks:drain-queued"
WAKE_TTL = 2
WAKE_EVERY = 0.25
DRAIN_BATCH = 500
_redis = None
_last_wake = 0.0


def _redis_client():
    global _redis  # noqa: PLW0603 - one connection pool per process
    if _redis is None and settings.REDIS_URL:
        import redis

        _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    return _redis


def enqueue(event_id: int) -> None:
    """Have the event applied by a job; a broker outage must not turn into a 5xx."""
    global _last_wake  # noqa: PLW0603 - per-process rate limit of the wake-up
    from annotator.tasks import jobs

    try:
        client = _redis_client()
        if client is None:
            jobs.apply_callback.delay_on_commit(event_id)
            return
        now = time.monotonic()
        if now - _last_wake < WAKE_EVERY:
            return  # a drain woken less than WAKE_EVERY ago, or its follow-up, will claim it
        if client.set(WAKE_KEY, "1", nx=True, ex=WAKE_TTL):
            jobs.drain_callbacks.delay_on_commit()
        _last_wake = now
    except Exception:
        # The event is stored: the reconciler's sweep re-enqueues unprocessed
        # events, so answering 2xx is still right (Scale would only resend it).
        log.exception("could not enqueue callback event %s", event_id)


def forget_wake() -> None:
    """Forget this process's last wake-up (tests start each case fresh)."""
    global _last_wake  # noqa: PLW0603
    _last_wake = 0.0


def clear_wake() -> None:
    client = _redis_client()
    if client is not None:
        client.delete(WAKE_KEY)


def claim_for_apply(limit: int = DRAIN_BATCH) -> list[int]:
    """Ids of stored events nobody has queued yet, marked queued (oldest first)."""
    with transaction.atomic():
        pending = CallbackEvent.objects.filter(processed_at__isnull=True, outcome="").order_by("id")
        ids = list(pending.select_for_update(skip_locked=True).values_list("id", flat=True)[:limit])
        CallbackEvent.objects.filter(id__in=ids).update(outcome="queued")
    return ids
