"""Prelabels: `hypothesis` (§4.1, §4.3) and `base_annotations` with its flags (§1.2, §4.3).

Only the envelope is checked. The annotations themselves are in Scale's response format
and are often a URL to a file, so their contents are Scale's business, not ours.
"""

from __future__ import annotations

from typing import Any

from .labels import Leaves
from .limits import BASE_ANNOTATION_FLAGS, SEGMENTATION, VIDEO_PLAYBACK
from .report import ARRAY_TYPES, Report, describe, index_path, is_int, key_path
from .urls import check_url

_MAPPING_ENTRY_FIELDS = frozenset({"index", "color", "numPixels"})


def check_base_annotations(report: Report, payload: dict[Any, Any]) -> None:
    if "base_annotations" not in payload:
        # [INF] The flags only steer how base annotations may be changed; without any,
        # sending them is a form mistake, so it is reported rather than silently dropped.
        for flag in BASE_ANNOTATION_FLAGS:
            if flag in payload:
                report.add(
                    flag,
                    "base_annotations.flags_without_base",
                    "has no effect without base_annotations",
                )
    for flag in BASE_ANNOTATION_FLAGS:
        if flag in payload:
            report.boolean(payload[flag], flag)
    if "base_annotations" not in payload:
        return
    base = payload["base_annotations"]
    if not report.object(base, "base_annotations"):
        return
    if "annotations" not in base:
        report.add(
            "base_annotations.annotations",
            "base_annotations.annotations_missing",
            "is required: base_annotations must contain annotations in the response format",
        )
        return
    # [UNCONFIRMED] whether Scale wants the annotations inline or as {"url": ...} (§4.3).
    _inline_or_url(report, base["annotations"], "base_annotations.annotations", "base_annotations.annotations_shape")


def _inline_or_url(report: Report, annotations: Any, path: str, code: str) -> None:
    if isinstance(annotations, ARRAY_TYPES):
        return
    if isinstance(annotations, dict) and "url" in annotations:
        check_url(report, annotations["url"], key_path(path, "url"))
        return
    report.add(
        path,
        code,
        f'must be an array of annotations or {{"url": "<JSON file>"}}, got {describe(annotations)}',
    )


def check_hypothesis(report: Report, hypothesis: Any, task_type: str, leaves: Leaves) -> None:
    path = "hypothesis"
    if not report.object(hypothesis, path):
        return
    if task_type == SEGMENTATION:
        _check_segmentation_hypothesis(report, hypothesis, path, leaves)
        return
    annotations_path = key_path(path, "annotations")
    if "annotations" not in hypothesis:
        if task_type == VIDEO_PLAYBACK:
            report.add(annotations_path, "hypothesis.required", 'is required: {"url": "<JSON file>"}')
        else:
            # No Scale page documents the videoannotation hypothesis (§4.3).
            report.add(annotations_path, "hypothesis.annotations_shape", "is expected (no annotations to prelabel)")
    elif task_type == VIDEO_PLAYBACK:
        # §4.3: playback hypothesis.annotations.url is mandatory.
        annotations = hypothesis["annotations"]
        if not report.object(annotations, annotations_path, hint=' like {"url": "<JSON file>"}'):
            return
        if "url" not in annotations:
            report.add(key_path(annotations_path, "url"), "hypothesis.required", "is required (a JSON file URL)")
        else:
            check_url(report, annotations["url"], key_path(annotations_path, "url"))
    else:
        _inline_or_url(report, hypothesis["annotations"], annotations_path, "hypothesis.annotations_shape")


def _check_segmentation_hypothesis(report: Report, hypothesis: dict[Any, Any], path: str, leaves: Leaves) -> None:
    # §4.1: labelMapping and annotations.combined.indexedImage are mandatory. Other response
    # fields (combined.image, labeled, ...) may come along, so unknown keys are not reported.
    mapping_path = key_path(path, "labelMapping")
    if "labelMapping" not in hypothesis:
        report.add(mapping_path, "hypothesis.required", "is required (label -> {index, color})")
    elif report.object(hypothesis["labelMapping"], mapping_path):
        _check_label_mapping(report, hypothesis["labelMapping"], mapping_path, leaves)

    current: Any = hypothesis
    current_path = path
    for key in ("annotations", "combined", "indexedImage"):
        next_path = key_path(current_path, key)
        if key not in current:
            report.add(next_path, "hypothesis.required", "is required")
            return
        current, current_path = current[key], next_path
        if key != "indexedImage" and not report.object(current, current_path):
            return
    check_url(report, current, current_path)


def _check_label_mapping(report: Report, mapping: dict[Any, Any], path: str, leaves: Leaves) -> None:
    seen_indexes: dict[int, str] = {}
    for label, value in mapping.items():
        label_path = key_path(path, label)
        if label not in leaves:
            report.add(label_path, "hypothesis.unknown_label", "is not a leaf label of this task")
            continue
        instance = leaves.is_instance(label)
        if instance is None:
            # A project-defined label: either shape may be right.
            entries = (
                [(entry, index_path(label_path, i)) for i, entry in enumerate(value)]
                if isinstance(value, ARRAY_TYPES)
                else [(value, label_path)]
            )
        elif instance:
            if not isinstance(value, ARRAY_TYPES):
                report.add(
                    label_path,
                    "hypothesis.instance_shape",
                    "is an instance label, so it must map to an array of {index, color} "
                    f"objects (one per instance), got {describe(value)}",
                )
                continue
            entries = [(entry, index_path(label_path, i)) for i, entry in enumerate(value)]
        else:
            if not isinstance(value, dict):
                report.add(
                    label_path,
                    "hypothesis.instance_shape",
                    f"is not an instance label, so it must map to one {{index, color}} object, got {describe(value)}",
                )
                continue
            entries = [(value, label_path)]
        for entry, entry_path in entries:
            _check_mapping_entry(report, entry, entry_path, seen_indexes)


def _check_mapping_entry(report: Report, entry: Any, path: str, seen_indexes: dict[int, str]) -> None:
    if not report.object(entry, path):
        return
    report.unknown_keys(entry, _MAPPING_ENTRY_FIELDS, path, "a labelMapping entry")
    if "color" in entry:
        report.string(entry["color"], key_path(path, "color"))
    if "numPixels" in entry:
        report.integer(entry["numPixels"], key_path(path, "numPixels"))
    index_field = key_path(path, "index")
    if "index" not in entry:
        report.add(index_field, "field.required", "is required (the pixel value in indexedImage)")
        return
    index = entry["index"]
    if not report.integer(index, index_field):
        return
    if index < 1:
        report.add(index_field, "hypothesis.index", f"must be at least 1 (0 means unlabeled), got {describe(index)}")
    elif is_int(index) and int(index) in seen_indexes:
        report.add(
            index_field,
            "hypothesis.duplicate_index",
            f"index {describe(index)} is already used at {seen_indexes[int(index)]}",
        )
    else:
        seen_indexes[int(index)] = index_field
