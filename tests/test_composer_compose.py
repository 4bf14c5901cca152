"""compose(): from what the composer posts to the payload, and everything derived from it."""

from __future__ import annotations

import ast
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator import scale_rules
from annotator.composer.compose import compose, curl_snippet, python_snippet
from annotator.composer.importing import import_payload
from annotator.composer.matrix import ALWAYS, CONDITIONAL, NEVER, when_asked

SEED = Path(__file__).parent / "fixtures" / "scale" / "seed_examples"
TYPES = ("segmentannotation", "videoannotation", "videoplaybackannotation")


def corrected(task_type: str) -> dict:
    return json.loads((SEED / f"{task_type}.corrected.json").read_text())["payload"]


SEGMENTATION_POST = {
    "project": "streets",
    "instruction": "Label **every** pixel.",
    "callback_url": "ops@example.org",
    "attachment": "https://example.org/street.png",
    "context_attachments": "https://example.org/ctx-1.png\n\n https://example.org/ctx-2.png ",
    "labels_json": json.dumps(
        [{"choice": "vehicle", "subchoices": [{"choice": "car", "instance_label": True}, "truck"]}, "road"]
    ),
    "attributes_json": json.dumps(
        {"occluded": {"type": "category", "description": "Occluded?", "choices": ["yes", "no"]}}
    ),
    "metadata_json": json.dumps({"source": "camera-3", "frame": 12}),
    "tags_json": json.dumps(["street", "day"]),
    "allow_unlabeled": "false",
    "priority": "20",
}


def test_it_builds_the_payload_in_scales_format_from_the_form():
    composition = compose("segmentannotation", SEGMENTATION_POST)
    assert composition.issues == []
    assert composition.payload == {
        "project": "streets",
        "instruction": "Label **every** pixel.",
        "callback_url": "ops@example.org",
        "attachment": "https://example.org/street.png",
        "context_attachments": [
            {"attachment": "https://example.org/ctx-1.png"},
            {"attachment": "https://example.org/ctx-2.png"},
        ],
        "labels": [{"choice": "vehicle", "subchoices": [{"choice": "car", "instance_label": True}, "truck"]}, "road"],
        "annotation_attributes": {
            "occluded": {"type": "category", "description": "Occluded?", "choices": ["yes", "no"]}
        },
        "allow_unlabeled": False,
        "priority": 20,
        "metadata": {"source": "camera-3", "frame": 12},
        "tags": ["street", "day"],
    }
    assert scale_rules.validate("segmentannotation", composition.payload) == []


def test_it_drops_blank_fields_and_keeps_tri_state_defaults_out():
    composition = compose("videoannotation", {"attachment": "https://e.org/v.mp4", "geometries_json": '{"box": {}}'})
    assert composition.payload == {
        "attachment_type": "video",
        "attachment": "https://e.org/v.mp4",
        "geometries": {"box": {}},
    }
    assert composition.is_valid


@pytest.mark.parametrize(
    ("post", "field", "words"),
    [
        ({"labels_json": json.dumps([f"l{i}" for i in range(51)])}, "labels_json", "at most 50 labels"),
        ({"tags_json": json.dumps(list("abcdef"))}, "tags_json", "at most 5 tags"),
        ({"metadata_json": json.dumps({"k": "x" * 11000})}, "metadata_json", "10 KB"),
        ({"callback_url": "not a url"}, "callback_url", "email address"),
        ({"attachment": ""}, "attachment", "is required"),
        ({"labels_json": "[not json"}, "labels_json", "valid JSON"),
        ({"attributes_json": json.dumps({"a": {"type": "category", "description": "d", "choices": "choices"}})},
         "attributes_json", "must be an array"),
    ],
)  # fmt: skip
def test_it_puts_each_rule_error_next_to_the_field_that_caused_it(post, field, words):
    data = {"attachment": "https://e.org/a.png", "labels_json": '["car"]', **post}
    composition = compose("segmentannotation", data)
    assert not composition.is_valid
    messages = [issue.local for issue in composition.issues_for(field)]
    assert any(words in message for message in messages), (field, [str(i) for i in composition.issues])


