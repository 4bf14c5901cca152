"""The seed doc's request examples: rejected as written, accepted once corrected per the reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotator import scale_rules

EXAMPLES = Path(__file__).parent / "fixtures" / "scale" / "seed_examples"
SEED_EXAMPLES = sorted(EXAMPLES.glob("*.seed*.json"))
CORRECTED_EXAMPLES = sorted(EXAMPLES.glob("*corrected.json"))


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Pure-Python tests: nothing to reset (overrides the Django cache fixture in conftest)."""
    yield


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_it_has_an_example_of_each_task_type_both_ways():
    for task_type in scale_rules.TASK_TYPES:
        assert any(load(path)["task_type"] == task_type for path in SEED_EXAMPLES)
        assert any(load(path)["task_type"] == task_type for path in CORRECTED_EXAMPLES)


@pytest.mark.parametrize("path", CORRECTED_EXAMPLES, ids=lambda path: path.name)
def test_it_accepts_the_corrected_seed_examples(path):
    example = load(path)
    assert scale_rules.validate(example["task_type"], example["payload"]) == []


@pytest.mark.parametrize("path", CORRECTED_EXAMPLES, ids=lambda path: path.name)
def test_it_builds_the_corrected_seed_examples_unchanged(path):
    example = load(path)
    assert scale_rules.build_payload(example["task_type"], example["payload"]) == example["payload"]


@pytest.mark.parametrize("path", SEED_EXAMPLES, ids=lambda path: path.name)
def test_it_rejects_the_seed_examples_with_the_expected_errors(path):
    example = load(path)
    errors = scale_rules.validate(example["task_type"], example["payload"])
    assert sorted([e.code, e.path] for e in errors) == sorted(example["expected_errors"])


def explain(name: str) -> dict[str, str]:
    """path -> the messages at that path, joined."""
    example = load(EXAMPLES / name)
    messages: dict[str, str] = {}
    for error in scale_rules.validate(example["task_type"], example["payload"]):
        messages[error.path] = f"{messages[error.path]} | {error.message}" if error.path in messages else error.message
    return messages


def test_it_explains_what_is_wrong_in_the_segmentation_example():
    messages = explain("segmentannotation.seed.json")
    assert 'Scale\'s documentation shows [["vehicle"], ...], which is not a documented' in messages["labels[0]"]
    assert 'not a string (got "choices"' in messages["annotation_attributes.newKey.choices"]
    assert messages["annotation_attributes.newKey.type"].startswith('unknown attribute type "type"')
    conditions = "annotation_attributes.newKey.conditions"
    assert (
        "documentation uses an array here; the documented form is an object"
        in messages[f"{conditions}.label_condition"]
    )
    shape = messages[f"{conditions}.attribute_conditions"]
    assert "uses a single object here; the documented form is an array" in shape


def test_it_explains_what_is_wrong_in_the_playback_examples():
    messages = explain("videoplaybackannotation.seed.json")
    assert "comes from its API schema" in messages["geometries.point.x"]
    assert messages["geometries.polygon.max_vertices"] == 'must be an integer or null, got a blank string " "'
    types = explain("videoplaybackannotation.seed-param-types.json")
    assert types["events_to_annotate"] == "must be an array of event names (strings), got 2"
    assert types["duration_time"] == "must be a number of seconds, got an array"
    assert types["frame_rate"] == "must be a number of frames per second, got an object"


def test_it_explains_what_is_wrong_in_the_video_example():
    messages = explain("videoannotation.seed.json")
    assert 'it may not be able to read "attachment_url"' in messages["attachment"]
    assert "only videoplaybackannotation accepts both" in messages["attachment"]
    # "large vehicle" under polygon, line, point and ellipse: Scale's own example does it,
    # so only the repeat inside the point list is reported.
    assert messages["geometries.point.objects_to_annotate[1]"] == (
        'duplicate label "large vehicle" (also at geometries.point.objects_to_annotate[0])'
    )
    for kind in ("line", "ellipse"):
        assert f"geometries.{kind}.objects_to_annotate[0]" not in messages
