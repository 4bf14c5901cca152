"""Failed sign-in throttling, per account and per client address, in the cache (Redis).

Every attempt is counted with an atomic increment *before* the password is checked, so
parallel guesses cannot all slip in before the first failure is written: of 30 guesses sent
at once, exactly LOGIN_FAILURE_LIMIT are checked. The attempt that reaches the limit also
opens a pause; while it lasts, attempts are refused without being counted or checked. When
it ends, one attempt is checked; each further failure doubles the next pause (starting at
LOGIN_BACKOFF_BASE seconds, at most LOGIN_FAILURE_WINDOW), so an account that someone else
keeps guessing is slowed down, never locked until an admin steps in, and its owner gets in
between pauses. A success clears the account's count and takes its own attempt off the
address's count. Counts are forgotten after LOGIN_FAILURE_WINDOW seconds of quiet.

The address is REMOTE_ADDR, or, behind TRUSTED_PROXY_COUNT proxies (a load balancer: 1),
the address the outermost trusted proxy saw, read from X-Forwarded-For counted from the right
(what a client writes at the left of that header itself is never trusted).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache


def client_address(request) -> str:
    if request is None:
        return ""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if not hops:
        return remote
    # Each trusted proxy appended the address it received from; the last `proxies` entries are
    # theirs. Fewer entries: the outermost proxy saw the leftmost one.
    candidate = hops[-proxies] if len(hops) >= proxies else hops[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def _subjects(username: str, address: str) -> list[str]:
    # Hash the username so the cache never holds what people typed.
    user = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return [f"user:{user}", f"addr:{address}"]


def _count_key(subject: str) -> str:
    return f"login-fail:count:{subject}"


def _pause_key(subject: str) -> str:
    return f"login-fail:pause:{subject}"


def _increment(key: str) -> int:
    window = settings.LOGIN_FAILURE_WINDOW
    for _ in range(3):
        cache.add(key, 0, timeout=window)  # atomic: creates the count only if it is missing
        try:
            value = cache.incr(key)
        except ValueError:
            continue  # it expired between the two calls
        cache.touch(key, window)  # a count is forgotten only after a quiet window
        return value
    return settings.LOGIN_FAILURE_LIMIT + 1  # the cache is misbehaving: fail closed


def _backoff(count: int) -> float:
    over = max(count - settings.LOGIN_FAILURE_LIMIT, 0)
    return min(float(settings.LOGIN_FAILURE_WINDOW), settings.LOGIN_BACKOFF_BASE * 2 ** min(over, 40))


@dataclass
class Attempt:
    """One sign-in attempt: `wait` > 0 means refused (seconds to wait) and nothing is checked."""

    username: str
    address: str
    wait: int = 0
    paused: list[str] = field(default_factory=list)  # pauses this attempt opened

    def succeeded(self) -> None:
        user, addr = _subjects(self.username, self.address)
        cache.delete_many([_count_key(user), _pause_key(user)])
        with contextlib.suppress(ValueError):  # already forgotten
            cache.decr(_count_key(addr))
        if addr in self.paused:
            cache.delete(_pause_key(addr))


def seconds_paused(username: str, address: str) -> int:
    now = time.time()
    waits = [cache.get(_pause_key(subject)) for subject in _subjects(username, address)]
    return max((int(until - now) + 1 for until in waits if until and until > now), default=0)


def begin(username: str, address: str) -> Attempt:
    """Count an attempt before its password is checked; refuse it during a pause."""
    attempt = Attempt(username, address)
    attempt.wait = seconds_paused(username, address)
    if attempt.wait:
        return attempt
    for subject in _subjects(username, address):
        count = _increment(_count_key(subject))
        if count < settings.LOGIN_FAILURE_LIMIT:
            continue
        # From the limit on, each checked attempt opens the next pause first. Only one of many
        # parallel attempts can open it (cache.add is atomic); the others are refused.
        delay = _backoff(count)
        if cache.add(_pause_key(subject), time.time() + delay, timeout=max(int(delay), 1)):
            attempt.paused.append(subject)
        else:
            attempt.wait = max(seconds_paused(username, address), 1)
            return attempt
    return attempt