def test_it_maps_nested_paths_to_the_builder_and_keeps_the_path_in_the_message():
    geometries = {"polygon": {"min_vertices": 10, "max_vertices": 3, "objects_to_annotate": ["car"]}}
    composition = compose(
        "videoannotation", {"attachment": "https://e.org/v.mp4", "geometries_json": json.dumps(geometries)}
    )
    (issue,) = composition.issues_for("geometries_json")
    assert issue.path == "geometries.polygon.max_vertices"
    assert issue.local.startswith("geometries.polygon.max_vertices: must be at least min_vertices (10)")


def test_an_error_without_a_path_of_its_own_lands_on_the_attachment_field():
    composition = compose("videoplaybackannotation", {"geometries_json": '{"box": {}}'})
    assert [issue.message for issue in composition.issues_for("attachment")] == [
        "videoplaybackannotation needs attachment (a video URL) or attachments (image frame URLs)"
    ]


def test_video_only_fields_are_not_in_the_segmentation_form_and_vice_versa():
    seg = compose("segmentannotation", {}).form
    video = compose("videoannotation", {}).form
    playback = compose("videoplaybackannotation", {}).form
    assert "geometries_json" not in seg.fields and "frame_rate" not in seg.fields
    assert "labels_json" not in video.fields and "context_attachments" not in video.fields
    assert "video_frame_rate" in playback.fields and "video_frame_rate" not in video.fields
    from annotator.composer.forms import FIELD_TO_KEY, FORM_ONLY_FIELDS

    for form in (seg, video, playback):
        keys = {FIELD_TO_KEY.get(name, name) for name in form.fields if name not in FORM_ONLY_FIELDS}
        # every parameter Scale knows for the type has a place in its form, and nothing else does
        assert keys == set(scale_rules.ALLOWED_FIELDS[form.task_type])


@pytest.mark.parametrize("task_type", TYPES)
def test_importing_a_scale_payload_fills_the_form_and_gives_the_same_payload_back(task_type):
    payload = corrected(task_type)
    imported = import_payload(task_type, payload)
    assert imported.kept == []
    composition = compose(task_type, imported.data)
    assert composition.payload == payload
    assert json.dumps(composition.payload) == json.dumps(payload)  # same keys, order and characters
    assert composition.issues == []


def test_importing_keeps_what_the_form_cannot_show_as_written():
    payload = {
        "attachment": "https://e.org/a.png",
        "labels": ["car"],
        "geometries": {"box": {}},
        "frobnicate": 1,
        "context_attachments": [{"attachment": "https://e.org/c.png", "note": "x"}],
        "priority": "high",
    }
    imported = import_payload("segmentannotation", payload)
    assert imported.kept == ["geometries", "frobnicate", "context_attachments", "priority"]
    assert json.loads(imported.data["labels_json"]) == ["car"]
    assert json.loads(imported.data["extra_json"]) == {key: payload[key] for key in imported.kept}
    composition = compose("segmentannotation", imported.data)
    assert composition.payload == payload
    # What Scale's rules refuse is reported against the "Other parameters" box it sits in.
    assert {issue.field for issue in composition.issues} == {"extra_json"}


