"""The public API of annotator.scale_rules: constants, helpers and build_payload."""

from __future__ import annotations

import json

import pytest

from annotator import scale_rules


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Pure-Python tests: nothing to reset (overrides the Django cache fixture in conftest)."""
    yield


def test_it_exposes_the_documented_constants():
    assert scale_rules.TASK_TYPES == ("segmentannotation", "videoannotation", "videoplaybackannotation")
    assert scale_rules.MAX_LABELS == 50
    assert scale_rules.MAX_TAGS == 5
    assert scale_rules.MAX_METADATA_BYTES == 10240
    assert scale_rules.PRIORITIES == (10, 20, 30)
    assert scale_rules.VIDEO_EXTENSIONS == ("mp4", "webm", "ogg")
    assert scale_rules.GEOMETRY_KINDS == ("box", "polygon", "line", "point", "cuboid", "ellipse")
    assert scale_rules.ATTRIBUTE_TYPES == ("category", "number", "angle", "text", "x_line", "y_line", "linked")


def test_it_lists_required_and_allowed_fields_per_task_type():
    assert scale_rules.REQUIRED_FIELDS["segmentannotation"] == {"attachment", "labels"}
    assert scale_rules.REQUIRED_FIELDS["videoannotation"] == {"geometries"}
    assert scale_rules.REQUIRED_FIELDS["videoplaybackannotation"] == {"geometries"}
    for task_type in scale_rules.TASK_TYPES:
        assert scale_rules.REQUIRED_FIELDS[task_type] <= scale_rules.ALLOWED_FIELDS[task_type]
    assert "allow_unlabeled" not in scale_rules.ALLOWED_FIELDS["videoannotation"]
    assert "padding" not in scale_rules.ALLOWED_FIELDS["segmentannotation"]
    assert "annotation_frame_rate" in scale_rules.ALLOWED_FIELDS["videoplaybackannotation"]
    assert "annotation_frame_rate" not in scale_rules.ALLOWED_FIELDS["videoannotation"]


def test_it_keeps_one_rule_per_code():
    codes = [rule.code for rule in scale_rules.RULES]
    assert len(codes) == len(set(codes))
    assert all(rule.description and rule.source and rule.confidence for rule in scale_rules.RULES)


def test_it_lists_leaf_labels_in_order():
    labels = [
        "road",
        {"choice": "vehicle", "subchoices": ["car", {"choice": "big", "subchoices": ["truck", "bus"]}]},
        {"choice": "person", "display": "Person"},
        {"choice": "empty-parent", "subchoices": []},
        ["junk"],
        "",
        7,
    ]
    assert scale_rules.leaf_labels(labels) == ["road", "car", "truck", "bus", "person"]
    assert scale_rules.leaf_labels(None) == []


def test_it_lists_leaves_of_very_deep_trees_without_recursion():
    label: object = "bottom"
    for level in range(5000):
        label = {"choice": f"l{level}", "subchoices": [label]}
    assert scale_rules.leaf_labels([label]) == ["bottom"]


def test_it_counts_labels_as_top_level_entries():
    assert scale_rules.count_labels(["a", {"choice": "b", "subchoices": ["c", "d"]}]) == 2
    assert scale_rules.count_labels("abc") == 0


def test_it_measures_metadata_as_compact_utf8_json():
    metadata = {"name": "café", "n": [1, 2.5, None, True]}
    expected = len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())
    assert scale_rules.metadata_size(metadata) == expected == 38  # "é" is two bytes


def test_it_measures_very_deep_metadata_without_recursion_errors():
    deep: object = []
    for _ in range(5000):
        deep = [deep]
    assert scale_rules.metadata_size({"d": deep}) == len('{"d":}') + 2 * 5001


def test_it_drops_empty_optionals_and_keeps_false_and_zero():
    payload = scale_rules.build_payload(
        "videoannotation",
        {
            "attachments": ["https://f.example.com/1.png", ""],
            "geometries": {
                "box": {"objects_to_annotate": ["car", None], "min_height": 0, "can_rotate": False},
                "polygon": {"objects_to_annotate": [], "max_vertices": None},
                "ellipse": None,
            },
            "project": "",
            "batch": "  ",
            "instruction": None,
            "tags": [],
            "metadata": {"keep": "", "also": None},
            "events_to_annotate": ["Turning", ""],
            "padding": 0,
            "annotation_attributes": {},
            "clear_unique_id_on_error": False,
        },
    )
    assert payload == {
        "attachment_type": "image",
        "attachments": ["https://f.example.com/1.png"],
        "geometries": {"box": {"objects_to_annotate": ["car"], "min_height": 0, "can_rotate": False}, "polygon": {}},
        "events_to_annotate": ["Turning"],
        "padding": 0,
        "metadata": {"keep": "", "also": None},
        "clear_unique_id_on_error": False,
    }
    assert scale_rules.validate("videoannotation", payload) == []


def test_it_writes_keys_in_a_stable_order():
    data = {"tags": ["t"], "labels": ["road"], "zzz": 1, "attachment": "https://i.example.com/a.png", "project": "p"}
    assert list(scale_rules.build_payload("segmentannotation", data)) == [
        "project",
        "attachment",
        "labels",
        "tags",
        "zzz",
    ]
    reordered = dict(reversed(list(data.items())))
    assert list(scale_rules.build_payload("segmentannotation", reordered)) == list(
        scale_rules.build_payload("segmentannotation", data)
    )


def test_it_infers_attachment_type_for_video_types():
    geometries = {"box": {}}
    video = scale_rules.build_payload(
        "videoplaybackannotation", {"geometries": geometries, "attachment": "https://v.example.com/a.mp4"}
    )
    assert video["attachment_type"] == "video"
    assert list(video) == ["attachment_type", "attachment", "geometries"]
    frames = scale_rules.build_payload("videoannotation", {"geometries": geometries, "attachments": ["https://f/1"]})
    assert frames["attachment_type"] == "image"


def test_it_writes_scale_factor_as_scalefactor():
    camera = {"fx": 1, "fy": 1, "cx": 0, "cy": 0, "scale_factor": 2}
    payload = scale_rules.build_payload(
        "videoannotation",
        {"attachments": ["https://f.example.com/1.png"], "geometries": {"cuboid": {"camera_intrinsics": camera}}},
    )
    assert payload["geometries"]["cuboid"]["camera_intrinsics"] == {
        "fx": 1,
        "fy": 1,
        "cx": 0,
        "cy": 0,
        "scalefactor": 2,
    }
    assert camera["scale_factor"] == 2  # the input is not modified


def test_it_refuses_to_build_for_unknown_task_types_or_non_mappings():
    with pytest.raises(ValueError, match="unknown task type"):
        scale_rules.build_payload("imageannotation", {})
    with pytest.raises(TypeError):
        scale_rules.build_payload("segmentannotation", ["attachment"])


def test_leaf_labels_with_instance_inherits_the_parent_flag_unless_a_leaf_overrides_it():
    labels = [
        "road",
        {
            "choice": "vehicle",
            "instance_label": True,
            "subchoices": ["car", {"choice": "parked", "instance_label": False}],
        },
        {"choice": "person", "instance_label": True},
    ]
    assert scale_rules.leaf_labels_with_instance(labels) == [
        ("road", False),
        ("car", True),
        ("parked", False),
        ("person", True),
    ]
    assert scale_rules.leaf_labels(labels) == ["road", "car", "parked", "person"]
