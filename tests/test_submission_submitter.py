"""The submitter in-process against a real HTTP server playing Scale (no worker needed)."""

from __future__ import annotations

import base64
import json
import threading
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotator.submission import pipeline, submitter
from annotator.tasks.models import SubmissionAttempt, Task, TaskEvent
from tests.test_scale_client import FakeScale

TASK_ID = "6650d9a3c2f1e4001f3b2a10"
PAYLOAD = {"attachment": "https://example.org/street-1.png", "labels": ["road", "car"]}


@pytest.fixture
def fake(settings):
    server = FakeScale()
    # A loopback server playing Scale: the operator's trust is the one way to a private endpoint.
    settings.FETCH_TRUSTED_URLS = [server.url.rstrip("/") + "/"]
    yield server
    server.close()


@pytest.fixture
def ws(users, fake):
    workspace = users.ws_a
    workspace.target = workspace.Target.SCALE
    workspace.api_base_url = fake.url
    workspace.rate_limit_per_second = 1000
    workspace.set_api_key("live_test_key")
    workspace.save()
    return workspace


@pytest.fixture(autouse=True)
def _fast_settings(settings):
    settings.SUBMIT_BACKOFF_BASE = 0.5
    settings.SUBMIT_BACKOFF_CAP = 4
    settings.SUBMIT_MAX_ATTEMPTS = 3


def queued(ws, users, **payload) -> Task:
    return pipeline.create_task(ws, users.alice, "segmentannotation", {**PAYLOAD, **payload})


def created(task_id: str = TASK_ID) -> dict:
    return {"task_id": task_id, "status": "pending", "created_at": "2026-05-02T10:15:31.204Z"}


def test_it_submits_a_row_and_records_the_attempt(ws, users, fake):
    fake.reply(200, created())
    task = queued(ws, users)
    assert submitter.submit(task.id).outcome == "created"
    task.refresh_from_db()
    assert task.state == Task.State.SUBMITTED
    assert task.scale_task_id == TASK_ID
    assert task.scale_status == "pending"
    assert task.attempts == 1
    assert task.submitted_at is not None
    sent = json.loads(fake.received[0]["body"])
    assert sent["unique_id"] == task.unique_id
    assert sent["callback_url"] == ws.callback_url
    [attempt] = task.submission_attempts.all()
    assert (attempt.outcome, attempt.status_code, attempt.error) == ("created", 200, "")
    assert task.events.filter(kind=TaskEvent.Kind.SUBMISSION, message__contains=TASK_ID).exists()


def test_a_409_on_our_unique_id_is_resolved_by_looking_the_task_up(ws, users, fake):
    task = queued(ws, users)
    fake.reply(
        409,
        {
            "status_code": 409,
            "error": f'The unique_id ("{task.unique_id}") is already used for a different task ({TASK_ID}).',
        },
    )
    fake.reply(200, {"docs": [{"task_id": TASK_ID, "unique_id": task.unique_id, "status": "pending"}]})
    assert submitter.submit(task.id).outcome == "duplicate"
    task.refresh_from_db()
    assert task.state == Task.State.SUBMITTED
    assert task.scale_task_id == TASK_ID
    assert fake.received[1]["method"] == "GET"
    assert fake.received[1]["path"].startswith("/v1/tasks?unique_id=")
    assert task.submission_attempts.get().outcome == SubmissionAttempt.Outcome.DUPLICATE


def test_a_temporary_error_puts_the_row_back_with_a_backoff(ws, users, fake):
    fake.reply(500, {"status_code": 500, "error": "Internal server error"})
    task = queued(ws, users)
    before = timezone.now()
    assert submitter.submit(task.id).outcome == "retry"
    task.refresh_from_db()
    assert task.state == Task.State.QUEUED
    assert task.attempts == 1
    assert "Internal server error" in task.last_error
    assert before <= task.next_attempt_at <= before + timedelta(seconds=settings.SUBMIT_BACKOFF_CAP + 1)
    attempt = task.submission_attempts.get()
    assert (attempt.outcome, attempt.status_code) == ("temporary", 500)
    # Not due yet: a message arriving early claims nothing and sends nothing.
    if task.next_attempt_at > timezone.now():
        assert submitter.submit(task.id).outcome == "skipped"
        assert len(fake.received) == 1