@pytest.mark.parametrize("task_type", TYPES)
def test_the_python_snippet_is_valid_python_that_sends_exactly_the_payload(task_type):
    payload = scale_rules.build_payload(task_type, corrected(task_type))
    payload["metadata"] = {"flag": True, "nothing": None, "quote": 'it\'s "quoted"\nnewline', "emoji": "🚗"}
    snippet = python_snippet(task_type, payload, "http://127.0.0.1:8000/sandbox/v1")
    tree = ast.parse(snippet)
    literal = next(node.value for node in tree.body if isinstance(node, ast.Assign) and node.targets[0].id == "payload")
    assert ast.literal_eval(literal) == payload
    sdk_name = {"segmentannotation": "SegmentAnnotation", "videoannotation": "VideoAnnotation"}.get(
        task_type, "VideoPlaybackAnnotation"
    )
    assert f"client.create_task(TaskType.{sdk_name}, **payload)" in snippet
    from scaleapi.tasks import TaskType

    assert TaskType[sdk_name].value == task_type
    assert "api_instance_url='http://127.0.0.1:8000/sandbox/v1'" in snippet


def test_the_python_snippet_runs_against_the_real_sdk_up_to_the_request(monkeypatch):
    payload = scale_rules.build_payload("segmentannotation", corrected("segmentannotation"))
    snippet = python_snippet("segmentannotation", payload, "https://api.scale.com/v1")
    assert "api_instance_url" not in snippet
    sent = {}

    def fake_create_task(self, task_type, **kwargs):  # the network is the one part that cannot run here
        sent["type"], sent["payload"] = task_type, kwargs

        class Task:
            id, status = "t1", "pending"

        return Task()

    import scaleapi

    monkeypatch.setattr(scaleapi.ScaleClient, "create_task", fake_create_task)
    monkeypatch.setenv("SCALE_API_KEY", "test_key")
    exec(compile(snippet, "snippet", "exec"), {})  # noqa: S102 - our own generated code
    assert sent["type"].value == "segmentannotation"
    assert sent["payload"] == payload


