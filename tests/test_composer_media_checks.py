"""The composer's checks against the media: guarded, bounded fetching, and the warnings they give."""

from __future__ import annotations

import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client
from PIL import Image

from annotator.composer import media_checks
from annotator.composer.media_checks import IMAGE, VIDEO, MediaInfo
from tests import mp4_support as mp4
from tests.hostile import HostileServer


def png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(out, "PNG")
    return out.getvalue()


def jpeg_with_big_exif(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, (10, 20, 30))
    exif = Image.Exif()
    exif[0x010E] = "x" * 60_000  # ImageDescription: the frame size comes after 60 KB of it
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


class MediaServer:
    """Files over real HTTP: /range/<name> answers Range requests, /plain/<name> ignores them.

    Records each request's path and Range header, and the body bytes it sent."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[tuple[str, str]] = []
        self.sent = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                outer.requests.append((self.path, self.headers.get("Range", "")))
                mode, _, name = self.path.lstrip("/").partition("/")
                data = outer.files.get(name)
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                match = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
                if mode == "range" and match:
                    start, end = int(match[1]), min(int(match[2]), len(data) - 1)
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    body = data[start : end + 1]
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                else:
                    body = data
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for i in range(0, len(body), 65536):
                        self.wfile.write(body[i : i + 65536])
                        outer.sent += len(body[i : i + 65536])
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the reader had enough: that is the point

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def clips():
    return {
        "fast.mp4": mp4.encode(2, 10, (64, 48), faststart=True),
        "last.mp4": mp4.encode(3, 25, (96, 64), faststart=False),
        # A big file whose moov is at the end: the checks read its start and its end only.
        "big-last.mp4": mp4.handmade(seconds=6, fps=30, size=(1280, 720), moov_last=True, mdat_bytes=3_000_000),
        "clip.webm": mp4.encode_webm(2, 10, (64, 48)),
        "frame.png": png((640, 400)),
        "frame.jpg": jpeg_with_big_exif((320, 200)),
        "text.txt": b"hello " * 1000,
    }


@pytest.fixture
def media(clips, settings):
    server = MediaServer(clips)
    settings.FETCH_TRUSTED_URLS = [server.url + "/"]
    settings.MEDIA_CHECK_TIMEOUT = 10
    yield server
    server.close()


def test_a_faststart_video_is_read_with_one_range_request(media):
    info = media_checks.probe(VIDEO, f"{media.url}/range/fast.mp4")
    assert info == MediaInfo(VIDEO, 2.0, 64, 48, 10.0)
    assert [r for _, r in media.requests] == [f"bytes=0-{media_checks.HEAD_BYTES - 1}"]


def test_a_webm_is_read_from_its_first_range(media):
    # Scale's playback takes MP4, WebM and Ogg: a WebM's header (Info, Tracks) is at its start.
    info = media_checks.probe(VIDEO, f"{media.url}/range/clip.webm")
    assert info == MediaInfo(VIDEO, 2.0, 64, 48, 10.0)
    assert len(media.requests) == 1
    broken = media_checks.probe(VIDEO, f"{media.url}/range/text.txt")
    assert broken.problem.startswith("Could not be checked")


def test_moov_at_the_end_is_found_with_range_requests_without_reading_mdat(media, clips):
    info = media_checks.probe(VIDEO, f"{media.url}/range/big-last.mp4")
    assert (info.duration, info.width, info.height, info.frame_rate) == (6.0, 1280, 720, 30.0)
    assert len(media.requests) == 2
    assert media.sent < 2 * media_checks.HEAD_BYTES < len(clips["big-last.mp4"]) / 5
    small = media_checks.probe(VIDEO, f"{media.url}/range/last.mp4")
    assert small.duration == 3.0 and small.frame_rate == 25.0


def test_a_server_without_range_is_read_only_as_far_as_the_cap(media, clips):
    fast = media_checks.probe(VIDEO, f"{media.url}/plain/fast.mp4")
    assert fast.duration == 2.0
    # moov after 3 MB of mdat, and the server sends whole files: it says why it cannot check.
    info = media_checks.probe(VIDEO, f"{media.url}/plain/big-last.mp4")
    assert "does not answer Range requests" in info.problem and "faststart" in info.problem
    assert len(media.requests) == 2  # no second try at a server that ignores ranges


def test_image_sizes_come_from_the_header_and_failures_say_why(media):
    assert media_checks.probe(IMAGE, f"{media.url}/range/frame.png").size == (640, 400)
    assert media_checks.probe(IMAGE, f"{media.url}/plain/frame.jpg").size == (320, 200)
    assert "not an image" in media_checks.probe(IMAGE, f"{media.url}/range/text.txt").problem
    assert "not an MP4" in media_checks.probe(VIDEO, f"{media.url}/range/frame.png").problem
    assert "404" in media_checks.probe(VIDEO, f"{media.url}/range/missing.mp4").problem


@pytest.mark.parametrize(
    "url",
    ["s3://bucket/clip.mp4", "gs://bucket/clip.mp4", "scaledata://abc/clip.mp4", "ftp://example.org/a.mp4"],
)
def test_storage_urls_are_never_fetched_only_said_to_be_unchecked(url, media):
    info = media_checks.check(VIDEO, url)
    assert "cannot be checked" in info.problem
    assert media.requests == []


def test_an_untrusted_private_address_is_refused_by_the_fetcher(media, settings):
    settings.FETCH_TRUSTED_URLS = []
    info = media_checks.probe(VIDEO, f"{media.url}/range/fast.mp4")
    assert "private, local or reserved" in info.problem
    assert media.requests == []


def test_results_are_cached_per_url(media):
    url = f"{media.url}/range/fast.mp4"
    assert media_checks.cached(VIDEO, url) is None
    assert media_checks.check(VIDEO, url).duration == 2.0
    assert media_checks.check(VIDEO, url).duration == 2.0
    assert len(media.requests) == 1
    assert media_checks.cached(VIDEO, url).frame_rate == 10.0


@pytest.fixture
def hostile(settings):
    server = HostileServer()
    settings.FETCH_TRUSTED_URLS = [server.url + "/"]
    yield server
    server.close()


def test_a_slow_server_is_given_up_on_at_the_deadline(hostile, settings):
    settings.MEDIA_CHECK_TIMEOUT = 1.5
    # The server would take 100 s to send its headers; the deadline's own message says it fired.
    info = media_checks.probe(VIDEO, f"{hostile.url}/slow-headers")
    assert info.problem == "Could not be checked: the server did not answer within 1.5 seconds."


@pytest.mark.parametrize("path", ["/huge", "/huge-declared"])
def test_a_huge_body_is_cut_at_the_cap_not_read_or_refused(hostile, path):
    info = media_checks.probe(VIDEO, f"{hostile.url}{path}")
    assert "not an MP4" in info.problem  # read the start (PNG bytes), then stopped


def test_a_decompression_bomb_is_only_opened_never_decoded(hostile):
    info = media_checks.probe(IMAGE, f"{hostile.url}/bomb")
    assert info.problem and info.size is None


# --- what the task is told ---------------------------------------------------------------


def video(url: str = "https://example.org/clip.mp4", **values) -> dict:
    return {(VIDEO, url): MediaInfo(VIDEO, **values)}


def test_a_window_past_the_end_of_the_video_is_a_warning_at_duration_time():
    payload = {"attachment": "https://example.org/clip.mp4", "start_time": 2, "duration_time": 5}
    found = media_checks.findings("videoannotation", payload, video(duration=3.0, frame_rate=25.0))
    assert [(f.path, f.message) for f in found] == [
        (
            "duration_time",
            "start_time + duration_time = 7 s passes the end of the video, which is 3.00 s long "
            "(annotators would get 1.00 s)",
        )
    ]
    late = media_checks.findings("videoannotation", {**payload, "start_time": 4}, video(duration=3.0))
    assert [f.path for f in late] == ["start_time"]
    fits = {**payload, "start_time": 0, "duration_time": 3.01}  # within half a frame
    assert media_checks.findings("videoannotation", fits, video(duration=3.0, frame_rate=25.0)) == []
    unknown = media_checks.findings("videoannotation", payload, {(VIDEO, payload["attachment"]): None})
    assert unknown == []


def test_base_annotations_and_hypotheses_outside_the_frame():
    payload = {
        "attachment": "https://example.org/clip.mp4",
        "base_annotations": {
            "annotations": [
                {"label": "car", "left": 10, "top": 10, "width": 50, "height": 20},
                {"label": "car", "frames": [{"left": 300, "top": 10, "width": 40, "height": 20}]},
            ]
        },
        "hypothesis": {"annotations": [{"vertices": [{"x": 5, "y": 5}, {"x": 5, "y": -1}]}]},
    }
    found = media_checks.findings("videoannotation", payload, video(width=320, height=240, duration=3.0))
    assert [(f.path, f.message) for f in found] == [
        (
            "base_annotations.annotations[1].frames[0]",
            "1 of 2 shapes lie (partly) outside the 320x240 frame; this one at left 300, top 10, 40x20",
        ),
        (
            "hypothesis.annotations[0].vertices[1]",
            "1 of 2 shapes lie (partly) outside the 320x240 frame; this one at x 5, y -1",
        ),
    ]


def test_frames_of_different_sizes_and_a_mask_of_another_size():
    frames = ["https://example.org/1.png", "https://example.org/2.png", "s3://bucket/3.png"]
    info = {
        (IMAGE, frames[0]): MediaInfo(IMAGE, width=640, height=400),
        (IMAGE, frames[1]): MediaInfo(IMAGE, width=640, height=480),
        (IMAGE, frames[2]): MediaInfo(IMAGE, problem="s3:// URLs are read by Scale only"),
    }
    found = media_checks.findings("videoannotation", {"attachments": frames}, info)
    assert [f.path for f in found] == ["attachments[1]"]
    assert "frame 2 is 640x480 but frame 1 is 640x400" in found[0].message
    mask = "https://example.org/mask.png"
    payload = {
        "attachment": "https://example.org/street.png",
        "hypothesis": {"annotations": {"combined": {"indexedImage": mask}}},
    }
    assert media_checks.media_urls("segmentannotation", payload) == [
        (IMAGE, "https://example.org/street.png"),
        (IMAGE, mask),
    ]
    info = {
        (IMAGE, payload["attachment"]): MediaInfo(IMAGE, width=640, height=400),
        (IMAGE, mask): MediaInfo(IMAGE, width=320, height=200),
    }
    found = media_checks.findings("segmentannotation", payload, info)
    assert [f.path for f in found] == ["hypothesis.annotations.combined.indexedImage"]


def test_the_shape_walk_is_bounded():
    box = {"left": -1, "top": 0, "width": 1, "height": 1}
    nested: list = [box]
    for _ in range(10_000):
        nested = [nested]
    payload = {"attachment": "https://example.org/clip.mp4", "base_annotations": {"annotations": [[[nested]]]}}
    info = video(width=10, height=10)
    shallow = {**payload, "base_annotations": {"annotations": [[[box]]]}}
    assert len(media_checks.findings("videoannotation", shallow, info)) == 1
    assert media_checks.findings("videoannotation", payload, info) == []  # too deep to walk: not looked at
    many = [{"x": 99, "y": 99}] * 100_000
    payload["base_annotations"]["annotations"] = many
    (found,) = media_checks.findings("videoannotation", payload, info)
    assert found.message.startswith(f"{media_checks.MAX_SHAPES} of {media_checks.MAX_SHAPES} shapes")


# --- through the composer --------------------------------------------------------------


@pytest.fixture
def ws(users):
    return users.ws_a


def test_the_preview_lists_unchecked_media_then_warns_at_the_field_once_checked(alice_client, ws, media):
    url = f"{media.url}/range/last.mp4"
    form = {
        "attachment": url,
        "attachment_type": "video",
        "geometries_json": json.dumps({"box": {"objects_to_annotate": ["car"]}}),
        "start_time": "1",
        "duration_time": "5",
    }
    page = alice_client.post("/compose/videoannotation/preview/", form).content.decode()
    assert "checking…" in page
    assert json.dumps([["video", url]]).replace('"', "&quot;") in page
    assert media.requests == []  # the typing preview never fetches

    answer = alice_client.get("/compose/media-check/", {"kind": "video", "url": url})
    assert answer.status_code == 200
    assert answer.json()["duration"] == 3.0 and answer.json()["summary"] == "3.00 s, 96x64, 25 fps"

    page = alice_client.post("/compose/videoannotation/preview/", form).content.decode()
    assert 'data-pending="[]"' in page
    assert (
        'id="issues-duration_time" hx-swap-oob="true"><p class="warning" data-path="duration_time">'
        '<span class="sr-only">Warning: </span>start_time + duration_time = 6 s passes the end of the video'
    ) in page
    assert "✓ Valid" in page  # a warning, never an error
    requests = len(media.requests)
    alice_client.post("/compose/videoannotation/preview/", form)
    assert len(media.requests) == requests


def test_the_media_check_endpoint_refuses_bad_input_and_needs_a_login(alice_client, ws):
    assert alice_client.get("/compose/media-check/", {"kind": "audio", "url": "https://x"}).status_code == 400
    assert alice_client.get("/compose/media-check/", {"kind": "video"}).status_code == 400
    stored = alice_client.get("/compose/media-check/", {"kind": "video", "url": "scaledata://abc"})
    assert stored.status_code == 200 and "cannot be checked" in stored.json()["problem"]
    assert Client().get("/compose/media-check/", {"kind": "video", "url": "https://x"}).status_code == 302


def test_the_media_check_endpoint_shares_the_proxy_quota(alice_client, ws, media, settings):
    settings.MEDIA_PROXY_PER_MINUTE = 1
    first = alice_client.get("/compose/media-check/", {"kind": "video", "url": f"{media.url}/range/fast.mp4"})
    assert first.status_code == 200
    second = alice_client.get("/compose/media-check/", {"kind": "video", "url": f"{media.url}/range/last.mp4"})
    assert second.status_code == 429 and second["Retry-After"]
    # A cached answer costs no fetch, so no quota.
    again = alice_client.get("/compose/media-check/", {"kind": "video", "url": f"{media.url}/range/fast.mp4"})
    assert again.status_code == 200
