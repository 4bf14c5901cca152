"""Getting one saved task to Scale exactly once. Called by the thin job in jobs.py.

The row in the database is the record of what must be sent; broker messages are
only hints to look at a row. So a job may run twice, or a message may be lost,
and the outcome is still one task at Scale per row:

- a job first *claims* its row with a conditional UPDATE, so two workers never
  send the same row at the same time;
- every payload carries a stable `unique_id`, so a resend after an ambiguous
  failure (a timeout, a "false 500", a worker killed mid-request) gets a 409,
  which we resolve by looking the task up instead of creating a second one;
- every outcome is written only if we still hold the claim;
- the sweeper re-enqueues rows whose message was lost or whose claim is stale.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from annotator.scale_client import DuplicateError, PermanentError, ScaleError, TemporaryError
from annotator.submission import pipeline, ratelimit
from annotator.tasks import transitions
from annotator.tasks.models import SubmissionAttempt, Task, TaskEvent

log = logging.getLogger(__name__)

# Retry-After is honoured, within reason: a delayed message must come back well
# before Redis's visibility timeout would redeliver it.
MAX_RETRY_AFTER = 600.0


def backoff(attempt: int, retry_after: float | None = None) -> float:
    """Seconds before attempt `attempt + 1`: full jitter (AWS), never earlier than Retry-After."""
    ceiling = min(settings.SUBMIT_BACKOFF_CAP, settings.SUBMIT_BACKOFF_BASE * 2 ** max(0, attempt - 1))
    delay = random.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def claim(task_id: int, now: datetime) -> bool:
    """Take the row: due QUEUED rows, or SUBMITTING rows whose claimant has been silent too long."""
    stale = now - timedelta(seconds=settings.SUBMIT_CLAIM_TIMEOUT)
    due = Q(state=Task.State.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    abandoned = Q(state=Task.State.SUBMITTING, claimed_at__lt=stale)
    updated = Task.objects.filter(due | abandoned, id=task_id).update(
        state=Task.State.SUBMITTING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now
    )
    return updated == 1


def _ours(task: Task) -> Q:
    # Outcomes are written only while we still hold the claim we took.
    return Q(id=task.id, state=Task.State.SUBMITTING, claimed_at=task.claimed_at)


@dataclass
class Result:
    outcome: str  # created, duplicate, retry, failed, rate_limited, skipped
    detail: str = ""


def submit(task_id: int) -> Result:
    now = timezone.now()
    if not claim(task_id, now):
        return Result("skipped", "not due, or another worker has it")
    task = Task.objects.select_related("workspace").get(id=task_id)

    try:
        ok, wait = ratelimit.reserve_for_workspace(task.workspace)
    except ratelimit.LimiterUnavailable as e:
        # Without the shared bucket we cannot know we may send: wait for Redis.
        delay = backoff(1) + 1.0
        _release(task, delay, give_back_attempt=True)
        _enqueue_later(task.id, delay)
        return Result("rate_limited", f"rate limiter unavailable: {e}")
    if not ok:
        delay = wait + random.uniform(0, 1.0)
        _release(task, delay, give_back_attempt=True)
        _enqueue_later(task.id, delay)
        return Result("rate_limited", f"next slot in {wait:.1f} s")
    if wait:
        time.sleep(wait)

    client = pipeline.client_for(task.workspace)
    started = timezone.now()
    t0 = time.monotonic()
    try:
        created = client.create_task(task.task_type, task.payload)
    except DuplicateError as e:
        return _resolve_duplicate(task, client, e, started, t0)
    except TemporaryError as e:
        return _temporary(task, e, started, _ms(t0))
    except PermanentError as e:
        return _fail(task, e, started, _ms(t0))
    return _succeed(task, created, started, _ms(t0), outcome=SubmissionAttempt.Outcome.CREATED, status_code=200)


def _ms(t0: float) -> int:
    return int((time.monotonic() - t0) * 1000)


def _resolve_duplicate(task: Task, client, error: DuplicateError, started: datetime, t0: float) -> Result:
    # Our unique_id is already taken at Scale: by far the likeliest cause is an
    # earlier attempt of ours that succeeded but whose answer we never saw.
    try:
        existing = client.find_by_unique_id(task.unique_id)
    except TemporaryError as e:
        return _temporary(task, e, started, _ms(t0), status_code=409)
    except PermanentError as e:
        return _fail(task, e, started, _ms(t0), status_code=409)
    if existing is None and error.existing_task_id:
        existing = {"task_id": error.existing_task_id}
    if existing is None:
        lookup = TemporaryError(409, f"{error.message} (and no task with this unique_id was found yet)")
        return _temporary(task, lookup, started, _ms(t0), status_code=409)
    return _succeed(task, existing, started, _ms(t0), outcome=SubmissionAttempt.Outcome.DUPLICATE, status_code=409)


def _succeed(task: Task, data: dict, started: datetime, ms: int, *, outcome: str, status_code: int) -> Result:
    now = timezone.now()
    scale_status = str(data.get("status") or Task.ScaleStatus.PENDING)
    updated_at = parse_datetime(str(data.get("updated_at") or "")) if data.get("updated_at") else None
    with transaction.atomic():
        written = Task.objects.filter(_ours(task)).update(
            state=Task.State.SUBMITTED,
            scale_task_id=str(data.get("task_id") or ""),
            # A callback may have beaten us here: never move Scale's status backwards.
            scale_status=Case(When(scale_status="", then=Value(scale_status)), default=F("scale_status")),
            scale_updated_at=Case(
                When(scale_updated_at__isnull=True, then=Value(updated_at)), default=F("scale_updated_at")
            ),
            submitted_at=now,
            next_attempt_at=None,
            last_error="",
            updated_at=now,
        )
        SubmissionAttempt.objects.create(
            task=task, started_at=started, duration_ms=ms, status_code=status_code, outcome=outcome
        )
        if written:
            message = (
                f"Submitted to Scale as {data.get('task_id')}"
                if outcome == SubmissionAttempt.Outcome.CREATED
                else f"Scale already had this unique_id: recorded its task {data.get('task_id')}"
            )
            summary = {k: data.get(k) for k in ("task_id", "status", "created_at", "unique_id") if k in data}
            TaskEvent.objects.create(task=task, kind=TaskEvent.Kind.SUBMISSION, message=message, data=summary)
    _after_final(task)
    return Result(outcome if written else "skipped", str(data.get("task_id") or ""))


def _temporary(task: Task, error: ScaleError, started: datetime, ms: int, status_code: int | None = None) -> Result:
    code = status_code if status_code is not None else error.status_code
    task.refresh_from_db(fields=["attempts"])
    if task.attempts >= settings.SUBMIT_MAX_ATTEMPTS:
        reason = f"Gave up after {task.attempts} attempts. Last error: {error}"
        return _fail(task, error, started, ms, status_code=code, reason=reason, outcome="temporary")
    delay = backoff(task.attempts, error.retry_after)
    with transaction.atomic():
        SubmissionAttempt.objects.create(
            task=task,
            started_at=started,
            duration_ms=ms,
            status_code=code,
            outcome=SubmissionAttempt.Outcome.TEMPORARY,
            error=str(error),
        )
        released = _release(task, delay, last_error=str(error))
        if released:
            TaskEvent.objects.create(
                task=task,
                kind=TaskEvent.Kind.SUBMISSION,
                message=f"Attempt {task.attempts} failed ({error}); retrying in {delay:.1f} s",
            )
    if released:
        _enqueue_later(task.id, delay)
    return Result("retry", str(error))


def _fail(
    task: Task,
    error: ScaleError,
    started: datetime,
    ms: int,
    *,
    status_code: int | None = None,
    reason: str | None = None,
    outcome: str = SubmissionAttempt.Outcome.PERMANENT,
) -> Result:
    now = timezone.now()
    reason = reason or error.message
    with transaction.atomic():
        SubmissionAttempt.objects.create(
            task=task,
            started_at=started,
            duration_ms=ms,
            status_code=status_code if status_code is not None else error.status_code,
            outcome=outcome,
            error=str(error),
        )
        written = Task.objects.filter(_ours(task)).update(
            state=Task.State.FAILED, last_error=reason, next_attempt_at=None, updated_at=now
        )
        if written:
            event = TaskEvent.objects.create(task=task, kind=TaskEvent.Kind.SUBMISSION, message=f"Failed: {reason}")
            transitions.notify_submission_failed(task, event)
    _after_final(task)
    return Result("failed" if written else "skipped", reason)


def _release(task: Task, delay: float, *, last_error: str | None = None, give_back_attempt: bool = False) -> bool:
    now = timezone.now()
    changes: dict = {
        "state": Task.State.QUEUED,
        "claimed_at": None,
        "next_attempt_at": now + timedelta(seconds=delay),
        "updated_at": now,
    }
    if last_error is not None:
        changes["last_error"] = last_error
    if give_back_attempt:
        # No request was sent: waiting for the rate limit is not an attempt.
        changes["attempts"] = F("attempts") - 1
    return Task.objects.filter(_ours(task)).update(**changes) == 1


def _enqueue_later(task_id: int, delay: float) -> None:
    from annotator.submission import jobs

    try:
        jobs.submit_to_scale.apply_async((task_id,), countdown=delay)
    except Exception:  # the broker is down; the row says QUEUED and the sweeper will re-send it
        log.warning("could not re-enqueue task %s; the sweeper will", task_id, exc_info=True)


def _after_final(task: Task) -> None:
    # The last row of a bulk group that asked for it finalizes the Scale batch.
    if task.group_id is None:
        return
    from annotator.submission import bulk

    bulk.maybe_finalize(task.group_id)


def sweep(now: datetime | None = None, limit: int = 1000) -> int:
    """Re-enqueue rows whose message was lost (never picked up, or their worker died). Returns how many."""
    from annotator.submission import jobs

    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SUBMIT_SWEEP_AFTER)
    stale_claim = now - timedelta(seconds=settings.SUBMIT_CLAIM_TIMEOUT)
    forgotten = Q(state=Task.State.QUEUED, updated_at__lt=cutoff) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=cutoff)
    )
    abandoned = Q(state=Task.State.SUBMITTING, claimed_at__lt=stale_claim)
    ids = list(Task.objects.filter(forgotten | abandoned).order_by("updated_at").values_list("id", flat=True)[:limit])
    if not ids:
        return 0
    # Touching updated_at means one re-send per row per SUBMIT_SWEEP_AFTER, not one per sweep.
    Task.objects.filter(id__in=ids, state=Task.State.QUEUED).update(updated_at=now)
    sent = 0
    for task_id in ids:
        try:
            jobs.submit_to_scale.delay(task_id)
            sent += 1
        except Exception:
            log.warning("sweeper could not enqueue task %s", task_id, exc_info=True)
            break
    log.info("sweeper re-enqueued %d task(s)", sent)
    return sent
