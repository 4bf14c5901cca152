"""Nothing lost, nothing duplicated: real worker processes, real Redis, the sandbox over HTTP.

Each test counts what the sandbox (our local Scale) holds at the end: exactly one
task per row, whatever was killed or failed on the way.
"""

from __future__ import annotations

import contextlib
import random
import time

import pytest
from django.db import connection, transaction
from django.db.models import Count

from annotator.submission import pipeline
from annotator.tasks.models import Task
from tests.support import SANDBOX_FIXTURE_PROJECTS, Worker, sandbox_account, wait_until

API_KEY = "sandbox-key-reliability"
# Small numbers, so recovery happens within seconds: a claim older than 4 s is
# dead, the sweeper runs every second and re-sends rows left alone for 3 s.
FAST = {
    "SUBMIT_BACKOFF_BASE": "0.2",
    "SUBMIT_BACKOFF_CAP": "1",
    "SUBMIT_CLAIM_TIMEOUT": "4",
    "SUBMIT_SWEEP_INTERVAL": "1",
    "SUBMIT_SWEEP_AFTER": "3",
    "SUBMIT_READ_TIMEOUT": "3",
    "SUBMIT_CONNECT_TIMEOUT": "2",
    "SUBMIT_MAX_ATTEMPTS": "20",
    "SANDBOX_COMPLETE_AFTER": "3600",
}


@pytest.fixture
def sandbox_ws(users, live_server, settings):
    settings.SITE_URL = live_server.url
    # Completion jobs and callbacks are not what is tested here.
    settings.SANDBOX_COMPLETE_AFTER = 3600
    ws = users.ws_a
    ws.target = ws.Target.SANDBOX
    ws.rate_limit_per_second = 500
    ws.set_api_key(API_KEY)
    ws.save()
    # The bulk tests' template names the project "streets"; Scale refuses tasks for unknown projects.
    sandbox_account(API_KEY, ws.callback_auth_key, projects=(*SANDBOX_FIXTURE_PROJECTS, "streets"))
    return ws


def submitting_worker(live_server, *, concurrency: int = 8, **env: str) -> Worker:
    """A worker on the submission and default queues, with beat (the sweeper) embedded, as `make run` has."""
    worker = Worker(concurrency=concurrency, pool="threads", beat=True, SITE_URL=live_server.url, **{**FAST, **env})
    worker.args[worker.args.index("-Q") + 1] = "submission,default"
    return worker


def create_rows(ws, user, n: int) -> list[Task]:
    with transaction.atomic():
        return [
            pipeline.create_task(
                ws,
                user,
                "segmentannotation",
                {"attachment": f"https://example.org/frames/{i:04d}.png", "labels": ["road", "car"]},
            )
            for i in range(n)
        ]


def assert_exactly_once_at_the_sandbox(n: int) -> None:
    from annotator.sandbox.models import SandboxTask

    states = dict(Task.objects.values_list("state").annotate(c=Count("id")).values_list("state", "c"))
    assert states == {Task.State.SUBMITTED: n}
    assert SandboxTask.objects.count() == n, "the sandbox holds a duplicate"
    assert SandboxTask.objects.values("unique_id").distinct().count() == n
    at_sandbox = dict(SandboxTask.objects.values_list("unique_id", "task_id"))
    ours = dict(Task.objects.values_list("unique_id", "scale_task_id"))
    assert ours == at_sandbox


def all_submitted(n: int):
    return lambda: Task.objects.filter(state=Task.State.SUBMITTED).count() == n


