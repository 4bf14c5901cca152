"""Failed sign-in throttling, per account and per address, in the cache (Redis)."""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache


def _keys(username: str, address: str) -> list[str]:
    # Hash the username so the cache never holds what people typed.
    user = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return [f"login-fail:user:{user}", f"login-fail:addr:{address}"]


def seconds_blocked(username: str, address: str) -> int:
    """How long sign-in stays refused for this account or address (0: allowed)."""
    now = time.time()
    waits = []
    for key in _keys(username, address):
        entry = cache.get(key)
        if entry and entry["count"] >= settings.LOGIN_FAILURE_LIMIT:
            waits.append(int(entry["since"] + settings.LOGIN_FAILURE_WINDOW - now) + 1)
    return max([w for w in waits if w > 0], default=0)


def record_failure(username: str, address: str) -> None:
    now = time.time()
    for key in _keys(username, address):
        entry = cache.get(key) or {"count": 0, "since": now}
        entry["count"] += 1
        remaining = int(entry["since"] + settings.LOGIN_FAILURE_WINDOW - now) + 1
        cache.set(key, entry, timeout=max(remaining, 1))


def clear(username: str, address: str) -> None:
    # A success resets the account's count only: an address that guesses many
    # accounts must not reset its own count by signing in to one it owns.
    cache.delete(_keys(username, address)[0])
