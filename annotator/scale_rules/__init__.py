"""Scale's rules for segmentannotation, videoannotation and videoplaybackannotation tasks.

The one source of truth used by the composer forms, the bulk CSV importer and the local
Scale-compatible sandbox. Pure Python: no Django, no HTTP. Every check is listed in RULES,
and docs/scale-rules.md is generated from it.

    findings = scale_rules.validate("segmentannotation", payload)  # errors and warnings
    blocking = scale_rules.errors(findings)  # [] when Scale would take it
    payload = scale_rules.build_payload("videoannotation", form.cleaned_data)

Each finding has a `severity`: "error" (Scale refuses it: documented or observed) or
"warning" (inferred or our own guard: shown, never blocking; the payload is sent as is).
"""

from __future__ import annotations

from .build import build_payload
from .labels import count_labels, leaf_labels, leaf_labels_with_instance
from .limits import (
    ALLOWED_FIELDS,
    ATTRIBUTE_TYPES,
    GEOMETRY_KINDS,
    LEGACY_FIELDS,
    MAX_LABEL_DEPTH,
    MAX_LABELS,
    MAX_METADATA_BYTES,
    MAX_TAGS,
    MAX_UNIQUE_ID_LENGTH,
    PRIORITIES,
    REQUIRED_FIELDS,
    TASK_TYPES,
    VIDEO_EXTENSIONS,
)
from .metadata import metadata_size
from .rules import ERROR, RULES, RULES_BY_CODE, WARNING, Rule, RuleError
from .urls import is_attachment_url, is_storage_url
from .validate import validate


def errors(findings: list[RuleError]) -> list[RuleError]:
    """The findings that block a submit: Scale refuses the task."""
    return [finding for finding in findings if finding.severity == ERROR]


def warnings(findings: list[RuleError]) -> list[RuleError]:
    """The findings shown next to their field, never blocking."""
    return [finding for finding in findings if finding.severity != ERROR]


__all__ = [
    "ALLOWED_FIELDS",
    "ATTRIBUTE_TYPES",
    "ERROR",
    "GEOMETRY_KINDS",
    "LEGACY_FIELDS",
    "MAX_LABELS",
    "MAX_LABEL_DEPTH",
    "MAX_METADATA_BYTES",
    "MAX_TAGS",
    "MAX_UNIQUE_ID_LENGTH",
    "PRIORITIES",
    "REQUIRED_FIELDS",
    "RULES",
    "RULES_BY_CODE",
    "TASK_TYPES",
    "VIDEO_EXTENSIONS",
    "WARNING",
    "Rule",
    "RuleError",
    "build_payload",
    "count_labels",
    "errors",
    "is_attachment_url",
    "is_storage_url",
    "leaf_labels",
    "leaf_labels_with_instance",
    "metadata_size",
    "validate",
    "warnings",
]