def test_a_429_honours_retry_after(ws, users, fake):
    fake.reply(429, {"error": "Too many requests"}, headers={"Retry-After": "7"})
    task = queued(ws, users)
    before = timezone.now()
    submitter.submit(task.id)
    task.refresh_from_db()
    assert task.next_attempt_at >= before + timedelta(seconds=7)


def test_it_gives_up_after_the_last_attempt_with_the_reason(ws, users, fake):
    task = queued(ws, users)
    for _ in range(3):
        fake.reply(503, {"error": "Service unavailable"})
        Task.objects.filter(id=task.id).update(next_attempt_at=None)
        submitter.submit(task.id)
    task.refresh_from_db()
    assert task.state == Task.State.FAILED
    assert task.attempts == 3
    assert task.last_error.startswith("Gave up after 3 attempts")
    assert "Service unavailable" in task.last_error
    assert task.submission_attempts.count() == 3


def test_a_permanent_error_fails_the_row_at_once_with_scales_message(ws, users, fake):
    fake.reply(400, {"status_code": 400, "error": "Invalid attachment: could not fetch the image"})
    task = queued(ws, users)
    assert submitter.submit(task.id).outcome == "failed"
    task.refresh_from_db()
    assert task.state == Task.State.FAILED
    assert task.last_error == "Invalid attachment: could not fetch the image"
    assert len(fake.received) == 1
    assert task.events.filter(message__contains="Invalid attachment").exists()


def test_a_row_claimed_by_a_live_worker_is_left_alone(ws, users, fake):
    task = queued(ws, users)
    Task.objects.filter(id=task.id).update(state=Task.State.SUBMITTING, claimed_at=timezone.now())
    assert submitter.submit(task.id).outcome == "skipped"
    assert fake.received == []


def test_a_stale_claim_is_taken_over_and_resent_with_the_same_unique_id(ws, users, fake, settings):
    task = queued(ws, users)
    stale = timezone.now() - timedelta(seconds=settings.SUBMIT_CLAIM_TIMEOUT + 1)
    Task.objects.filter(id=task.id).update(state=Task.State.SUBMITTING, claimed_at=stale, attempts=1)
    fake.reply(200, created())
    assert submitter.submit(task.id).outcome == "created"
    task.refresh_from_db()
    assert task.attempts == 2
    assert json.loads(fake.received[0]["body"])["unique_id"] == task.unique_id


def test_a_submitted_or_failed_row_is_never_sent_again(ws, users, fake):
    done = queued(ws, users)
    failed = queued(ws, users)
    Task.objects.filter(id=done.id).update(state=Task.State.SUBMITTED)
    Task.objects.filter(id=failed.id).update(state=Task.State.FAILED)
    assert submitter.submit(done.id).outcome == "skipped"
    assert submitter.submit(failed.id).outcome == "skipped"
    assert fake.received == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_one_row_send_it_once(users, fake):
    ws = users.ws_a
    ws.target, ws.api_base_url, ws.rate_limit_per_second = ws.Target.SCALE, fake.url, 1000
    ws.set_api_key("k")
    ws.save()
    task = pipeline.create_task(ws, users.alice, "segmentannotation", PAYLOAD)
    for _ in range(8):
        fake.reply(200, created(), delay=0.2)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def run() -> None:
        barrier.wait()
        try:
            outcomes.append(submitter.submit(task.id).outcome)
        finally:
            from django.db import connection

            connection.close()

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["created"] + ["skipped"] * 7
    assert len(fake.received) == 1


def test_backoff_is_full_jitter_below_the_cap_and_never_before_retry_after(settings):
    settings.SUBMIT_BACKOFF_BASE = 1
    settings.SUBMIT_BACKOFF_CAP = 8
    delays = [submitter.backoff(attempt) for attempt in range(1, 8) for _ in range(50)]
    assert all(0 <= d <= 8 for d in delays)
    assert max(submitter.backoff(1) for _ in range(50)) <= 1
    # Jitter spreads retries: not all the same.
    assert len({round(d, 3) for d in delays}) > 100
    assert all(submitter.backoff(1, retry_after=5) >= 5 for _ in range(20))
    assert submitter.backoff(1, retry_after=99999) <= submitter.MAX_RETRY_AFTER


