"""Finished sandbox tasks carry real result files: PNG masks, per-frame JSON, demo media."""

from __future__ import annotations

import io
import json
from pathlib import Path

import av
import pytest
import requests
import scaleapi
from PIL import Image
from scaleapi.tasks import TaskType

from tests import support

FIXTURES = Path(__file__).parent / "fixtures" / "sandbox"
KEY = "test_results_key"

pytestmark = pytest.mark.django_db(transaction=True)


def payload(task_type: str, **changes) -> dict:
    data = json.loads((FIXTURES / f"{task_type}.json").read_text())
    data.update(changes)
    return data


@pytest.fixture
def sdk(live_server, settings, tmp_path):

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SANDBOX_COMPLETE_AFTER = 0  # due at once: the first read completes it
    settings.SANDBOX_FAULTS = ""
    support.sandbox_account(KEY, "cb-key")
    return scaleapi.ScaleClient(KEY, api_instance_url=f"{live_server.url}/sandbox/v1")


def download(url: str) -> requests.Response:
    # Generous: the first request of a demo video encodes it, slow on a loaded machine.
    answer = requests.get(url, timeout=120)
    assert answer.status_code == 200, answer.text
    return answer


def test_segmentation_masks_are_real_pngs(sdk, live_server):
    task = sdk.get_task(sdk.create_task(TaskType.SegmentAnnotation, **payload("segmentannotation")).id)
    assert task.status == "completed"
    response = task.response
    mapping = response["labelMapping"]
    # Leaves only (vegetation has subchoices), instance labels as lists.
    assert set(mapping) == {"road", "sky", "tree", "grass", "car"}
    assert isinstance(mapping["car"], list) and len(mapping["car"]) >= 2
    indexes = [mapping[k]["index"] for k in ("road", "sky", "tree", "grass")] + [e["index"] for e in mapping["car"]]
    assert len(set(indexes)) == len(indexes)
    assert all(
        url.startswith(live_server.url + "/sandbox/results/") for url in response["annotations"]["labeled"]["car"]
    )

    indexed_answer = download(response["annotations"]["combined"]["indexedImage"])
    assert indexed_answer.headers["Content-Type"] == "image/png"
    indexed = Image.open(io.BytesIO(indexed_answer.content))
    assert indexed.mode == "L"
    assert indexed.size == (640, 400)  # from the attachment's name
    values = {v for _, v in indexed.getcolors()}
    assert values <= {0, *indexes}
    assert 0 not in values  # allow_unlabeled is false: every pixel is labelled
    assert len(values) >= 3

    combined = Image.open(io.BytesIO(download(response["annotations"]["combined"]["image"]).content))
    assert combined.mode == "RGBA"
    road = mapping["road"]
    road_pixel = next(
        xy
        for xy in ((x, y) for y in range(0, 400, 7) for x in range(0, 640, 7))
        if indexed.getpixel(xy) == road["index"]
    )
    expected = tuple(int(road["color"][i : i + 2], 16) for i in (1, 3, 5))
    assert combined.getpixel(road_pixel) == (*expected, 255)

    extended = Image.open(io.BytesIO(download(response["annotations"]["combined"]["extendedIndexedImage"]).content))
    assert extended.mode == "RGBA"
    assert extended.getpixel(road_pixel)[0] == road["index"]
    car_mask = Image.open(io.BytesIO(download(response["annotations"]["labeled"]["car"][0]).content))
    assert car_mask.mode == "RGBA"
    assert Image.open(io.BytesIO(download(response["annotations"]["unlabeled"]).content)).mode == "RGBA"

    # The same task always gives the same pixels (the files are drawn from its id).
    assert download(response["annotations"]["combined"]["indexedImage"]).content == indexed_answer.content


def test_unlabeled_pixels_appear_only_when_allowed(sdk):
    task = sdk.get_task(
        sdk.create_task(TaskType.SegmentAnnotation, **payload("segmentannotation", allow_unlabeled=True)).id
    )
    indexed = Image.open(io.BytesIO(download(task.response["annotations"]["combined"]["indexedImage"]).content))
    assert 0 in {v for _, v in indexed.getcolors()}


def test_result_urls_cannot_be_guessed(sdk, live_server):
    task = sdk.get_task(sdk.create_task(TaskType.SegmentAnnotation, **payload("segmentannotation")).id)
    url = task.response["annotations"]["combined"]["indexedImage"]
    name = url.rsplit("/", 1)[1]
    forged = name[:25] + ("0" if name[25] != "0" else "1") + name[26:]
    assert requests.get(url.rsplit("/", 1)[0] + "/" + forged, timeout=5).status_code == 404


