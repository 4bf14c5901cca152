"""Errors only where Scale refuses: every finding has a severity, set by where its rule's
knowledge comes from, and what is only inferred never blocks."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from annotator import scale_rules
from tests.test_scale_rules_violations import PLAYBACK, SEG, VALID, VIDEO, VIOLATIONS, violated


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Pure-Python tests: nothing to reset (overrides the Django cache fixture in conftest)."""
    yield


def findings(task_type: str, payload: Any) -> list[tuple[str, str, str]]:
    return [(f.code, f.path, f.severity) for f in scale_rules.validate(task_type, payload)]


def test_only_documented_or_observed_rules_are_errors():
    for rule in scale_rules.RULES:
        assert rule.severity in (scale_rules.ERROR, scale_rules.WARNING), rule.code
        assert rule.source and rule.description, rule.code
        if rule.severity == scale_rules.ERROR:
            assert rule.basis in ("docs", "observed"), rule.code
        if rule.basis in ("inferred", "ours"):
            assert rule.severity == scale_rules.WARNING, rule.code


@pytest.mark.parametrize("code", sorted(VIOLATIONS))
def test_each_finding_carries_the_severity_of_its_rule(code):
    task_type, payload, path = violated(code)
    found = [f for f in scale_rules.validate(task_type, payload) if (f.code, f.path) == (code, path)]
    assert found, code
    assert {f.severity for f in found} == {scale_rules.RULES_BY_CODE[code].severity}
    assert all(f.is_error == (f.severity == "error") and f.is_warning != f.is_error for f in found)


def test_inferred_rules_that_used_to_block_are_now_warnings():
    # Each of these refused a task no Scale page refuses.
    for code in (
        "param.unknown",
        "field.unknown",
        "url.invalid",
        "label.duplicate",
        "cuboid.camera_partial",
        "base_annotations.flags_without_base",
        "unique_id.too_long",
        "attributes.no_instance_labels",
        "box.integer_pixels_rotated",
    ):
        assert scale_rules.RULES_BY_CODE[code].severity == "warning", code


def test_errors_and_warnings_split_the_findings():
    payload = copy.deepcopy(VALID[VIDEO])
    payload.update(priority=15, pipeline_stage="night-shift")
    found = scale_rules.validate(VIDEO, payload)
    assert [(f.code, f.severity) for f in scale_rules.errors(found)] == [("priority.invalid", "error")]
    assert [(f.code, f.severity) for f in scale_rules.warnings(found)] == [("param.unknown", "warning")]


def test_a_rule_error_built_the_old_way_is_an_error():
    error = scale_rules.RuleError("tags", "too many", "tags.max_count")
    assert error.severity == "error" and error.is_error and str(error) == "tags: too many"


def test_unknown_parameters_are_warnings_and_built_unchanged():
    payload = {
        **copy.deepcopy(VALID[SEG]),
        "layers": {"annotations": [{"type": "box", "left": 1}]},
        "examples": [{"attachment": "https://x.example.com/e.png", "correct": True}],
    }
    assert findings(SEG, payload) == [
        ("param.unknown", "layers", "warning"),
        ("param.unknown", "examples", "warning"),
    ]
    built = scale_rules.build_payload(SEG, payload)
    assert built["layers"] == payload["layers"] and built["examples"] == payload["examples"]


@pytest.mark.parametrize("task_type", [SEG, VIDEO, PLAYBACK])
def test_null_optional_parameters_mean_not_set(task_type):
    # What the SDK sends for every keyword argument left at None.
    payload = copy.deepcopy(VALID[task_type])
    for key in ("callback_url", "unique_id", "tags", "priority", "batch", "instruction", "hypothesis"):
        payload[key] = None
    payload["clear_unique_id_on_error"] = None
    assert findings(task_type, payload) == []


def test_null_nested_optionals_mean_not_set():
    payload = copy.deepcopy(VALID[VIDEO])
    payload["geometries"]["box"]["min_height"] = None
    payload["geometries"]["polygon"]["max_vertices"] = None
    payload["annotation_attributes"]["speed"]["conditions"] = None
    payload["links"]["carToSign"]["is_bidirectional"] = None
    payload["metadata"] = {"note": None}  # a value inside user data, kept
    assert findings(VIDEO, payload) == []


def test_a_required_parameter_sent_as_null_is_still_missing():
    payload = {**copy.deepcopy(VALID[SEG]), "attachment": None}
    found = scale_rules.validate(SEG, payload)
    assert [(f.code, str(f), f.severity) for f in found] == [
        ("param.required", "attachment: is required for segmentannotation (null means not set)", "error")
    ]


@pytest.mark.parametrize(("task_type", "field"), [(SEG, "labels"), (VIDEO, "geometries"), (PLAYBACK, "geometries")])
def test_labels_may_come_from_the_project(task_type, field):
    payload = copy.deepcopy(VALID[task_type])
    del payload[field]
    found = scale_rules.validate(task_type, payload)
    # Conditions, links, linked attributes and the labelMapping name labels the project
    # defines: nothing can be checked against them, so nothing else is reported.
    assert [(f.code, f.path, f.severity) for f in found] == [("param.project_defined", field, "warning")]
    assert 'project "' in str(found[0])
    without_project = {k: v for k, v in payload.items() if k not in ("project", "batch")}
    assert (
        "param.required",
        field,
        "error",
    ) in findings(task_type, without_project)


def test_a_batch_also_brings_the_project():
    payload = {"batch": "streets-1", "attachment": "https://images.example.com/street.png"}
    assert findings(SEG, payload) == [("param.project_defined", "labels", "warning")]