@contextlib.contextmanager
def broker_at(url: str):
    """Point this process's Celery producer at another Redis (the one the test may kill)."""
    from annotator.celery import app

    def reset() -> None:
        # Drop references only: kombu keeps one pool per URL in a global registry,
        # and closing the default one would break every later enqueue.
        app._pool = None
        app.amqp._producer_pool = None

    old = app.conf.broker_url
    reset()
    app.conf.broker_url = url
    try:
        yield
    finally:
        reset()
        app.conf.broker_url = old


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_200_tasks_survive_a_worker_killed_10_times(sandbox_ws, users, live_server):
    rng = random.Random()
    worker = submitting_worker(live_server).start()
    try:
        create_rows(sandbox_ws, users.alice, 200)
        done_at_kill = []
        for _ in range(10):
            time.sleep(rng.uniform(0.1, 0.8))
            worker.kill()
            done_at_kill.append(Task.objects.filter(state=Task.State.SUBMITTED).count())
            worker = submitting_worker(live_server).start()
        wait_until(all_submitted(200), timeout=60, message="all 200 rows submitted")
    finally:
        worker.stop()
    # The kills landed while there was work in flight, not after it was all done.
    assert done_at_kill[0] < 200
    assert_exactly_once_at_the_sandbox(200)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_200_tasks_survive_redis_killed_and_restarted(sandbox_ws, users, live_server, ephemeral_redis):
    redis_env = {"REDIS_URL": ephemeral_redis.url, "CACHE_URL": ephemeral_redis.url[:-1] + "1"}
    with broker_at(ephemeral_redis.url):
        worker = submitting_worker(live_server, **redis_env).start()
        try:
            create_rows(sandbox_ws, users.alice, 200)
            time.sleep(0.5)
            ephemeral_redis.kill()  # every queued message and the rate bucket are gone
            done_at_kill = Task.objects.filter(state=Task.State.SUBMITTED).count()
            time.sleep(2)
            ephemeral_redis.start()
            logs = []
            deadline = time.monotonic() + 60
            while not all_submitted(200)():
                assert time.monotonic() < deadline, "all 200 rows submitted after Redis came back"
                if worker.proc.poll() is not None:
                    # Celery's worker can exit on a lost broker connection (kombu's
                    # "Unrecoverable error" on close): a supervisor restarts it, as here.
                    logs.append(worker.log())
                    worker = submitting_worker(live_server, **redis_env).start()
                time.sleep(0.2)
        finally:
            worker.stop()
    assert done_at_kill < 200
    # The restarted Redis was empty: the rest came back from the database.
    assert "sweeper re-enqueued" in "".join([*logs, worker.log()])
    assert_exactly_once_at_the_sandbox(200)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_task_is_created_once_despite_500s_429s_and_false_500s(sandbox_ws, users, live_server, settings):
    from annotator.tasks.models import SubmissionAttempt

    settings.SANDBOX_FAULTS = "error_500=0.3,error_429=0.1,retry_after=1,false_500=0.1"
    worker = submitting_worker(live_server).start()
    try:
        create_rows(sandbox_ws, users.alice, 200)
        wait_until(all_submitted(200), timeout=60, message="all 200 rows submitted through the faults")
    finally:
        worker.stop()
    assert_exactly_once_at_the_sandbox(200)
    outcomes = dict(
        SubmissionAttempt.objects.values_list("outcome").annotate(c=Count("id")).values_list("outcome", "c")
    )
    # The faults happened, and the false 500s were resolved through 409 + lookup.
    assert outcomes.get("temporary", 0) > 40
    assert outcomes.get("duplicate", 0) > 0
    assert SubmissionAttempt.objects.filter(status_code=429).exists()


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_enqueues_nothing_and_a_400_fails_at_once(sandbox_ws, users, live_server):
    from annotator.sandbox.models import SandboxTask

    class Rollback(Exception):
        pass

    # A generous read timeout: this test counts attempts, and a slow live
    # server on a loaded machine would otherwise add a (correct) retry.
    worker = submitting_worker(live_server, concurrency=2, SUBMIT_READ_TIMEOUT="30").start()
    try:
        with pytest.raises(Rollback), transaction.atomic():
            create_rows(sandbox_ws, users.alice, 3)
            raise Rollback
        # No attachment: the sandbox, like Scale, refuses it with a 400.
        bad = pipeline.create_task(sandbox_ws, users.alice, "segmentannotation", {"labels": ["a"]})
        good = pipeline.create_task(
            sandbox_ws, users.alice, "segmentannotation", {"attachment": "https://example.org/b.png", "labels": ["a"]}
        )
        wait_until(lambda: Task.objects.filter(state__in=["submitted", "failed"]).count() == 2, timeout=30)
    finally:
        worker.stop()
    bad.refresh_from_db()
    good.refresh_from_db()
    assert good.state == Task.State.SUBMITTED
    assert bad.state == Task.State.FAILED
    assert bad.attempts == 1
    assert "attachment" in bad.last_error
    assert bad.submission_attempts.get().status_code == 400
    assert Task.objects.count() == 2
    assert list(SandboxTask.objects.values_list("unique_id", flat=True)) == [good.unique_id]
    assert "annotator.submit_to_scale" in worker.log()
    connection.close()
