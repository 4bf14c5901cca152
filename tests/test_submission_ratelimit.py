"""The per-workspace rate limit holds across processes (real Redis, real workers)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from django.conf import settings

from annotator.devstack import free_port
from annotator.submission import ratelimit
from tests import test_submission_reliability as reliability
from tests.support import BASE_DIR, wait_until
from tests.test_submission_reliability import create_rows, submitting_worker

sandbox_ws = reliability.sandbox_ws  # the fixture, shared

# Each process reserves slots as a submitter does, sleeps until its slot, and
# records the moment it would have called Scale.
SENDER = """
import json, sys, time
from annotator.submission.ratelimit import RedisLimiter
url, key, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
limiter = RedisLimiter(url)
sent = []
end = time.time() + seconds
while time.time() < end:
    ok, wait = limiter.reserve(key, rate=rate, burst=1, max_wait=5.0)
    if not ok:
        time.sleep(min(wait, 0.5))
        continue
    time.sleep(wait)
    sent.append(time.time())
print(json.dumps(sent))
"""


def achieved_rate(moments: list[float]) -> float:
    moments = sorted(moments)
    return (len(moments) - 1) / (moments[-1] - moments[0])


def test_the_limit_holds_across_two_processes():
    url = settings.CACHE_URL
    key = f"test-two-processes-{time.monotonic_ns()}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SENDER, url, key, "20", "2.5"], stdout=subprocess.PIPE, cwd=BASE_DIR, text=True
        )
        for _ in range(2)
    ]
    results = [json.loads(p.communicate(timeout=30)[0]) for p in procs]
    assert all(results), "both processes sent"
    moments = results[0] + results[1]
    assert achieved_rate(moments) <= 20 * 1.1
    # ... and the limit is not starving them either.
    assert achieved_rate(moments) >= 20 * 0.8
    # No two sends closer than the interval allows (small scheduler jitter aside).
    gaps = [b - a for a, b in zip(sorted(moments), sorted(moments)[1:], strict=False)]
    assert sum(1 for g in gaps if g < 0.5 / 20) <= len(gaps) * 0.1


def test_a_request_beyond_the_longest_wait_is_refused_without_taking_a_slot():
    limiter = ratelimit.RedisLimiter(settings.CACHE_URL)
    key = f"test-refuse-{time.monotonic_ns()}"
    assert limiter.reserve(key, rate=1, burst=1, max_wait=0.5) == (True, 0.0)
    ok, wait = limiter.reserve(key, rate=1, burst=1, max_wait=0.5)
    assert not ok
    assert 0.5 < wait <= 1.0
    ok, wait = limiter.reserve(key, rate=1, burst=1, max_wait=5)
    assert ok
    assert 0.5 < wait <= 1.0  # the refused call took nothing: this one is next


def test_a_burst_lets_that_many_through_at_once():
    limiter = ratelimit.RedisLimiter(settings.CACHE_URL)
    key = f"test-burst-{time.monotonic_ns()}"
    waits = [limiter.reserve(key, rate=2, burst=3, max_wait=10)[1] for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 0.4 < waits[3] <= 0.5
    assert 0.9 < waits[4] <= 1.0


def test_a_dead_redis_makes_the_limiter_unavailable_not_permissive():
    limiter = ratelimit.RedisLimiter(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(ratelimit.LimiterUnavailable):
        limiter.reserve("x", rate=10)


def test_the_local_limiter_without_redis_spaces_requests():
    limiter = ratelimit.LocalLimiter()
    waits = [limiter.reserve("k", rate=10, burst=1, max_wait=1)[1] for _ in range(4)]
    assert waits[0] == 0
    assert waits[3] == pytest.approx(0.3, abs=0.02)
    assert limiter.reserve("k", rate=10, burst=1, max_wait=0.1)[0] is False


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_together_stay_under_the_workspace_limit(sandbox_ws, users, live_server):
    from annotator.sandbox.models import SandboxTask
    from annotator.tasks.models import SubmissionAttempt, Task

    sandbox_ws.rate_limit_per_second = 10
    sandbox_ws.save()
    workers = [submitting_worker(live_server, concurrency=4).start() for _ in range(2)]
    try:
        create_rows(sandbox_ws, users.alice, 40)
        wait_until(lambda: Task.objects.filter(state="submitted").count() == 40, timeout=40)
    finally:
        for w in workers:
            w.stop()
    assert SandboxTask.objects.count() == 40
    # When each request left for Scale (after its wait for a slot).
    moments = [t.timestamp() for t in SubmissionAttempt.objects.values_list("started_at", flat=True)]
    assert len(moments) == 40
    assert achieved_rate(moments) <= 10 * 1.1
    # Both processes took part.
    assert all("annotator.submit_to_scale" in w.log() and "succeeded" in w.log() for w in workers)
