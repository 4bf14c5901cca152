"""Callbacks from the sandbox to a task's callback_url, the way Scale sends them.

POST of `{task_id, status, response, task}` with the header `scale-callback-auth`;
any non-2xx answer (or no answer) is retried with backoff, up to 20 attempts in about
24 hours (compressed by SANDBOX_CALLBACK_RETRY_SCALE), then `callback_succeeded` is
set on the task. A callback_url that is an email address gets the task JSON by email.
Each attempt is a CallbackAttempt row.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from . import faults
from .models import CallbackAttempt, CallbackDelivery, SandboxTask

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 20
# Seconds before retry n (n = 1 is the wait after the first failure): doubling from
# 30 s, capped at 2 h, which spreads 20 attempts over about 24 hours.
FIRST_DELAY = 30.0
MAX_DELAY = 7200.0
# Longer waits are left to the sweep: a Celery countdown beyond Redis's visibility
# timeout would be delivered again and again.
MAX_COUNTDOWN = 600.0
USER_AGENT = "annotator-sandbox (Scale v1 callback)"


def retry_delay(failed_attempts: int) -> float:
    base = min(FIRST_DELAY * 2 ** (failed_attempts - 1), MAX_DELAY)
    return base * settings.SANDBOX_CALLBACK_RETRY_SCALE


def is_email(url: str) -> bool:
    return "://" not in url and "@" in url


def body_for(task: SandboxTask) -> dict:
    snapshot = task.to_json()
    return {"task_id": task.task_id, "status": task.status, "response": task.response, "task": snapshot}


def _stale_body(task: SandboxTask) -> dict:
    # What the task looked like while pending: a late, out-of-order event.
    snapshot = task.to_json()
    for key in ("response", "completed_at", "callback_succeeded"):
        snapshot.pop(key, None)
    snapshot.update(status="pending", updated_at=snapshot["created_at"], work_started=False)
    return {"task_id": task.task_id, "status": "pending", "response": None, "task": snapshot}


def plan(task: SandboxTask) -> None:
    """Record the callbacks a task's final state causes; send them after commit."""
    if not task.callback_url:
        return
    now = timezone.now()
    auth = task.account.callback_auth_key
    final = CallbackDelivery.objects.create(
        task=task, kind=CallbackDelivery.Kind.FINAL, url=task.callback_url, auth_key=auth, body=body_for(task),
        next_attempt_at=now,
    )  # fmt: skip
    # Fault injection followers wait until the final callback was tried once.
    if task.faults.get("callback_duplicate"):
        CallbackDelivery.objects.create(
            task=task, kind=CallbackDelivery.Kind.DUPLICATE, url=task.callback_url, auth_key=auth, body=final.body
        )
    if task.faults.get("callback_reorder"):
        CallbackDelivery.objects.create(
            task=task, kind=CallbackDelivery.Kind.STALE, url=task.callback_url, auth_key=auth, body=_stale_body(task)
        )
    code = str(final.code)
    transaction.on_commit(lambda: enqueue(code))


def plan_audit(task: SandboxTask) -> None:
    """Scale calls back when an audit changes a task's review status; send after commit."""
    if not task.callback_url:
        return
    delivery = CallbackDelivery.objects.create(
        task=task, kind=CallbackDelivery.Kind.AUDIT, url=task.callback_url, auth_key=task.account.callback_auth_key,
        body=body_for(task), next_attempt_at=timezone.now(),
    )  # fmt: skip
    code = str(delivery.code)
    transaction.on_commit(lambda: enqueue(code))


def enqueue(code: str, countdown: float = 0.0) -> None:
    from . import jobs

    try:
        jobs.deliver_sandbox_callback.apply_async(args=[code], countdown=countdown)
    except Exception:  # the sweep re-sends deliveries whose job never ran
        log.warning("sandbox: could not enqueue callback %s", code, exc_info=True)


