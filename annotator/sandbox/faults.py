"""Fault injection: the failures a real Scale produces, on demand.

Syntax (setting SANDBOX_FAULTS and request header X-Sandbox-Faults alike):
comma-separated `name=value` pairs, e.g. `latency_ms=300,error_500=0.3,error_429=0.1,retry_after=1,seed=7`.
Shares are numbers from 0 to 1. The header overrides the setting key by key.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, fields

SHARES = (
    "error_500",  # answer 500 and create nothing
    "error_429",  # answer 429 with Retry-After and create nothing
    "false_500",  # create the task, then answer 500 (Scale's known quirk)
    "task_error",  # the task ends in `error` instead of `completed`
    "callback_duplicate",  # the final callback is delivered twice
    "callback_reorder",  # an older `pending` event is delivered after the final one
    "callback_fail",  # this share of callback attempts is treated as failed without sending
)
MAX_LATENCY_MS = 60_000


class FaultSpecError(ValueError):
    pass


@dataclass(frozen=True)
class Faults:
    latency_ms: int = 0
    retry_after: int = 1
    seed: int | None = None
    shares: dict[str, float] = field(default_factory=dict)

    def share(self, name: str) -> float:
        return self.shares.get(name, 0.0)


def parse(spec: str, *, source: str = "X-Sandbox-Faults") -> dict[str, object]:
    """The keys a spec sets (not defaults), so a header can override a setting key by key."""
    result: dict[str, object] = {}
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise FaultSpecError(f"{source}: expected name=value, got {item!r}")
        if name in result:
            raise FaultSpecError(f"{source}: {name} is given twice")
        if name in SHARES:
            try:
                share = float(value)
            except ValueError:
                raise FaultSpecError(f"{source}: {name} must be a number from 0 to 1, got {value!r}") from None
            if not 0 <= share <= 1:
                raise FaultSpecError(f"{source}: {name} must be a number from 0 to 1, got {value!r}")
            result[name] = share
        elif name in ("latency_ms", "retry_after", "seed"):
            try:
                number = int(value)
            except ValueError:
                raise FaultSpecError(f"{source}: {name} must be a whole number, got {value!r}") from None
            if number < 0:
                raise FaultSpecError(f"{source}: {name} must not be negative, got {value!r}")
            if name == "latency_ms" and number > MAX_LATENCY_MS:
                raise FaultSpecError(f"{source}: latency_ms must be at most {MAX_LATENCY_MS}, got {value!r}")
            result[name] = number
        else:
            known = ", ".join(("latency_ms", "retry_after", "seed", *SHARES))
            raise FaultSpecError(f"{source}: unknown fault {name!r} (known: {known})")
    return result


def combine(setting: str, header: str | None) -> Faults:
    keys = parse(setting, source="SANDBOX_FAULTS")
    if header:
        keys.update(parse(header))
    simple = {f.name for f in fields(Faults)} - {"shares"}
    return Faults(
        **{k: v for k, v in keys.items() if k in simple},
        shares={k: v for k, v in keys.items() if k in SHARES},
    )


_generators: dict[int, random.Random] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Decision:
    """Every draw for one create, taken in a fixed order so a seed replays exactly."""

    error_429: bool
    error_500: bool
    false_500: bool
    task_error: bool
    callback_duplicate: bool
    callback_reorder: bool


def decide(faults: Faults) -> Decision:
    if faults.seed is None:
        draws = [random.random() for _ in range(6)]
    else:
        # One generator per seed and process: successive creates draw successive
        # numbers, so "error_500=0.3,seed=1" fails the same 30% on every run.
        with _lock:
            generator = _generators.setdefault(faults.seed, random.Random(faults.seed))
            draws = [generator.random() for _ in range(6)]
    names = ("error_429", "error_500", "false_500", "task_error", "callback_duplicate", "callback_reorder")
    return Decision(**{name: draw < faults.share(name) for name, draw in zip(names, draws, strict=True)})


def reset_seeds() -> None:
    """Forget seeded generators (tests that replay a seed from its start)."""
    with _lock:
        _generators.clear()


def attempt_fails(share: float, delivery_code: str, attempt: int) -> bool:
    # Deterministic per delivery and attempt, so a retried job decides the same way.
    return share > 0 and random.Random(f"{delivery_code}:{attempt}").random() < share
