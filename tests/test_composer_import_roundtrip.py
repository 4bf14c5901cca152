"""The import keeps everything: a payload imported and composed again is the same JSON text.

Key for key, character for character, in the same key order: what a builder shows goes to its
field; everything else (unknown or legacy keys, nulls, empty values, shapes no builder draws)
is kept under "Other parameters" and sent as written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotator.composer.compose import compose
from annotator.composer.importing import import_payload, same

FIXTURES = Path(__file__).parent / "fixtures"
TYPES = ("segmentannotation", "videoannotation", "videoplaybackannotation")


def _payloads_in(value: Any, file_type: str | None = None):
    """(task_type, payload) of every task payload in a fixture: example files, task params."""
    if isinstance(value, dict):
        task_type = value.get("task_type") or value.get("type") or file_type
        if task_type in TYPES and isinstance(value.get("payload"), dict):
            yield task_type, value["payload"]
        if task_type in TYPES and isinstance(value.get("params"), dict):
            yield task_type, value["params"]
        for child in value.values():
            yield from _payloads_in(child, file_type)
    elif isinstance(value, list):
        for child in value:
            yield from _payloads_in(child, file_type)


def example_payloads() -> list[tuple[str, str, dict]]:
    found = []
    files = sorted((FIXTURES / "scale").rglob("*.json")) + sorted((FIXTURES / "sandbox").glob("*.json"))
    for path in files:
        content = json.loads(path.read_text())
        file_type = path.stem if path.parent.name == "sandbox" else None
        if file_type in TYPES and isinstance(content, dict) and "payload" not in content:
            content = {"task_type": file_type, "payload": content}
        for i, (task_type, payload) in enumerate(_payloads_in(content)):
            found.append((f"{path.parent.name}/{path.stem}#{i}", task_type, payload))
    return found


EXAMPLES = example_payloads()


def roundtrip(task_type: str, payload: dict) -> dict:
    imported = import_payload(task_type, payload)
    # What the browser posts is text: every value of the form data is a string.
    assert all(isinstance(value, str) for value in imported.data.values())
    return compose(task_type, imported.data).payload


def test_there_are_examples_of_every_type():
    assert {task_type for _, task_type, _ in EXAMPLES} == set(TYPES)
    assert len(EXAMPLES) >= 15


@pytest.mark.parametrize(("name", "task_type", "payload"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_every_example_payload_comes_back_character_for_character(name, task_type, payload):
    again = roundtrip(task_type, payload)
    assert json.dumps(again, ensure_ascii=False) == json.dumps(payload, ensure_ascii=False)
    assert same(again, payload)


def test_the_instructions_whitespace_and_numbers_as_written_survive():
    payload = {
        "instruction": "    code block\n\n  two spaces\ttab  \n",
        "attachment": "https://e.org/v.mp4",
        "geometries": {"box": {"objects_to_annotate": ["car"], "min_width": 5.0}},
        "frame_rate": 5.0,
        "start_time": 1e-3,
        "duration_time": 10,
        "padding": 0,
        "priority": 20,
        "metadata": {},
        "tags": [],
        "project": None,
        "with_labels": True,
        "mystery": {"nested": [None, "", {}]},
    }
    imported = import_payload("videoplaybackannotation", payload)
    assert imported.kept == ["metadata", "tags", "project", "with_labels", "mystery"]
    assert "instruction" in imported.in_form and "frame_rate" in imported.in_form
    again = compose("videoplaybackannotation", imported.data).payload
    assert json.dumps(again) == json.dumps(payload)


# ---------------------------------------------------------------- generated payloads

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
KNOWN_KEYS = (
    "project", "batch", "instruction", "callback_url", "attachment_type", "attachment", "attachments",
    "context_attachments", "labels", "geometries", "annotation_attributes", "links", "events_to_annotate",
    "frame_rate", "annotation_frame_rate", "video_frame_rate", "start_time", "duration_time", "padding",
    "paddingX", "paddingY", "allow_unlabeled", "priority", "unique_id", "clear_unique_id_on_error", "metadata",
    "tags", "hypothesis", "base_annotations", "can_add_base_annotations", "can_edit_base_annotations",
)  # fmt: skip
# Keys that are also the names of form fields or form-only fields: never a field of their own.
TRICKY_KEYS = ("labels_json", "extra_json", "key_order", "attachment ", "")


@st.composite
def payloads(draw):
    task_type = draw(st.sampled_from(TYPES))
    _, _, start = draw(st.sampled_from([e for e in EXAMPLES if e[1] == task_type]))
    payload = dict(start)
    for key in draw(st.lists(st.sampled_from(KNOWN_KEYS + TRICKY_KEYS), max_size=6)):
        payload[key] = draw(JSON)
    for key in draw(st.lists(st.text(min_size=1, max_size=8), max_size=3)):
        payload[key] = draw(JSON)
    keys = list(payload)
    order = draw(st.permutations(keys))
    return task_type, {key: payload[key] for key in order}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads())
def test_any_payload_with_unknown_keys_and_odd_values_comes_back_as_it_went_in(case):
    task_type, payload = case
    again = roundtrip(task_type, payload)
    assert json.dumps(again, ensure_ascii=False) == json.dumps(payload, ensure_ascii=False)
    assert same(again, payload)
