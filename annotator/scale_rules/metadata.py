"""The 10 KB `metadata` limit (§1.0), measured as compact UTF-8 JSON."""

from __future__ import annotations

import json
from typing import Any

from .limits import MAX_METADATA_BYTES
from .report import ARRAY_TYPES, Report, describe


def metadata_size(metadata: object) -> int:
    """Bytes of json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode().

    Raises TypeError or ValueError, as json.dumps does, for values that are not JSON.
    """
    return _encoded_size(metadata, allow_nan=True)


def check_metadata(report: Report, metadata: Any) -> None:
    if not report.object(metadata, "metadata"):
        return
    try:
        # allow_nan=False: NaN and Infinity are not JSON, and Scale's parser would reject them.
        size = _encoded_size(metadata, allow_nan=False)
    except (TypeError, ValueError) as error:
        report.add("metadata", "metadata.not_json", f"must contain only JSON values ({error})")
        return
    if size > MAX_METADATA_BYTES:
        report.add(
            "metadata",
            "metadata.too_large",
            f"must be at most 10 KB as encoded JSON (got {describe(size)} bytes)",
        )


def _encoded_size(value: object, *, allow_nan: bool) -> int:
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan)
    except RecursionError:
        # Deeply nested but legal JSON (json.dumps recurses once per level): count it by hand.
        return _iterative_size(value, allow_nan=allow_nan)
    return len(text.encode())


def _iterative_size(root: object, *, allow_nan: bool) -> int:
    def scalar_size(scalar: object) -> int:
        return len(json.dumps(scalar, ensure_ascii=False, allow_nan=allow_nan).encode())

    total = 0
    stack = [root]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            # braces, one colon per pair, commas between pairs
            total += 2 + len(value) + max(len(value) - 1, 0)
            for key, item in value.items():
                total += scalar_size(_json_key(key))
                stack.append(item)
        elif isinstance(value, ARRAY_TYPES):
            total += 2 + max(len(value) - 1, 0)
            stack.extend(value)
        else:
            total += scalar_size(value)
    return total


def _json_key(key: object) -> str:
    """The string json.dumps turns a dict key into."""
    if isinstance(key, str):
        return key
    if key is True or key is False or key is None or isinstance(key, (int, float)):
        return json.dumps(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
