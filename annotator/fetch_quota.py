"""Per-person limits on the image proxy: fetches at once and per minute, in the cache (Redis).

Every proxy fetch holds a web thread for up to MEDIA_PROXY_TIMEOUT seconds; without a limit
one person with sixteen slow URLs held every thread of the README's gunicorn setup and
sign-in took 43 s (issue 11). Counters live in the shared cache, so the limit holds across
web processes; each key expires on its own, so a killed process cannot leave a slot taken
for longer than a minute or so.

    try:
        with fetch_quota.proxy_slot(user.pk):
            ...fetch...
    except fetch_quota.Refused as refused:
        ...answer 429 with refused.message and Retry-After: refused.retry_after
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache


class Refused(Exception):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def _incr(key: str, ttl: int) -> int:
    cache.add(key, 0, timeout=ttl)
    try:
        value = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=ttl)
        value = 1
    cache.touch(key, ttl)
    return value


def _decr(key: str) -> None:
    with contextlib.suppress(ValueError):  # already expired: nothing to give back
        cache.decr(key)


@contextmanager
def proxy_slot(user_id: int) -> Iterator[None]:
    """Hold one of the person's proxy slots for the block; raises Refused when none is free."""
    now = time.time()
    minute = int(now // 60)
    per_minute = _incr(f"proxy:minute:{user_id}:{minute}", 120)
    if per_minute > settings.MEDIA_PROXY_PER_MINUTE:
        wait = 60 - int(now % 60)
        raise Refused(
            f"Too many images fetched: at most {settings.MEDIA_PROXY_PER_MINUTE} a minute. Try again in {wait} s.",
            wait,
        )
    active_key = f"proxy:active:{user_id}"
    # A slot outlives the longest fetch; a process killed mid-fetch frees it when the key expires.
    active = _incr(active_key, int(settings.MEDIA_PROXY_TIMEOUT) * 2 + 30)
    if active > settings.MEDIA_PROXY_CONCURRENT:
        _decr(active_key)
        raise Refused(
            f"Too many images are being fetched for you at once (at most {settings.MEDIA_PROXY_CONCURRENT}). "
            "Try again when they have loaded.",
            max(1, int(settings.MEDIA_PROXY_TIMEOUT)),
        )
    try:
        yield
    finally:
        _decr(active_key)