class _Recorder(BaseHTTPRequestHandler):
    requests: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Recorder.requests.append((self.path, self.headers.get("Authorization"), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_the_curl_snippet_posts_exactly_the_payload_when_run_by_bash():
    payload = scale_rules.build_payload("videoannotation", corrected("videoannotation"))
    payload["instruction"] = "Shell must not expand $HOME, `id`, $(whoami) or 'quotes'\nEOF\n"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}/v1"
        snippet = curl_snippet("videoannotation", payload, base)
        result = subprocess.run(
            ["bash", "-c", snippet], env={"SCALE_API_KEY": "test_abc", "PATH": "/usr/bin:/bin"},
            capture_output=True, timeout=20, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    finally:
        server.shutdown()
    path, auth, body = _Recorder.requests[-1]
    assert path == "/v1/task/videoannotation"
    assert auth == "Basic dGVzdF9hYmM6"  # base64("test_abc:")
    assert json.loads(body) == payload


def test_the_matrix_shows_where_each_attribute_is_asked():
    attributes = {
        "color": {"type": "category", "description": "Color?", "choices": ["red", "blue"],
                  "conditions": {"label_condition": {"label": ["car"]}}},
        "shade": {"type": "category", "description": "Shade?", "choices": ["light", "dark"],
                  "conditions": {"attribute_conditions": [{"color": "red"}]}},
        "note": {"type": "text", "description": "Anything?"},
    }  # fmt: skip
    matrix = when_asked(["car", "person"], attributes)
    states = {row.attribute: [state for state, _ in row.cells] for row in matrix.rows}
    assert states == {
        "color": [ALWAYS, NEVER],
        "shade": [CONDITIONAL, NEVER],
        "note": [ALWAYS, ALWAYS],
    }
    assert matrix.rows[1].cells[0][1] == "if color is red"
    assert matrix.warnings == []


def test_the_matrix_flags_conditions_that_can_never_be_true():
    attributes = {
        "color": {"type": "category", "description": "?", "choices": ["red", "blue"],
                  "conditions": {"label_condition": {"label": ["car"]}}},
        # asked for persons only, but depends on color, which is asked for cars only
        "shade": {"type": "category", "description": "?", "choices": ["x"],
                  "conditions": {"label_condition": {"label": ["person"]}, "attribute_conditions": [{"color": "red"}]}},
        "a": {"type": "category", "description": "?", "choices": ["y"],
              "conditions": {"attribute_conditions": [{"b": "y"}]}},
        "b": {"type": "category", "description": "?", "choices": ["y"],
              "conditions": {"attribute_conditions": [{"a": "y"}]}},
        "ghost": {"type": "category", "description": "?", "choices": ["z"],
                  "conditions": {"label_condition": {"label": ["bicycle"]}}},
    }  # fmt: skip
    matrix = when_asked(["car", "person"], attributes)
    warnings = "\n".join(matrix.warnings)
    assert (
        "shade: condition 1 (color is red) can never be true for the labels this attribute is asked for (person)"
        in warnings
    )
    assert "a: its conditions depend on themselves (a circular dependency)" in warnings
    assert "b: its conditions depend on themselves (a circular dependency)" in warnings
    assert "ghost: its label condition names none of this task's labels" in warnings
    assert all(state == NEVER for state, _ in matrix.rows[1].cells)


def test_segmentation_attributes_are_asked_of_instance_labels_only():
    """§1.1: a segmentation attribute that is not global is asked of instance annotations only.
    The matrix said "asked" for road and sky while the rules warned it would never be asked there."""
    attributes = {
        "occluded": {"type": "category", "description": "?", "choices": ["yes", "no"]},
        "how_much": {"type": "category", "description": "?", "choices": ["some", "lot"],
                     "conditions": {"attribute_conditions": [{"occluded": "yes"}]}},
        "weather": {"type": "category", "description": "?", "choices": ["sun", "rain"], "global": True},
        "surface": {"type": "category", "description": "?", "choices": ["dry", "wet"],
                    "conditions": {"label_condition": {"label": ["road"]}}},
    }  # fmt: skip
    matrix = when_asked(["car", "road"], attributes, instance_labels={"car"})
    states = {row.attribute: [state for state, _ in row.cells] for row in matrix.rows}
    assert states == {
        "occluded": [ALWAYS, NEVER],
        "how_much": [CONDITIONAL, NEVER],
        "weather": [ALWAYS, ALWAYS],  # global: asked of the whole image
        "surface": [NEVER, NEVER],
    }
    assert matrix.rows[0].cells[1][1] == "segmentation attributes are asked of instance labels only"
    assert matrix.warnings == [
        "surface: segmentation attributes are asked of instance labels only, and none of its labels (road) "
        "sets instance_label: true, so it is never asked (or mark it global: true)"
    ]
    # No instance label at all: validate() warns once for all, the matrix adds nothing per row.
    assert when_asked(["car", "road"], attributes, instance_labels=set()).warnings == []
    # The video types have no such rule.
    assert [s for s, _ in when_asked(["car", "road"], attributes).rows[0].cells] == [ALWAYS, ALWAYS]


def test_the_preview_matrix_follows_instance_labels(alice_client):
    labels = ["road", {"choice": "car", "instance_label": True}]
    attributes = {"occluded": {"type": "category", "description": "Hidden?", "choices": ["yes", "no"]}}
    form = {
        "attachment": "https://example.org/street.png",
        "labels_json": json.dumps(labels),
        "attributes_json": json.dumps(attributes),
    }
    page = alice_client.post("/compose/segmentannotation/preview/", form).content.decode()
    row = page[page.index('<th scope="row">occluded</th>') :]
    row = row[: row.index("</tr>")]
    assert '<td class="cell-always" title="">asked</td>' in row  # car
    assert '<td class="cell-never" title="segmentation attributes are asked of instance labels only">' in row


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(), inner, max_size=6),
    max_leaves=40,
)


@given(_json_values)
@settings(max_examples=300, deadline=None)
def test_the_python_literal_reads_back_as_the_same_value_in_the_same_key_order(value):
    from annotator.composer.compose import python_literal

    literal = python_literal(value)
    back = ast.literal_eval(literal)
    assert back == value
    assert json.dumps(back) == json.dumps(value)  # dict key order survives too