def test_video_annotations_have_one_entry_per_frame_with_stable_uuids(sdk):
    task = sdk.get_task(sdk.create_task(TaskType.VideoAnnotation, **payload("videoannotation")).id)
    assert task.status == "completed"
    frames = download(task.response["annotations"]["url"]).json()
    assert len(frames) == 4  # one per attachment
    uuids = [{a["uuid"]: a["label"] for a in frame["annotations"]} for frame in frames]
    assert all(u == uuids[0] for u in uuids)  # same objects, same labels in every frame
    assert set(uuids[0].values()) == {"small vehicle", "large vehicle", "sidewalk"}
    boxes = [next(a for a in f["annotations"] if a["label"] == "small vehicle") for f in frames]
    assert all({"left", "top", "width", "height"} <= set(b) for b in boxes)
    assert boxes[0]["left"] != boxes[-1]["left"] or boxes[0]["top"] != boxes[-1]["top"]  # it moves
    assert boxes[0]["attributes"]["moving"] in ("yes", "no")
    sidewalk = next(a for a in frames[0]["annotations"] if a["label"] == "sidewalk")
    assert sidewalk["type"] == "polygon" and len(sidewalk["vertices"]) >= 3
    assert "moving" not in sidewalk["attributes"]  # label_condition excludes it
    events = download(task.response["events"]["url"]).json()["events"]
    assert [e["label"] for e in events] == ["Turning"]


def test_video_playback_tracks_are_keyed_by_uuid(sdk):
    task = sdk.get_task(sdk.create_task(TaskType.VideoPlaybackAnnotation, **payload("videoplaybackannotation")).id)
    tracks = download(task.response["annotations"]["url"]).json()
    assert {t["label"] for t in tracks.values()} == {"car", "truck"}
    for track in tracks.values():
        assert track["geometry"] == "box"
        assert len(track["frames"]) == 6  # traffic.mp4: 3 s at frame_rate 2
        keys = [f["key"] for f in track["frames"]]
        assert keys == sorted(keys)
        assert {"key", "timestamp", "left", "top", "width", "height", "attributes"} <= set(track["frames"][0])
    assert "events" in download(task.response["events"]["url"]).json()


def test_a_sandbox_error_attachment_ends_in_error(sdk):
    body = payload("segmentannotation", attachment="https://assets.example.com/sandbox-error/missing.png")
    body["clear_unique_id_on_error"] = True
    task = sdk.get_task(sdk.create_task(TaskType.SegmentAnnotation, **body).id)
    assert task.status == "error"
    assert task.response == {
        "error": "One or more attachments could not be downloaded.",
        "attachments": [{"statusCode": 404, "url": "https://assets.example.com/sandbox-error/missing.png"}],
    }
    assert "unique_id" not in task.as_dict()  # cleared: the id may be resubmitted
    retry = sdk.create_task(TaskType.SegmentAnnotation, **payload("segmentannotation"))
    assert retry.unique_id == body["unique_id"]


def test_demo_media_is_generated_and_served(sdk, live_server):
    from annotator.sandbox.media import demo_media_urls

    urls = demo_media_urls(live_server.url)
    assert set(urls) == {"street-1.png", "street-2.png", "street-3.png", "traffic.mp4", "traffic.webm"}
    image_answer = download(urls["street-2.png"])
    assert image_answer.headers["Content-Type"] == "image/png"
    assert "max-age" in image_answer.headers["Cache-Control"]
    assert Image.open(io.BytesIO(image_answer.content)).size == (640, 400)

    video = download(urls["traffic.mp4"])
    assert video.headers["Content-Type"] == "video/mp4"
    with av.open(io.BytesIO(video.content)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (320, 240)
        assert sum(1 for _ in container.decode(stream)) == 75
    part = requests.get(urls["traffic.mp4"], headers={"Range": "bytes=0-99"}, timeout=5)
    assert part.status_code == 206
    assert part.content == video.content[:100]
    assert download(urls["traffic.webm"]).headers["Content-Type"] == "video/webm"
    assert requests.get(f"{live_server.url}/sandbox/media/nope.png", timeout=5).status_code == 404


@pytest.mark.parametrize(
    ("params", "frames"),
    [
        ({"attachment": "https://x/traffic.mp4", "frame_rate": 2}, 6),  # the whole 3 s
        ({"attachment": "https://x/traffic.mp4", "frame_rate": 2, "duration_time": 10}, 6),  # cut at the end
        ({"attachment": "https://x/traffic.mp4", "frame_rate": 2, "duration_time": 1}, 2),
        ({"attachment": "https://x/traffic.mp4", "frame_rate": 2, "start_time": 2, "duration_time": 10}, 2),
        ({"attachment": "https://x/traffic.mp4", "frame_rate": 2, "start_time": 2}, 2),
        ({"attachment": "https://x/traffic.mp4", "frame_rate": 2, "start_time": 5}, 1),  # past the end: one frame
        ({"attachment": "https://x/their-own.mp4", "frame_rate": 2, "duration_time": 10}, 20),  # length unknown
        ({"attachment": "https://x/traffic.mp4", "frame_rate": 2, "duration_time": True}, 6),  # not a number
    ],
)
def test_a_demo_videos_window_ends_where_the_video_does(params, frames):
    from annotator.sandbox.results import video_shape

    assert video_shape(params)[2] == frames