def test_the_sweeper_re_enqueues_forgotten_and_abandoned_rows_only(ws, users, settings):
    r = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    r.delete("submission")
    now = timezone.now()
    long_ago = now - timedelta(seconds=settings.SUBMIT_SWEEP_AFTER + 5)
    forgotten, fresh, waiting, abandoned, working, done = (queued(ws, users) for _ in range(6))
    Task.objects.filter(id=forgotten.id).update(updated_at=long_ago)
    Task.objects.filter(id=waiting.id).update(updated_at=long_ago, next_attempt_at=now + timedelta(seconds=30))
    Task.objects.filter(id=abandoned.id).update(
        state=Task.State.SUBMITTING, claimed_at=now - timedelta(seconds=settings.SUBMIT_CLAIM_TIMEOUT + 5)
    )
    Task.objects.filter(id=working.id).update(state=Task.State.SUBMITTING, claimed_at=now, updated_at=long_ago)
    Task.objects.filter(id=done.id).update(state=Task.State.SUBMITTED, updated_at=long_ago)
    assert submitter.sweep() == 2
    assert sorted(queued_task_ids(r)) == sorted([forgotten.id, abandoned.id])
    assert fresh.id not in queued_task_ids(r)
    # Once re-sent, a queued row is not re-sent again until SUBMIT_SWEEP_AFTER has
    # passed; the abandoned claim stays eligible until a worker takes it over.
    assert submitter.sweep() == 1
    r.delete("submission")


def queued_task_ids(r: redis.Redis) -> list[int]:
    """Task ids in the broker's submission queue (kombu's JSON envelope, base64 body)."""
    messages = [json.loads(m) for m in r.lrange("submission", 0, -1)]
    return [json.loads(base64.b64decode(m["body"]))[0][0] for m in messages]


def test_a_rolled_back_transaction_enqueues_nothing(users, settings, django_capture_on_commit_callbacks):
    class Rollback(Exception):
        pass

    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(Rollback),
        transaction.atomic(),
    ):
        pipeline.create_task(users.ws_a, users.alice, "segmentannotation", PAYLOAD)
        raise Rollback
    assert callbacks == []
    assert not Task.objects.exists()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        pipeline.create_task(users.ws_a, users.alice, "segmentannotation", PAYLOAD)
    assert len(callbacks) == 1


def test_retry_puts_a_failed_row_back_in_the_queue(ws, users, fake, django_capture_on_commit_callbacks):
    fake.reply(400, {"error": "Project not found"})
    task = queued(ws, users)
    submitter.submit(task.id)
    task.refresh_from_db()
    assert task.state == Task.State.FAILED
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert pipeline.retry(task) is True
    assert len(callbacks) == 1
    assert (task.state, task.attempts, task.last_error) == (Task.State.QUEUED, 0, "")
    assert pipeline.retry(task) is False  # only failed rows
    fake.reply(200, created())
    assert submitter.submit(task.id).outcome == "created"
    assert task.submission_attempts.count() == 2


def test_a_refused_task_is_emailed_to_who_asked_with_the_reason(ws, users, fake):
    from django.core import mail

    from annotator.tasks import emails
    from annotator.tasks.models import Notification

    fake.reply(400, {"status_code": 400, "error": "geometries: is required for videoplaybackannotation"})
    task = queued(ws, users)
    assert submitter.submit(task.id).outcome == "failed"
    (row,) = Notification.objects.filter(task=task)
    assert (row.status, row.kind, row.user) == ("failed", "every", users.alice)
    emails.send_notification(row.id)
    emails.send_notification(row.id)  # once only
    (msg,) = mail.outbox
    assert msg.subject.startswith("Not submitted: ")
    assert "could not be submitted: Scale did not take it." in msg.body
    assert "Why: geometries: is required for videoplaybackannotation" in msg.body
    assert "resubmit it from the task's page" in msg.body
    html, _ = msg.alternatives[0]
    assert "could not be submitted" in html and "Why: geometries" in html
    # The timeline tells what the email was about, not "(failed)", which read as a failed send.
    assert task.events.filter(kind="email").get().message == "Emailed alice@example.org about: not submitted"
