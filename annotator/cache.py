"""The Django cache on Redis, which a Redis outage degrades instead of breaking.

The cache holds sign-in throttles, rate-limit state and table counts: useful,
never the record of anything. So when Redis does not answer (within the short
socket timeouts settings.py gives it), each call is served by a memory cache of
this process instead of failing the page, and Redis is left alone for
RETRY_AFTER seconds so one page pays the timeout once, not per call.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class ResilientRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS") or {})
        self.retry_after = float(options.pop("RETRY_AFTER", 5))
        super().__init__(server, {**params, "OPTIONS": options})
        self.fallback = LocMemCache(f"annotator-fallback-{id(self)}", {**params, "OPTIONS": {}})
        self._down_until = 0.0
        self._lock = threading.Lock()

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() >= self._down_until:
            try:
                return getattr(super(), name)(*args, **kwargs)
            except RedisError as error:
                with self._lock:
                    if time.monotonic() >= self._down_until:
                        log.warning(
                            "cache: Redis does not answer (%s); using this process's memory for %.0f s",
                            error,
                            self.retry_after,
                        )
                    self._down_until = time.monotonic() + self.retry_after
        return getattr(self.fallback, name)(*args, **kwargs)

    def add(self, *args, **kwargs):
        return self._call("add", *args, **kwargs)

    def get(self, *args, **kwargs):
        return self._call("get", *args, **kwargs)

    def set(self, *args, **kwargs):
        return self._call("set", *args, **kwargs)

    def touch(self, *args, **kwargs):
        return self._call("touch", *args, **kwargs)

    def delete(self, *args, **kwargs):
        return self._call("delete", *args, **kwargs)

    def get_many(self, *args, **kwargs):
        return self._call("get_many", *args, **kwargs)

    def has_key(self, *args, **kwargs):
        return self._call("has_key", *args, **kwargs)

    def incr(self, *args, **kwargs):
        return self._call("incr", *args, **kwargs)

    def set_many(self, *args, **kwargs):
        return self._call("set_many", *args, **kwargs)

    def delete_many(self, *args, **kwargs):
        return self._call("delete_many", *args, **kwargs)

    def clear(self):
        return self._call("clear")
