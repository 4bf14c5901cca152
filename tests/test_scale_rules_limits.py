"""Every documented limit: exactly at the limit is accepted, one past it is rejected."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from annotator import scale_rules

SEG = "segmentannotation"
PLAYBACK = "videoplaybackannotation"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Pure-Python tests: nothing to reset (overrides the Django cache fixture in conftest)."""
    yield


def segmentation(**changes: Any) -> dict[str, Any]:
    return {"attachment": "https://images.example.com/a.png", "labels": ["road", "car"], **changes}


def playback(**changes: Any) -> dict[str, Any]:
    payload = {
        "attachment_type": "video",
        "attachment": "https://videos.example.com/a.mp4",
        "geometries": {"polygon": {"objects_to_annotate": ["road"]}},
    }
    return {**payload, **changes}


def codes(task_type: str, payload: dict[str, Any]) -> list[str]:
    return [error.code for error in scale_rules.validate(task_type, payload)]


def metadata_of_size(size: int) -> dict[str, str]:
    metadata = {"k": ""}
    metadata["k"] = "x" * (size - scale_rules.metadata_size(metadata))
    assert scale_rules.metadata_size(metadata) == size
    return metadata


def test_it_allows_50_labels_but_not_51():
    assert codes(SEG, segmentation(labels=[f"label-{i}" for i in range(50)])) == []
    assert codes(SEG, segmentation(labels=[f"label-{i}" for i in range(51)])) == ["labels.max_count"]


def test_it_counts_top_level_labels_for_the_50_label_limit():
    # [UNCONFIRMED] see docs/scale-rules.md: 3 top-level entries holding 60 leaves is fine.
    groups = [{"choice": f"group-{g}", "subchoices": [f"l-{g}-{i}" for i in range(20)]} for g in range(3)]
    assert scale_rules.count_labels(groups) == 3
    assert codes(SEG, segmentation(labels=groups)) == []


def test_it_allows_5_tags_but_not_6():
    assert codes(SEG, segmentation(tags=list("abcde"))) == []
    assert codes(SEG, segmentation(tags=list("abcdef"))) == ["tags.max_count"]


def test_it_allows_10240_bytes_of_metadata_but_not_10241():
    assert codes(SEG, segmentation(metadata=metadata_of_size(10240))) == []
    assert codes(SEG, segmentation(metadata=metadata_of_size(10241))) == ["metadata.too_large"]


def test_it_measures_metadata_as_utf8_bytes_not_characters():
    # "é" is one character but two bytes of UTF-8; ensure_ascii=False keeps it unescaped.
    metadata = {"k": "é" * 5118}
    assert scale_rules.metadata_size(metadata) == len('{"k":""}') + 2 * 5118 == 10244
    assert codes(SEG, segmentation(metadata=metadata)) == ["metadata.too_large"]


@pytest.mark.parametrize("priority", [10, 20, 30, 30.0])
def test_it_accepts_the_three_priorities(priority):
    assert codes(PLAYBACK, playback(priority=priority)) == []


@pytest.mark.parametrize(
    ("priority", "code"),
    [
        (15, "priority.invalid"),
        (0, "priority.invalid"),
        (31, "priority.invalid"),
        (True, "type.integer"),
        ("10", "type.integer"),
        (10.5, "type.integer"),
    ],
)
def test_it_rejects_other_priorities(priority, code):
    assert codes(PLAYBACK, playback(priority=priority)) == [code]


def test_it_allows_a_1024_character_unique_id_but_not_1025():
    assert codes(SEG, segmentation(unique_id="u" * 1024)) == []
    assert codes(SEG, segmentation(unique_id="u" * 1025)) == ["unique_id.too_long"]


def test_it_allows_32_levels_of_label_nesting_but_not_33():
    def nested(depth: int) -> dict[str, Any]:
        label: Any = "leaf"
        for level in range(depth - 1):
            label = {"choice": f"level-{level}", "subchoices": [label]}
        return label

    assert codes(SEG, segmentation(labels=[nested(32)])) == []
    assert codes(SEG, segmentation(labels=[nested(33)])) == ["labels.too_deep"]


