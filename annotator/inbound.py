"""Parsing what people and Scale send us, so that bad input is a clear error and never a 500.

Pure Python (no Django), used by the composer's JSON fields, bulk uploads, the callback
receiver and query parameters. Each function raises InputError (a ValueError) with a
sentence a person can act on. Why each guard exists (docs/security.md, "Inbound input"):

- json.loads raises RecursionError, not ValueError, on deep nesting (about 1,000 levels here),
  and even a depth it accepts can overflow later recursive code (pretty-printing, validation,
  templates): MAX_JSON_DEPTH bounds what we keep.
- Python refuses to convert integers over 4,300 digits (ValueError), and "1e999" parses to
  infinity, which no JSON encoder writes back as valid JSON (PostgreSQL refuses it).
- A JSON escape like "\\ud800" decodes to a lone surrogate: a str that cannot be encoded as
  UTF-8, so saving or rendering it fails far from where it came in.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from typing import Any

MAX_JSON_DEPTH = 100  # labels nest two JSON levels per level; scale_rules allows 32 label levels
MAX_INT_DIGITS = 4300  # Python's own int/str conversion limit (sys.int_info.default_max_str_digits)


class InputError(ValueError):
    """Input we refuse, with the reason in words."""


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise InputError(f"the number {text[:40]} is too large to represent")
    return number


def _constant(name: str) -> Any:
    raise InputError(f"{name} is not a JSON number")


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in `value` (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
    return deepest


def check_text(text: str, what: str = "the text") -> str:
    """`text` if it can be stored and shown (valid Unicode); InputError for a lone surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = text[error.start]
        raise InputError(
            f"{what} contains an unpaired surrogate (\\u{ord(bad):04x}), which is not a character; "
            "remove it or send the character it was meant to be"
        ) from None
    return text


def check_json_value(value: Any, what: str = "the JSON", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`value` (already decoded) if it is safe to keep: bounded depth, valid Unicode throughout."""
    if json_depth(value) > max_depth:
        raise InputError(f"{what} nests more than {max_depth} levels deep")
    # One C-speed pass over every key and string: UTF-8 encoding fails only on a lone surrogate.
    try:
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise InputError(f"{what} contains a number that is not finite") from None
    check_text(encoded, what)
    return value


def scrub_surrogates(value: Any) -> Any:
    """`value` with every lone surrogate replaced by U+FFFD; `value` itself when it has none."""
    encoded = json.dumps(value, ensure_ascii=False)
    try:
        encoded.encode("utf-8")
    except UnicodeEncodeError:
        # UTF-16 holds lone surrogates with "surrogatepass"; decoding with "replace" turns each into U+FFFD.
        fixed = encoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return json.loads(fixed)
    return value


def loads(text: str | bytes, what: str = "the JSON", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """json.loads with every failure turned into InputError, and the result checked as above."""
    try:
        value = json.loads(text, parse_float=_finite, parse_constant=_constant)
    except InputError as error:
        raise InputError(f"{what}: {error}") from None
    except RecursionError:
        raise InputError(f"{what} nests too deeply (at most {max_depth} levels)") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{what} is not valid JSON: {error}") from None
    except UnicodeDecodeError:
        raise InputError(f"{what} is not UTF-8 text") from None
    except ValueError as error:
        # Integers over 4,300 digits: Python refuses to convert them.
        if "digits" in str(error):
            raise InputError(f"{what} contains a number with more than {MAX_INT_DIGITS} digits") from None
        raise InputError(f"{what} is not valid JSON: {error}") from None
    return check_json_value(value, what, max_depth)


def parse_uuid(value: Any) -> uuid.UUID | None:
    """A UUID from a form or query value, or None when it is not one (callers answer 400 or 404)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def parse_int(value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
    """A bounded integer from a query value, or None: at most 18 digits, so never a 5,000-digit int."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text.lstrip("+-")) > 18 or not text.lstrip("+-").isdigit():
        return None
    number = int(text)
    if minimum is not None and number < minimum:
        return None
    if maximum is not None and number > maximum:
        return None
    return number


def parse_datetime(value: Any) -> dt.datetime | None:
    """An aware datetime from ISO 8601 (a date alone is midnight UTC), or None when it is not one."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed
