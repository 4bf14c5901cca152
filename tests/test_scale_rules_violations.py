"""One valid payload per task type, and one single-rule violation per rule code."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from annotator import scale_rules
from annotator.scale_rules import doc

SEG = "segmentannotation"
VIDEO = "videoannotation"
PLAYBACK = "videoplaybackannotation"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Pure-Python tests: nothing to reset (overrides the Django cache fixture in conftest)."""
    yield


FRAMES = [
    "https://static.example.com/drive/0000000005.png",
    "https://static.example.com/drive/0000000008.png",
]

SEGMENTATION_PAYLOAD: dict[str, Any] = {
    "project": "Streets",
    "batch": "streets-1",
    "instruction": "Label every pixel.",
    "callback_url": "https://dashboard.example.com/scale/callback",
    "attachment_type": "image",
    "attachment": "https://images.example.com/street.png",
    "context_attachments": [{"attachment": "https://images.example.com/street-wide.png"}],
    "labels": [
        {
            "choice": "vehicle",
            "display": "Vehicle",
            "subchoices": [{"choice": "car", "instance_label": True}, "truck"],
        },
        {"choice": "person", "instance_label": True},
        "road",
    ],
    "annotation_attributes": {
        "occluded": {"type": "category", "description": "Occluded?", "choices": ["yes", "no"]},
        "moving": {
            "description": "Moving?",
            "choices": [{"choice": "moving", "subchoices": ["fast", "slow"]}, "parked"],
            "allow_multiple": False,
            "conditions": {
                "label_condition": {"label": ["car", "person"]},
                "attribute_conditions": [{"occluded": "no"}, {"occluded": ["yes"]}],
            },
        },
        "count": {"type": "number", "description": "How many?", "min": 0, "max": 10, "step": 1},
        "owner": {"type": "linked", "description": "Whose?", "allowed_labels": ["person"], "required": False},
    },
    "allow_unlabeled": False,
    "hypothesis": {
        "labelMapping": {
            "road": {"index": 1, "color": "#ff0000"},
            "car": [{"index": 2}, {"index": 3, "color": "#00ff00"}],
        },
        "annotations": {"combined": {"indexedImage": "https://masks.example.com/street.png"}},
    },
    "priority": 20,
    "metadata": {"asset": 17, "source": "fleet"},
    "unique_id": "ws-1:asset-17",
    "clear_unique_id_on_error": True,
    "tags": ["streets", "batch-1"],
}

VIDEO_PAYLOAD: dict[str, Any] = {
    "project": "Drives",
    "instruction": "Track every object.",
    "callback_url": "ops@example.com",
    "attachment_type": "image",
    "attachments": FRAMES,
    "geometries": {
        "box": {
            "objects_to_annotate": ["car", {"choice": "big", "subchoices": ["truck", "bus"]}],
            "min_height": 5,
            "min_width": 5,
            "can_rotate": True,
            "integer_pixels": False,
        },
        "polygon": {"objects_to_annotate": ["road"], "min_vertices": 3, "max_vertices": 10},
        "line": {"objects_to_annotate": ["lane"], "min_vertices": 2, "max_vertices": None},
        "point": {
            "objects_to_annotate": ["left_eye", "right_eye", "nose"],
            "connections": [{"pair": ["left_eye", "right_eye"], "connection_attribute": "face"}],
        },
        "cuboid": {
            "objects_to_annotate": ["van"],
            "min_height": 0,
            "min_width": 0,
            "camera_intrinsics": {"fx": 1000, "fy": 1000, "cx": 640, "cy": 360, "skew": 0, "scalefactor": 1},
            "camera_rotation_quaternion": {"w": 1, "x": 0, "y": 0, "z": 0},
            "camera_height": 1.5,
        },
        "ellipse": {"objects_to_annotate": ["sign"]},
    },
    "annotation_attributes": {
        "is_moving": {"description": "Moving?", "choices": ["Yes", "No"]},
        "speed": {
            "type": "number",
            "description": "Speed",
            "min": 0,
            "max": 200,
            "step": 0.5,
            "conditions": {"attribute_conditions": [{"is_moving": "Yes"}]},
        },
        "heading": {"type": "angle", "description": "Heading", "conditions": {"label_condition": {"label": "car"}}},
        "plate": {"type": "text", "description": "Plate"},
        "face": {"type": "linked", "description": "Which face?", "allowed_labels": ["nose"]},
    },
    "links": {"carToSign": {"is_bidirectional": False, "from_allowed_labels": ["car"], "to_allowed_labels": ["sign"]}},
    "events_to_annotate": ["Turning", "Braking"],
    "frame_rate": 5,
    "start_time": 0,
    "duration_time": 30,
    "padding": 10,
    "paddingX": 0,
    "paddingY": 5,
    "hypothesis": {"annotations": {"url": "https://files.example.com/hypothesis.json"}},
    "base_annotations": {"annotations": [{"label": "car", "type": "box", "left": 1, "top": 2}]},
    "can_add_base_annotations": True,
    "can_edit_base_annotations": False,
    "can_edit_base_annotation_labels": False,
    "can_delete_base_annotations": False,
    "priority": 30,
    "tags": ["drives"],
}