@pytest.mark.parametrize(
    ("geometry", "code"),
    [
        ({"min_vertices": 1}, None),
        ({"min_vertices": 0}, "geometry.min_vertices"),
        ({"min_vertices": 5, "max_vertices": 5}, None),
        ({"min_vertices": 5, "max_vertices": 4}, "geometry.max_vertices"),
        ({"max_vertices": 1}, None),
        ({"max_vertices": 0}, "geometry.max_vertices"),  # against the default min_vertices of 1
        ({"min_vertices": 5, "max_vertices": None}, None),
    ],
)
def test_it_checks_vertex_limits_at_the_boundary(geometry, code):
    geometries = {"line": {"objects_to_annotate": ["lane"], **geometry}}
    assert codes(PLAYBACK, playback(geometries=geometries)) == ([code] if code else [])


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("padding", 0, None),
        ("padding", -1, "padding.negative"),
        ("paddingY", 0, None),
        ("paddingY", -1, "padding.negative"),
        ("start_time", 0, None),
        ("start_time", -0.001, "time.negative"),
        ("duration_time", 0, None),
        ("duration_time", -1, "time.negative"),
        ("frame_rate", 0.001, None),
        ("frame_rate", 0, "frame_rate.not_positive"),
        ("video_frame_rate", -1, "frame_rate.not_positive"),
    ],
)
def test_it_checks_numeric_lower_bounds(field, value, code):
    assert codes(PLAYBACK, playback(**{field: value})) == ([code] if code else [])


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [("min_height", 0, None), ("min_height", -1, "geometry.min_size"), ("min_width", -1, "geometry.min_size")],
)
def test_it_checks_box_size_minimums(field, value, code):
    geometries = {"box": {"objects_to_annotate": ["car"], field: value}}
    assert codes(PLAYBACK, playback(geometries=geometries)) == ([code] if code else [])


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://v.example.com/a.mp4", True),
        ("https://v.example.com/a.WEBM", True),
        ("http://v.example.com/dir/a.ogg?sig=1#t=5", True),
        ("https://v.example.com/a.mov", False),
        ("s3://bucket/clips/a.avi", False),
    ],
)
def test_it_accepts_only_mp4_webm_and_ogg_videos(url, ok):
    assert codes(PLAYBACK, playback(attachment=url)) == ([] if ok else ["video.format"])


@pytest.mark.parametrize(
    "url",
    [
        "https://v.example.com/a.mp4/",
        "https://v.example.com/mp4",
        "https://v.example.com/a?file=b.mp4",
        "https://v.example.com/watch.php?id=3",
        "scaledata://5f1e0c6a9d2b7c0011a1b2c3/2b2d7ac1-7e6c-4d8e-9f3a-0c1d2e3f4a5b",
    ],
)
def test_it_only_warns_about_a_video_url_whose_format_it_cannot_tell(url):
    # Scale's own playback hypothesis example sends an extension-less scaledata:// video.
    findings = scale_rules.validate(PLAYBACK, playback(attachment=url))
    assert [(f.code, f.severity) for f in findings] == [("video.format_unknown", "warning")]


@pytest.mark.parametrize(
    ("callback_url", "ok"),
    [
        ("https://example.com/cb", True),
        ("http://localhost:8000/cb", True),
        ("ops@example.com", True),
        ("example.com/cb", False),
        ("ftp://example.com/cb", False),
        ("https://", False),
        ("https://exa mple.com/cb", False),
        ("http://[::1", False),
        ("ops@example", False),
    ],
)
def test_it_accepts_a_url_or_an_email_as_callback(callback_url, ok):
    assert codes(SEG, segmentation(callback_url=callback_url)) == ([] if ok else ["callback_url.invalid"])


def test_it_lets_a_hypothesis_use_index_1_but_not_0():
    labels = ["road"]
    hypothesis = {
        "labelMapping": {"road": {"index": 1}},
        "annotations": {"combined": {"indexedImage": "https://masks.example.com/m.png"}},
    }
    assert codes(SEG, segmentation(labels=labels, hypothesis=hypothesis)) == []
    zero = copy.deepcopy(hypothesis)
    zero["labelMapping"]["road"]["index"] = 0
    assert codes(SEG, segmentation(labels=labels, hypothesis=zero)) == ["hypothesis.index"]