def send(delivery: CallbackDelivery, number: int) -> tuple[bool, int | None, str]:
    """One attempt: (succeeded, HTTP status, error text)."""
    share = delivery.task.faults.get("callback_fail_share", 0.0)
    if faults.attempt_fails(share, str(delivery.code), number):
        return False, None, "sandbox fault injection: callback_fail"
    if is_email(delivery.url):
        task = delivery.body["task"]
        try:
            send_mail(
                f"Scale task {delivery.body['task_id']} is {delivery.body['status']}",
                json.dumps(task, indent=2),
                settings.DEFAULT_FROM_EMAIL,
                [delivery.url],
            )
        except Exception as e:  # SMTP errors come in many classes; all mean "retry"
            return False, None, f"email not sent: {e}"
        return True, None, ""
    # The same outbound guard as every other request: public addresses only, except this
    # site's own callback URLs (and what the operator trusts). Otherwise a member's task with
    # a loopback callback_url received the workspace's callback key (issue 11).
    from annotator import fetcher

    try:
        answer = fetcher.request(
            "POST",
            delivery.url,
            body=json.dumps(delivery.body).encode(),
            headers={
                "Content-Type": "application/json",
                "scale-callback-auth": delivery.auth_key,
                "User-Agent": USER_AGENT,
            },
            timeout=settings.SANDBOX_CALLBACK_TIMEOUT,
            trusted=fetcher.site_trusted(sandbox=False, callbacks=True),
            # A redirect is a failure, as webhook senders commonly treat it.
            follow_redirects=False,
            read_body=False,
        )
    except fetcher.FetchError as e:
        return False, None, e.message[:2000]
    if 200 <= answer.status < 300:
        return True, answer.status, ""
    return False, answer.status, f"answered HTTP {answer.status}"


def attempt(code: str) -> float | None:
    """Make the next attempt of a delivery; the delay before the one after, or None."""
    delivery = CallbackDelivery.objects.select_related("task", "task__account").filter(code=code).first()
    if delivery is None or delivery.succeeded is not None:
        return None
    number = delivery.attempts + 1
    # Claim attempt `number`: of two workers holding the same message, one sends.
    claimed = CallbackDelivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts, succeeded=None).update(
        attempts=number, next_attempt_at=None
    )
    if not claimed:
        return None
    started = time.monotonic()
    ok, status_code, error = send(delivery, number)
    CallbackAttempt.objects.create(
        delivery=delivery,
        number=number,
        status_code=status_code,
        error=error,
        succeeded=ok,
        duration_ms=round((time.monotonic() - started) * 1000),
    )
    delay: float | None = None
    outcome: bool | None = None
    if ok:
        outcome = True
    elif number >= MAX_ATTEMPTS:
        outcome = False
    else:
        delay = retry_delay(number)
        CallbackDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now() + timedelta(seconds=delay)
        )
    if outcome is not None:
        CallbackDelivery.objects.filter(pk=delivery.pk).update(succeeded=outcome)
        if delivery.kind == CallbackDelivery.Kind.FINAL:
            SandboxTask.objects.filter(pk=delivery.task_id).update(callback_succeeded=outcome)
    if number == 1 and delivery.kind == CallbackDelivery.Kind.FINAL:
        _release_followers(delivery)
    if delay is not None and delay > MAX_COUNTDOWN:
        return None  # the sweep sends it when next_attempt_at comes
    return delay


def _release_followers(final: CallbackDelivery) -> None:
    followers = CallbackDelivery.objects.filter(task_id=final.task_id, attempts=0, next_attempt_at=None).exclude(
        pk=final.pk
    )
    # Duplicate first, then the stale event, so the stale one really arrives last.
    for follower in sorted(followers, key=lambda d: d.kind != CallbackDelivery.Kind.DUPLICATE):
        CallbackDelivery.objects.filter(pk=follower.pk).update(next_attempt_at=timezone.now())
        if follower.kind == CallbackDelivery.Kind.DUPLICATE:
            attempt(str(follower.code))
        else:
            enqueue(str(follower.code))


def resend_stuck(older_than: timedelta) -> int:
    """Enqueue deliveries whose next attempt is overdue (a lost job, a long backoff)."""
    cutoff = timezone.now() - older_than
    codes = list(
        CallbackDelivery.objects.filter(succeeded=None, next_attempt_at__lte=cutoff).values_list("code", flat=True)[
            :500
        ]
    )
    for code in codes:
        enqueue(str(code))
    return len(codes)
