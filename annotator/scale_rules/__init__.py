"""Scale's rules for segmentannotation, videoannotation and videoplaybackannotation tasks.

The one source of truth used by the composer forms, the bulk CSV importer and the local
Scale-compatible sandbox. Pure Python: no Django, no HTTP. Every check is listed in RULES,
and docs/scale-rules.md is generated from it.

    errors = scale_rules.validate("segmentannotation", payload)   # [] when valid
    payload = scale_rules.build_payload("videoannotation", form.cleaned_data)
"""

from __future__ import annotations

from .build import build_payload
from .labels import count_labels, leaf_labels, leaf_labels_with_instance
from .limits import (
    ALLOWED_FIELDS,
    ATTRIBUTE_TYPES,
    GEOMETRY_KINDS,
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
from .rules import RULES, RULES_BY_CODE, Rule, RuleError
from .validate import validate

__all__ = [
    "ALLOWED_FIELDS",
    "ATTRIBUTE_TYPES",
    "GEOMETRY_KINDS",
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
    "Rule",
    "RuleError",
    "build_payload",
    "count_labels",
    "leaf_labels",
    "leaf_labels_with_instance",
    "metadata_size",
    "validate",
]