PLAYBACK_PAYLOAD: dict[str, Any] = {
    **copy.deepcopy(VIDEO_PAYLOAD),
    "attachment_type": "video",
    "attachment": "https://videos.example.com/drive.mp4?X-Amz-Signature=abc",
    "annotation_frame_rate": 5,
    "video_frame_rate": 29.97,
    "links": {"carToSign": [{"is_bidirectional": True, "from_allowed_labels": ["car"], "to_allowed_labels": ["sign"]}]},
}
del PLAYBACK_PAYLOAD["attachments"]

VALID = {SEG: SEGMENTATION_PAYLOAD, VIDEO: VIDEO_PAYLOAD, PLAYBACK: PLAYBACK_PAYLOAD}
_DELETE = object()


def _walk(payload: Any, path: str) -> tuple[Any, Any]:
    """(container, key) of a dotted path such as `labels[0].subchoices[1]`."""
    steps: list[Any] = []
    for part in path.split("."):
        name, *indexes = re.split(r"\[", part)
        if name:
            steps.append(name)
        steps.extend(int(index.rstrip("]")) for index in indexes)
    container = payload
    for step in steps[:-1]:
        container = container[step]
    return container, steps[-1]


def put(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(payload: dict[str, Any]) -> None:
        container, key = _walk(payload, path)
        if value is _DELETE:
            del container[key]
        elif isinstance(container, list) and key == len(container):
            container.append(copy.deepcopy(value))
        else:
            container[key] = copy.deepcopy(value)

    return mutate


def extend(path: str, items: list[Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(payload: dict[str, Any]) -> None:
        container, key = _walk(payload, path)
        container[key].extend(copy.deepcopy(items))

    return mutate


def drop(path: str) -> Callable[[dict[str, Any]], None]:
    return put(path, _DELETE)


def both(*mutations: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def mutate(payload: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(payload)

    return mutate


def nested_labels(depth: int) -> dict[str, Any]:
    label: dict[str, Any] = {"choice": "leaf"}
    for level in range(depth):
        label = {"choice": f"level-{level}", "subchoices": [label]}
    return label


SPEED = "annotation_attributes.speed"
PLATE = "annotation_attributes.plate"
HEADING_CONDITION = "annotation_attributes.heading.conditions.label_condition"
CONNECTION = "geometries.point.connections[0]"
INTRINSICS = "geometries.cuboid.camera_intrinsics"
MAPPING = "hypothesis.labelMapping"

# code -> (task type, mutation of the valid payload, path the error must have)
VIOLATIONS: dict[str, tuple[str, Callable[[dict[str, Any]], None], str]] = {
    "param.unknown": (SEG, put("padding", 10), "padding"),
    "param.required": (SEG, drop("attachment"), "attachment"),
    "param.project_defined": (SEG, both(drop("labels"), drop("hypothesis")), "labels"),
    "field.expected": (VIDEO, drop(f"{PLATE}.description"), f"{PLATE}.description"),
    "field.unknown": (SEG, put("labels[2]", {"choice": "road", "colour": "grey"}), "labels[2].colour"),
    "field.required": (VIDEO, drop(f"{INTRINSICS}.fx"), f"{INTRINSICS}.fx"),
    "type.boolean": (SEG, put("allow_unlabeled", "false"), "allow_unlabeled"),
    "type.integer": (VIDEO, put("padding", 1.5), "padding"),
    "type.number": (VIDEO, put("frame_rate", "5"), "frame_rate"),
    "type.string": (SEG, put("project", 5), "project"),
    "type.object": (SEG, put("metadata", ["a"]), "metadata"),
    "type.array": (SEG, put("tags", "streets"), "tags"),
    "string.empty": (SEG, put("unique_id", ""), "unique_id"),
    "attachment_type.invalid": (SEG, put("attachment_type", "video"), "attachment_type"),
    "attachment.missing": (VIDEO, drop("attachments"), "attachments"),
    "attachments.forbidden": (
        VIDEO,
        both(put("attachment_type", "video"), put("attachment", "https://v.example.com/a.webm")),
        "attachments",
    ),
    "attachment.forbidden": (VIDEO, put("attachment", "https://v.example.com/a.mp4"), "attachment"),
    "attachments.empty": (VIDEO, put("attachments", []), "attachments"),
    "url.invalid": (SEG, put("attachment", "ftp://images.example.com/street.png"), "attachment"),
    "video.format": (PLAYBACK, put("attachment", "https://videos.example.com/drive.avi"), "attachment"),
    "video.format_unknown": (PLAYBACK, put("attachment", "https://videos.example.com/stream"), "attachment"),
    "callback_url.invalid": (SEG, put("callback_url", "www.example.com/callback"), "callback_url"),
    "context_attachments.same_as_attachment": (
        SEG,
        put("context_attachments[0].attachment", "https://images.example.com/street.png"),
        "context_attachments[0].attachment",
    ),
    "priority.invalid": (VIDEO, put("priority", 15), "priority"),
    "tags.max_count": (SEG, put("tags", ["a", "b", "c", "d", "e", "f"]), "tags"),
    "metadata.too_large": (SEG, put("metadata", {"blob": "x" * 10240}), "metadata"),
    "metadata.not_json": (SEG, put("metadata", {"ratio": float("nan")}), "metadata"),
    "unique_id.too_long": (SEG, put("unique_id", "u" * 1025), "unique_id"),
    "padding.negative": (VIDEO, put("paddingX", -1), "paddingX"),
    "frame_rate.not_positive": (PLAYBACK, put("annotation_frame_rate", 0), "annotation_frame_rate"),
    "time.negative": (VIDEO, put("start_time", -0.5), "start_time"),
    "labels.empty": (SEG, both(put("labels", []), drop("hypothesis"), drop("annotation_attributes")), "labels"),
    "labels.max_count": (SEG, extend("labels", [f"extra-{i}" for i in range(48)]), "labels"),
    "labels.too_deep": (SEG, put("labels[3]", nested_labels(40)), "labels[3]" + ".subchoices[0]" * 31 + ".subchoices"),
    "label.invalid": (SEG, put("labels[2]", 5), "labels[2]"),
    "label.nested_array": (SEG, put("labels[2]", ["road"]), "labels[2]"),
    "label.name_empty": (SEG, put("labels[0].subchoices[1]", "  "), "labels[0].subchoices[1]"),
    "label.subchoices_empty": (SEG, put("labels[1].subchoices", []), "labels[1].subchoices"),
    "label.duplicate": (SEG, put("labels[3]", "car"), "labels[3]"),
    "label.instance_label_not_allowed": (
        VIDEO,
        put("geometries.ellipse.objects_to_annotate[0]", {"choice": "sign", "instance_label": True}),
        "geometries.ellipse.objects_to_annotate[0].instance_label",
    ),
    "geometries.empty": (VIDEO, put("geometries", {}), "geometries"),
    "geometry.unknown_kind": (VIDEO, put("geometries.circle", {}), "geometries.circle"),
    "geometry.point_xy": (VIDEO, put("geometries.point.x", " "), "geometries.point.x"),
    "geometry.min_size": (VIDEO, put("geometries.box.min_height", -1), "geometries.box.min_height"),
    "geometry.min_vertices": (VIDEO, put("geometries.line.min_vertices", 0), "geometries.line.min_vertices"),
    "geometry.max_vertices": (VIDEO, put("geometries.polygon.max_vertices", 2), "geometries.polygon.max_vertices"),
    "box.integer_pixels_rotated": (
        VIDEO,
        put("geometries.box.integer_pixels", True),
        "geometries.box.integer_pixels",
    ),
    "point.pair": (VIDEO, put(f"{CONNECTION}.pair", ["left_eye"]), f"{CONNECTION}.pair"),
    "point.pair_label": (VIDEO, put(f"{CONNECTION}.pair[1]", "car"), f"{CONNECTION}.pair[1]"),
    "point.connection_attribute": (
        VIDEO,
        put(f"{CONNECTION}.connection_attribute", "is_moving"),
        f"{CONNECTION}.connection_attribute",
    ),
    "cuboid.scalefactor_conflict": (VIDEO, put(f"{INTRINSICS}.scale_factor", 1), f"{INTRINSICS}.scale_factor"),
    "cuboid.scalefactor_positive": (VIDEO, put(f"{INTRINSICS}.scalefactor", 0), f"{INTRINSICS}.scalefactor"),
    "cuboid.camera_partial": (VIDEO, drop("geometries.cuboid.camera_height"), "geometries.cuboid"),
    "attribute.type": (VIDEO, put("annotation_attributes.plate.type", "colour"), "annotation_attributes.plate.type"),
    "attribute.choices": (
        VIDEO,
        put("annotation_attributes.is_moving.choices", "choices"),
        "annotation_attributes.is_moving.choices",
    ),
    "attribute.number_range": (VIDEO, put(f"{SPEED}.min", 300), f"{SPEED}.max"),
    "attribute.step": (VIDEO, put(f"{SPEED}.step", 0), f"{SPEED}.step"),
    "attribute.allowed_labels": (
        VIDEO,
        put("annotation_attributes.face.allowed_labels", []),
        "annotation_attributes.face.allowed_labels",
    ),
    "attribute.allowed_label_unknown": (
        VIDEO,
        put("annotation_attributes.face.allowed_labels[1]", "big"),
        "annotation_attributes.face.allowed_labels[1]",
    ),
    "attributes.no_instance_labels": (
        SEG,
        both(put("labels", ["road", "car", "person"]), drop("hypothesis")),
        "annotation_attributes",
    ),
    "condition.empty": (VIDEO, put(f"{SPEED}.conditions", {}), f"{SPEED}.conditions"),
    "condition.label_condition_shape": (VIDEO, put(HEADING_CONDITION, ["car"]), HEADING_CONDITION),
    "condition.attribute_conditions_shape": (
        VIDEO,
        put(f"{SPEED}.conditions.attribute_conditions", {"is_moving": "Yes"}),
        f"{SPEED}.conditions.attribute_conditions",
    ),
    "condition.value": (VIDEO, put(f"{HEADING_CONDITION}.label", 5), f"{HEADING_CONDITION}.label"),
    "condition.unknown_label": (
        VIDEO,
        put(f"{HEADING_CONDITION}.label", ["car", "big"]),
        f"{HEADING_CONDITION}.label[1]",
    ),
    "condition.unknown_attribute": (
        VIDEO,
        put(f"{SPEED}.conditions.attribute_conditions[1]", {"ghost": "x"}),
        f"{SPEED}.conditions.attribute_conditions[1].ghost",
    ),
    "condition.self_reference": (
        VIDEO,
        put(f"{SPEED}.conditions.attribute_conditions[0].speed", "10"),
        f"{SPEED}.conditions.attribute_conditions[0].speed",
    ),
    "condition.unknown_choice": (
        VIDEO,
        put(f"{SPEED}.conditions.attribute_conditions[0].is_moving", ["Yes", "Maybe"]),
        f"{SPEED}.conditions.attribute_conditions[0].is_moving[1]",
    ),
    "link.shape": (VIDEO, put("links.carToSign", ["car", "sign"]), "links.carToSign"),
    "link.labels_empty": (
        PLAYBACK,
        put("links.carToSign[0].from_allowed_labels", []),
        "links.carToSign[0].from_allowed_labels",
    ),
    "link.unknown_label": (
        VIDEO,
        put("links.carToSign.to_allowed_labels[0]", "unicorn"),
        "links.carToSign.to_allowed_labels[0]",
    ),
    "events.duplicate": (VIDEO, put("events_to_annotate[2]", "Turning"), "events_to_annotate[2]"),
    "base_annotations.annotations_missing": (
        VIDEO,
        put("base_annotations", {"url": "https://files.example.com/base.json"}),
        "base_annotations.annotations",
    ),
    "base_annotations.annotations_shape": (
        VIDEO,
        put("base_annotations.annotations", "https://files.example.com/base.json"),
        "base_annotations.annotations",
    ),
    "base_annotations.flags_without_base": (VIDEO, drop("base_annotations"), "can_add_base_annotations"),
    "hypothesis.required": (PLAYBACK, put("hypothesis.annotations", {}), "hypothesis.annotations.url"),
    "hypothesis.annotations_shape": (VIDEO, put("hypothesis.annotations", "x"), "hypothesis.annotations"),
    "hypothesis.unknown_label": (SEG, put(f"{MAPPING}.vehicle", {"index": 9}), f"{MAPPING}.vehicle"),
    "hypothesis.instance_shape": (SEG, put(f"{MAPPING}.car", {"index": 2}), f"{MAPPING}.car"),
    "hypothesis.index": (SEG, put(f"{MAPPING}.road.index", 0), f"{MAPPING}.road.index"),
    "hypothesis.duplicate_index": (SEG, put(f"{MAPPING}.car[1].index", 1), f"{MAPPING}.car[1].index"),
}


def violated(code: str) -> tuple[str, dict[str, Any], str]:
    task_type, mutate, path = VIOLATIONS[code]
    payload = copy.deepcopy(VALID[task_type])
    mutate(payload)
    return task_type, payload, path


@pytest.mark.parametrize("task_type", [SEG, VIDEO, PLAYBACK])
def test_it_accepts_the_valid_payloads(task_type):
    assert scale_rules.validate(task_type, VALID[task_type]) == []


def test_it_reports_unknown_task_types_and_non_object_payloads():
    assert [e.code for e in scale_rules.validate("imageannotation", VALID[SEG])] == ["task_type.unknown"]
    assert [e.code for e in scale_rules.validate(SEG, ["attachment"])] == ["payload.not_object"]
    assert str(scale_rules.validate(SEG, None)[0]) == "the task parameters must be a JSON object, got null"


@pytest.mark.parametrize("code", sorted(VIOLATIONS))
def test_it_reports_each_rule_on_its_own(code):
    task_type, payload, path = violated(code)
    errors = scale_rules.validate(task_type, payload)
    assert (code, path) in [(e.code, e.path) for e in errors], [str(e) for e in errors]


def test_it_has_a_single_violation_case_for_every_rule():
    # task_type.unknown and payload.not_object have no valid payload to mutate: tested above.
    assert {rule.code for rule in scale_rules.RULES} == set(VIOLATIONS) | doc.WHOLE_PAYLOAD_CODES


def test_it_uses_only_codes_from_the_rule_table():
    codes = set(scale_rules.RULES_BY_CODE)
    for code in VIOLATIONS:
        task_type, payload, _ = violated(code)
        assert {e.code for e in scale_rules.validate(task_type, payload)} <= codes


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("geometry.max_vertices", "geometries.polygon.max_vertices: must be at least min_vertices (3), got 2"),
        ("labels.max_count", "labels: at most 50 labels are allowed (got 51)"),
        ("tags.max_count", "tags: at most 5 tags are allowed (got 6)"),
        ("metadata.too_large", "metadata: must be at most 10 KB as encoded JSON (got 10,251 bytes)"),
        ("video.format", "attachment: video must be an mp4, webm or ogg file (got '.avi')"),
        (
            "param.unknown",
            "padding: 'padding' is not a documented parameter of segmentannotation (only "
            "videoannotation and videoplaybackannotation accept it); it is sent as it is",
        ),
        (
            "type.boolean",
            'allow_unlabeled: must be true or false (a JSON boolean, not a string), got the string "false"',
        ),
        ("priority.invalid", "priority: must be 10, 20 or 30, got 15"),
        ("label.duplicate", 'labels[3]: duplicate label "car" (also at labels[0].subchoices[0].choice)'),
        (
            "condition.unknown_choice",
            "annotation_attributes.speed.conditions.attribute_conditions[0]."
            'is_moving[1]: "Maybe" is not a choice of attribute "is_moving" (choices: No, Yes)',
        ),
    ],
)
def test_it_writes_messages_for_people(code, expected):
    task_type, payload, path = violated(code)
    messages = [str(e) for e in scale_rules.validate(task_type, payload) if e.path == path]
    assert expected in messages


def test_it_reports_every_error_not_just_the_first():
    payload = copy.deepcopy(VIDEO_PAYLOAD)
    payload.update(priority=15, tags=list("abcdef"), padding=-1, frame_rate=0)
    assert {e.code for e in scale_rules.validate(VIDEO, payload)} == {
        "priority.invalid",
        "tags.max_count",
        "padding.negative",
        "frame_rate.not_positive",
    }


def test_it_prints_top_level_errors_without_a_path():
    error = scale_rules.RuleError("", "videoannotation needs attachment", "attachment.missing")
    assert str(error) == "videoannotation needs attachment"
    assert str(scale_rules.RuleError("tags", "too many", "tags.max_count")) == "tags: too many"
    with pytest.raises(AttributeError):
        error.path = "x"  # frozen


def test_it_accepts_both_spellings_of_scalefactor_and_both_link_forms():
    payload = copy.deepcopy(VIDEO_PAYLOAD)
    intrinsics = payload["geometries"]["cuboid"]["camera_intrinsics"]
    intrinsics["scale_factor"] = intrinsics.pop("scalefactor")
    payload["links"]["carToSign"] = [payload["links"]["carToSign"]]
    assert scale_rules.validate(VIDEO, payload) == []


def test_it_lets_videoplayback_send_both_attachment_and_attachments():
    payload = copy.deepcopy(PLAYBACK_PAYLOAD)
    payload.update(attachment_type="image", attachments=FRAMES)
    assert scale_rules.validate(PLAYBACK, payload) == []


def test_it_infers_a_missing_attachment_type_from_what_is_sent():
    video = copy.deepcopy(PLAYBACK_PAYLOAD)
    del video["attachment_type"]
    assert scale_rules.validate(PLAYBACK, video) == []
    neither = copy.deepcopy(video)
    del neither["attachment"]
    assert [(e.code, e.path) for e in scale_rules.validate(PLAYBACK, neither)] == [("attachment.missing", "")]


def test_it_only_warns_about_a_video_url_without_an_extension():
    payload = copy.deepcopy(PLAYBACK_PAYLOAD)
    payload["attachment"] = "https://videos.example.com/stream?id=3.mp4"
    findings = scale_rules.validate(PLAYBACK, payload)
    assert [(str(f), f.severity) for f in findings] == [
        (
            "attachment: make sure the video is an mp4, webm or ogg file: the URL path has no file "
            "extension, so it cannot be checked here",
            "warning",
        )
    ]


def test_it_accepts_priority_on_segmentation():
    # [UNCONFIRMED] documented as a decision in docs/scale-rules.md
    assert scale_rules.validate(SEG, {**SEGMENTATION_PAYLOAD, "priority": 10}) == []


def test_it_quotes_keys_that_would_break_a_dotted_path():
    payload = copy.deepcopy(VIDEO_PAYLOAD)
    payload["annotation_attributes"]["is.moving"] = {"description": "x", "choices": "Yes"}
    paths = [e.path for e in scale_rules.validate(VIDEO, payload)]
    assert paths == ['annotation_attributes["is.moving"].choices']
