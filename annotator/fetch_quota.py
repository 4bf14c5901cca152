"""Limits on the image proxy: per person (at once, per minute) and per web process (at once).

Every proxy fetch holds a web thread for up to MEDIA_PROXY_TIMEOUT seconds; without a limit
one person with sixteen slow URLs held every thread of the README's gunicorn setup and
sign-in took 43 s (issue 11). The per-person counters live in the shared cache, so they hold
across web processes; each key expires on its own, so a killed process cannot leave a slot
taken for longer than a minute or so. The per-process limit (a semaphore) keeps threads free
for everything else however many people use the proxy at once.

    try:
        with fetch_quota.proxy_slot(user.pk):
            ...fetch...
    except fetch_quota.Refused as refused:
        ...answer 429 with refused.message and Retry-After: refused.retry_after
"""

from __future__ import annotations

import contextlib
import threading
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


# This process's slots, made again when the setting changes (tests change it).
_process: dict[str, object] = {}
_process_lock = threading.Lock()


def _process_semaphore() -> threading.BoundedSemaphore:
    size = max(1, int(settings.MEDIA_PROXY_PER_PROCESS))
    with _process_lock:
        if _process.get("size") != size:
            _process.update(size=size, slots=threading.BoundedSemaphore(size))
        return _process["slots"]  # type: ignore[return-value]


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
    """Hold one of the person's proxy slots, and one of this process's, for the block; raises
    Refused when none is free (the view answers 429)."""
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
        slots = _process_semaphore()
        if not slots.acquire(blocking=False):
            wait = max(1, int(settings.MEDIA_PROXY_TIMEOUT))
            raise Refused("The image proxy is busy. Try again in a few seconds.", wait)
        try:
            yield
        finally:
            slots.release()
    finally:
        _decr(active_key)
