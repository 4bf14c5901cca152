"""Collecting RuleErrors, JSON paths, and the JSON type checks every rule builds on.

validate() must never raise on any input, so every check here looks at the type of a
value before doing anything else with it (hashing, comparing, formatting).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .rules import RULES_BY_CODE, RuleError

# A JSON array may come from Python code as a tuple; json.dumps sends both the same way.
ARRAY_TYPES = (list, tuple)
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def key_path(base: str, key: object) -> str:
    """`base.key`, or `base["odd key"]` for keys that would make the path ambiguous."""
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return f"{base}.{key}" if base else key
    quoted = json.dumps(key if isinstance(key, str) else describe(key), ensure_ascii=False)
    return f"{base}[{quoted}]"


def index_path(base: str, index: int) -> str:
    return f"{base}[{index}]"


def quote(text: str) -> str:
    """A JSON-quoted, shortened string for messages: '"car"'."""
    return json.dumps(text if len(text) <= 40 else text[:37] + "...", ensure_ascii=False)


def describe(value: object) -> str:
    """A short, safe rendering of a value for messages (never repr() a container)."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        # str() of a > 4300-digit int raises ValueError on Python 3.11.
        return f"{value:,}" if abs(value) < 10**30 else "a very large number"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        # Blank strings are the seed doc's placeholders (" "): say so plainly.
        return f"a blank string {quote(value)}" if is_blank(value) else f"the string {quote(value)}"
    if isinstance(value, ARRAY_TYPES):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def is_int(value: object) -> bool:
    # JSON has one number type and Scale's server is JavaScript, so 10.0 is the integer 10.
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value) and value.is_integer()


def is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def is_blank(value: str) -> bool:
    return not value.strip()


def _has_null(root: dict[Any, Any], keep: frozenset[str]) -> bool:
    """Whether any object under `root` (outside the `keep` keys) has a null value."""
    stack: list[Any] = [value for key, value in root.items() if key not in keep]
    seen: set[int] = set()
    while stack:
        value = stack.pop()
        if value is None:
            return True
        if isinstance(value, dict):
            if id(value) not in seen:
                seen.add(id(value))
                stack.extend(value.values())
        elif isinstance(value, ARRAY_TYPES) and id(value) not in seen:
            seen.add(id(value))
            # A null list item is a value (labels: [null] is reported), not an unset key.
            stack.extend(item for item in value if item is not None)
    return False


def without_nulls(root: object, *, keep: frozenset[str] = frozenset()) -> object:
    """A copy of `root` without the object keys whose value is null, at every level.

    `null` for an optional parameter means "not set": the SDK sends every unset keyword
    argument as null, so validate() judges the payload as if those keys were absent.
    Top-level keys in `keep` (user data such as metadata) are copied as they are.
    Iterative, so 5,000-level payloads do not hit the recursion limit.
    """
    if not isinstance(root, dict) or not _has_null(root, keep):
        return root  # the usual case, and cheaper to check than to copy
    copied: dict[Any, Any] = {}
    stack: list[tuple[Any, Any]] = [(root, copied)]
    seen = {id(root)}
    top = True
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, value in items:
            if value is None and isinstance(source, dict):
                continue
            if (top and key in keep) or id(value) in seen:
                child = value  # user data, or a cycle: not walked
            elif isinstance(value, dict):
                child = {}
                seen.add(id(value))
                stack.append((value, child))
            elif isinstance(value, ARRAY_TYPES):
                child = []
                seen.add(id(value))
                stack.append((value, child))
            else:
                child = value
            if isinstance(target, dict):
                target[key] = child
            else:
                target.append(child)
        top = False
    return copied


class Report:
    """Accumulates errors; the typed checks report and return whether the value is usable."""

    def __init__(self) -> None:
        self.errors: list[RuleError] = []

    def add(self, path: str, code: str, message: str) -> None:
        # A rule's severity is fixed by where its knowledge comes from (rules.py), never by
        # the call site, so docs/scale-rules.md says exactly what blocks a submit.
        self.errors.append(RuleError(path, message, code, RULES_BY_CODE[code].severity))

    def boolean(self, value: Any, path: str) -> bool:
        if isinstance(value, bool):
            return True
        hint = ""
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            hint = " (a JSON boolean, not a string)"
        self.add(path, "type.boolean", f"must be true or false{hint}, got {describe(value)}")
        return False

    def integer(self, value: Any, path: str, *, nullable: bool = False) -> bool:
        if is_int(value):
            return True
        null = " or null" if nullable else ""
        self.add(path, "type.integer", f"must be an integer{null}, got {describe(value)}")
        return False

    def number(self, value: Any, path: str, *, hint: str = "") -> bool:
        if is_number(value):
            return True
        self.add(path, "type.number", f"must be a number{hint}, got {describe(value)}")
        return False

    def string(self, value: Any, path: str, *, non_empty: bool = False) -> bool:
        if not isinstance(value, str):
            self.add(path, "type.string", f"must be a string, got {describe(value)}")
            return False
        if non_empty and is_blank(value):
            self.add(path, "string.empty", "must not be blank")
            return False
        return True

    def object(self, value: Any, path: str, *, hint: str = "") -> bool:
        if isinstance(value, dict):
            return True
        self.add(path, "type.object", f"must be an object{hint}, got {describe(value)}")
        return False

    def array(self, value: Any, path: str, *, hint: str = "") -> bool:
        if isinstance(value, ARRAY_TYPES):
            return True
        self.add(path, "type.array", f"must be an array{hint}, got {describe(value)}")
        return False

    def unknown_keys(self, obj: dict[Any, Any], allowed: frozenset[str], path: str, what: str) -> None:
        for key in obj:
            if key not in allowed:
                self.unknown_key(key, allowed, path, what)

    def unknown_key(self, key: object, allowed: frozenset[str], path: str, what: str) -> None:
        expected = ", ".join(sorted(allowed))
        self.add(key_path(path, key), "field.unknown", f"unknown field for {what} (expected: {expected})")

    def required_keys(self, obj: dict[Any, Any], keys: tuple[str, ...], path: str) -> None:
        for key in keys:
            if key not in obj:
                self.add(key_path(path, key), "field.required", "is required")
