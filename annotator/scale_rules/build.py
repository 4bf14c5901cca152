"""build_payload(): the request body for Scale from structured (form) input."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from .limits import FIELD_ORDER, TASK_TYPES, VIDEO_TYPES
from .report import ARRAY_TYPES

# User data in Scale's own formats: passed through untouched (an empty string inside
# metadata is the user's value, not a blank form field).
_OPAQUE_FIELDS = frozenset({"metadata", "hypothesis", "base_annotations"})


def build_payload(task_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The payload for `task_type` from `data` (e.g. a form's cleaned_data).

    - Empty optionals (None, blank strings, [], {}) are dropped at every level, so blank form
      rows disappear; False and 0 are values and are kept.
    - Top-level keys come out in a fixed order (limits.FIELD_ORDER), unknown keys last in
      input order (validate() reports them); nested keys keep their input order.
    - Video types get an explicit attachment_type, inferred from attachment/attachments,
      because Scale's default for them is undocumented.
    - camera_intrinsics.scale_factor is written as `scalefactor`, the SDKs' spelling.

    Raises ValueError for an unknown task type and TypeError if `data` is not a mapping.
    """
    if task_type not in TASK_TYPES:
        raise ValueError(f"unknown task type {task_type!r}; expected one of {TASK_TYPES}")
    if not isinstance(data, Mapping):
        raise TypeError(f"data must be a mapping, not {type(data).__name__}")

    ordered = [key for key in FIELD_ORDER if key in data]
    ordered += [key for key in data if key not in FIELD_ORDER]
    payload: dict[str, Any] = {}
    for key in ordered:
        value = data[key]
        if key in _OPAQUE_FIELDS:
            value = copy.deepcopy(value)
        elif key == "geometries":
            value = _clean_geometries(value)
        else:
            value = _clean(value)
        if not _is_empty(value):
            payload[key] = value

    if task_type in VIDEO_TYPES and "attachment_type" not in payload:
        if "attachments" in payload:
            payload = _with_field(payload, "attachment_type", "image")
        elif "attachment" in payload:
            payload = _with_field(payload, "attachment_type", "video")
    return payload


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (*ARRAY_TYPES, Mapping)):
        return len(value) == 0
    return False


def _clean(value: Any) -> Any:
    if isinstance(value, Mapping):
        cleaned = {key: _clean(item) for key, item in value.items()}
        return {key: item for key, item in cleaned.items() if not _is_empty(item)}
    if isinstance(value, ARRAY_TYPES):
        cleaned_items = [_clean(item) for item in value]
        return [item for item in cleaned_items if not _is_empty(item)]
    return value


def _clean_geometries(geometries: Any) -> Any:
    if not isinstance(geometries, Mapping):
        return _clean(geometries)
    cleaned = {}
    for kind, geometry in geometries.items():
        if geometry is None:
            continue
        # An enabled geometry stays even when it has no settings: "box": {} asks for boxes.
        cleaned_geometry = _clean(geometry)
        if isinstance(cleaned_geometry, dict):
            intrinsics = cleaned_geometry.get("camera_intrinsics")
            if isinstance(intrinsics, dict) and "scale_factor" in intrinsics and "scalefactor" not in intrinsics:
                cleaned_geometry["camera_intrinsics"] = {
                    ("scalefactor" if key == "scale_factor" else key): item for key, item in intrinsics.items()
                }
        cleaned[kind] = cleaned_geometry
    return cleaned


def _with_field(payload: dict[str, Any], key: str, value: str) -> dict[str, Any]:
    """Re-insert so `key` lands at its FIELD_ORDER position."""
    merged = {**payload, key: value}
    known = [name for name in FIELD_ORDER if name in merged]
    return {name: merged[name] for name in known + [name for name in merged if name not in FIELD_ORDER]}
