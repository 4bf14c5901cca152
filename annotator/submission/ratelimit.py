"""A per-workspace rate limit shared by every worker process and machine.

A token bucket kept in Redis, in its GCRA form: one key per workspace holds the
"theoretical arrival time" of the next request, so one atomic script both
checks and reserves a slot, and the clock is Redis's own (`TIME`), so workers
on machines with skewed clocks still agree.

    ok, wait = limiter().reserve("ws:<code>", rate=10.0, burst=1, max_wait=5.0)
    # ok: a slot is ours, `wait` seconds from now; sleep, then call Scale.
    # not ok: no slot within max_wait; try again in about `wait` seconds.
"""

from __future__ import annotations

import math
import os
import threading
import time

from django.conf import settings

# Times in microseconds: integers survive the Lua <-> Redis conversions.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - (burst - 1) * interval - now
if wait < 0 then wait = 0 end
if wait > max_wait then return {0, wait} end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {1, wait}
"""


class LimiterUnavailable(Exception):
    """Redis did not answer: the caller must not assume it may send."""


class RedisLimiter:
    def __init__(self, url: str) -> None:
        import redis

        # Short timeouts: a dead Redis must not hold a worker slot for long.
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.script = self.client.register_script(_GCRA)

    def reserve(self, key: str, rate: float, burst: int = 1, max_wait: float = 5.0) -> tuple[bool, float]:
        import redis

        interval = max(1, round(1_000_000 / rate))
        try:
            ok, wait = self.script(keys=[f"annotator:rate:{key}"], args=[interval, burst, int(max_wait * 1_000_000)])
        except redis.RedisError as e:
            raise LimiterUnavailable(str(e)) from e
        return bool(ok), int(wait) / 1_000_000


class LocalLimiter:
    """The same algorithm in process memory: only for a single process without Redis."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tats: dict[str, float] = {}

    def reserve(self, key: str, rate: float, burst: int = 1, max_wait: float = 5.0) -> tuple[bool, float]:
        interval = 1.0 / rate
        with self.lock:
            now = time.monotonic()
            tat = max(self.tats.get(key, now), now)
            wait = max(0.0, tat - (burst - 1) * interval - now)
            if wait > max_wait:
                return False, wait
            self.tats[key] = tat + interval
            return True, wait


_limiters: dict[int, RedisLimiter | LocalLimiter] = {}


def limiter() -> RedisLimiter | LocalLimiter:
    # One per process (connections must not cross a fork).
    pid = os.getpid()
    found = _limiters.get(pid)
    if found is None:
        _limiters.clear()
        url = settings.CACHE_URL or settings.REDIS_URL
        found = RedisLimiter(url) if url.startswith(("redis://", "rediss://", "unix://")) else LocalLimiter()
        _limiters[pid] = found
    return found


def reserve_for_workspace(workspace) -> tuple[bool, float]:
    rate = workspace.rate_limit_per_second
    if not rate or rate <= 0 or math.isinf(rate):
        return True, 0.0  # no limit configured
    return limiter().reserve(
        f"ws:{workspace.code.hex}",
        rate=rate,
        burst=max(1, settings.SUBMIT_RATE_BURST),
        max_wait=settings.SUBMIT_RATE_MAX_WAIT,
    )
