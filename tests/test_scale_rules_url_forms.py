"""Every URL form Scale takes, and the legacy and project-level forms production code sends."""

from __future__ import annotations

import copy

import pytest

from annotator import scale_rules
from tests.test_scale_rules_violations import PLAYBACK, SEG, VALID, VIDEO


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Pure-Python tests: nothing to reset (overrides the Django cache fixture in conftest)."""
    yield


def findings(task_type: str, payload: object) -> list[tuple[str, str, str]]:
    return [(f.code, f.path, f.severity) for f in scale_rules.validate(task_type, payload)]


STORAGE = [
    "s3://fleet-frames/2024/05/street.png",
    "S3://fleet-frames/street.png",
    "gs://fleet-frames/street.png",
    "scaledata://5f1e0c6a9d2b7c0011a1b2c3/2b2d7ac1-7e6c-4d8e-9f3a-0c1d2e3f4a5b",
    "https://fleet-frames.s3.amazonaws.com/street.png?X-Amz-Signature=abc",
    "http://10.0.0.7:9000/frames/street.png",
]


def variant(url: str, name: str) -> str:
    """Another file in the same place (a context image must differ from the attachment)."""
    return url.replace("street", name) if "street" in url else f"{url}-{name}"


@pytest.mark.parametrize("url", STORAGE)
def test_every_attachment_place_takes_every_scheme_scale_reads(url):
    seg = copy.deepcopy(VALID[SEG])
    seg["attachment"] = url
    seg["context_attachments"] = [{"attachment": variant(url, "wide")}]
    seg["hypothesis"]["annotations"]["combined"]["indexedImage"] = variant(url, "mask")
    assert findings(SEG, seg) == []

    video = copy.deepcopy(VALID[VIDEO])
    video["attachments"] = [url, variant(url, "street-2")]
    video["hypothesis"] = {"annotations": {"url": variant(url, "hypothesis")}}
    video["base_annotations"] = {"annotations": {"url": variant(url, "base")}}
    assert findings(VIDEO, video) == []

    playback = copy.deepcopy(VALID[PLAYBACK])
    playback["hypothesis"] = {"annotations": {"url": variant(url, "tracks")}}
    assert findings(PLAYBACK, playback) == []


@pytest.mark.parametrize(
    "url",
    ["s3://fleet/clips/drive.mp4", "gs://fleet/drive.webm", "scaledata://5f1e0c6a9d2b7c0011a1b2c3/drive.ogg"],
)
def test_a_video_in_a_bucket_is_a_video(url):
    payload = {**copy.deepcopy(VALID[PLAYBACK]), "attachment": url}
    assert findings(PLAYBACK, payload) == []


@pytest.mark.parametrize(
    "url", ["ftp://frames.example.com/a.png", "file:///data/a.png", "s3://", "scaledata://", "attachment_url", " "]
)
def test_other_text_is_only_a_warning(url):
    payload = {**copy.deepcopy(VALID[VIDEO]), "attachments": [url]}
    assert findings(VIDEO, payload) == [("url.invalid", "attachments[0]", "warning")]


def test_storage_urls_are_recognised_for_the_preview_placeholder():
    assert scale_rules.is_storage_url("s3://b/k.png") and scale_rules.is_storage_url("GS://b/k.png")
    assert scale_rules.is_storage_url("scaledata://abc/def")
    assert not scale_rules.is_storage_url("https://b.s3.amazonaws.com/k.png")
    assert not scale_rules.is_storage_url(None)


def test_scales_own_playback_example_with_an_extensionless_video_is_accepted():
    # docs.scale.com/reference/video-playback-annotation-hypothesis: the video is an
    # uploaded file without an extension.
    payload = {
        "attachment": "scaledata://5f1e0c6a9d2b7c0011a1b2c3/7e6c4d8e-9f3a-0c1d",
        "attachment_type": "video",
        "geometries": {"box": {"objects_to_annotate": ["car"]}},
        "hypothesis": {"annotations": {"url": "https://example.com/hypothesis.json"}},
    }
    assert findings(PLAYBACK, payload) == [("video.format_unknown", "attachment", "warning")]
    assert scale_rules.errors(scale_rules.validate(PLAYBACK, payload)) == []


def test_legacy_instance_labels_count_as_instance_labels():
    # The 2019 API: a separate list of instance labels (a recorded create echoed it back).
    payload = {
        "attachment": "https://images.example.com/street.png",
        "labels": ["road", "sky"],
        "instance_labels": ["car", "person"],
        "annotation_attributes": {"occluded": {"description": "Occluded?", "choices": ["yes", "no"]}},
        "hypothesis": {
            "labelMapping": {"road": {"index": 1}, "car": [{"index": 2}, {"index": 3}]},
            "annotations": {"combined": {"indexedImage": "https://masks.example.com/m.png"}},
        },
    }
    assert findings(SEG, payload) == []
    payload["hypothesis"]["labelMapping"]["person"] = {"index": 4}
    assert ("hypothesis.instance_shape", "hypothesis.labelMapping.person", "error") in findings(SEG, payload)


@pytest.mark.parametrize("task_type", [VIDEO, PLAYBACK])
def test_with_labels_and_urgency_are_known_parameters(task_type):
    payload = {**copy.deepcopy(VALID[task_type]), "with_labels": True, "urgency": "day"}
    assert findings(task_type, payload) == []


def test_global_attributes_are_accepted_and_need_no_instance_label():
    payload = {
        "attachment": "https://images.example.com/street.png",
        "labels": ["road", "sky"],
        "annotation_attributes": {
            "weather": {"type": "category", "description": "Weather", "choices": ["sun", "rain"], "global": True},
            "time": {"type": "category", "description": "Time of day", "choices": ["day", "night"], "global": True},
        },
    }
    assert findings(SEG, payload) == []
    # A per-instance attribute without any instance label is only a warning.
    payload["annotation_attributes"]["occluded"] = {"description": "Occluded?", "choices": ["yes", "no"]}
    assert findings(SEG, payload) == [("attributes.no_instance_labels", "annotation_attributes", "warning")]


def test_scales_is_global_condition_marks_a_scene_attribute():
    # docs.scale.com/reference/global-attributes: "is_global": true inside conditions.
    payload = {
        "attachment": "https://images.example.com/street.png",
        "labels": ["road", "sky"],
        "annotation_attributes": {
            "is_night": {
                "type": "category",
                "description": "Does this scene take place at night?",
                "choices": ["Yes", "No"],
                "conditions": {"is_global": True},
            }
        },
    }
    assert findings(SEG, payload) == []
    payload["annotation_attributes"]["is_night"]["conditions"]["is_global"] = "yes"
    assert ("type.boolean", "annotation_attributes.is_night.conditions.is_global", "error") in findings(SEG, payload)


def test_a_global_video_attribute_may_be_conditioned_on_an_event():
    payload = copy.deepcopy(VALID[VIDEO])
    payload["annotation_attributes"]["severity"] = {
        "description": "How hard?",
        "choices": ["light", "hard"],
        "global": True,
        "conditions": {"label_condition": {"label": "Braking"}},
    }
    assert findings(VIDEO, payload) == []


def test_the_same_label_under_two_geometries_is_fine_but_twice_in_one_is_a_warning():
    payload = copy.deepcopy(VALID[VIDEO])
    payload["geometries"]["polygon"]["objects_to_annotate"].append("car")  # also a box label
    payload["geometries"]["point"]["objects_to_annotate"].append("car")
    assert findings(VIDEO, payload) == []
    payload["geometries"]["ellipse"]["objects_to_annotate"] += ["sign"]
    assert findings(VIDEO, payload) == [("label.duplicate", "geometries.ellipse.objects_to_annotate[1]", "warning")]


def test_labels_omitted_where_the_project_defines_them():
    payload = {
        "project": "streets",
        "attachment": "s3://fleet-frames/street.png",
        "annotation_attributes": {
            "owner": {"type": "linked", "description": "Whose?", "allowed_labels": ["person"]},
            "moving": {
                "description": "Moving?",
                "choices": ["yes", "no"],
                "conditions": {"label_condition": {"label": "car"}},
            },
        },
        "hypothesis": {
            "labelMapping": {"car": [{"index": 1}], "road": {"index": 2}},
            "annotations": {"combined": {"indexedImage": "gs://fleet-masks/street.png"}},
        },
    }
    assert findings(SEG, payload) == [("param.project_defined", "labels", "warning")]
