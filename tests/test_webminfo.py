"""webminfo reads WebM/Matroska headers written by others: FFmpeg's muxer (through PyAV) and
Chromium's MediaRecorder (a live recording: sizes unknown, no Duration). Damaged or cut
headers give WebmError, never another exception."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator import webminfo
from tests import mp4_support as media


@pytest.fixture(scope="module")
def webm() -> bytes:
    return media.encode_webm(2, 10, (64, 48))


def test_a_webm_written_by_ffmpeg(webm):
    assert webminfo.probe(webm) == webminfo.VideoInfo(2.0, 64, 48, 10.0)


def test_a_matroska_file_written_by_ffmpeg():
    info = webminfo.probe(media.encode_webm(3, 25, (96, 64), fmt="matroska"))
    assert (info.duration, info.width, info.height, info.frame_rate) == (3.0, 96, 64, 25.0)


def test_the_header_alone_is_enough(webm):
    # The composer's check reads the first 256 KB; the header is in the first few hundred bytes.
    assert webminfo.probe(webm[:4096]).width == 64


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00\x00\x18ftypisom", "not a WebM"),
        (b"\x1a\x45\xdf\xa3", "ends inside its header"),
        (b"\x1a\x45\xdf\xa3\x84\x42\x82\x81x", "DocType is not webm"),
    ],
)
def test_what_is_not_a_webm_header_says_why(data, message):
    with pytest.raises(webminfo.WebmError, match=message):
        webminfo.probe(data)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_cut_or_damaged_headers_raise_only_webm_error(webm, data):
    head = bytearray(webm[:600])
    cut = data.draw(st.integers(4, len(head)))
    for _ in range(data.draw(st.integers(0, 6))):
        at = data.draw(st.integers(4, len(head) - 1))
        head[at] = data.draw(st.integers(0, 255))
    try:
        info = webminfo.probe(bytes(head[:cut]))
    except webminfo.WebmError:
        return
    assert info.duration is None or info.duration > 0


RECORD = """async () => {
  const canvas = document.createElement('canvas');
  canvas.width = 160; canvas.height = 90;
  const ctx = canvas.getContext('2d');
  const recorder = new MediaRecorder(canvas.captureStream(15), {mimeType: 'video/webm'});
  const parts = [];
  recorder.ondataavailable = (e) => parts.push(e.data);
  const stopped = new Promise((done) => { recorder.onstop = done; });
  recorder.start();
  for (let i = 0; i < 12; i++) {
    ctx.fillStyle = `rgb(${i * 20}, 80, 160)`; ctx.fillRect(0, 0, 160, 90);
    await new Promise((r) => setTimeout(r, 60));
  }
  recorder.stop();
  await stopped;
  const bytes = new Uint8Array(await new Blob(parts).arrayBuffer());
  let text = ''; for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}"""


@pytest.mark.browser
def test_a_recording_made_by_chromiums_media_recorder(page):
    page.set_content("<!doctype html><title>record</title>")
    recording = base64.b64decode(page.evaluate(RECORD))
    assert webminfo.is_webm(recording)
    info = webminfo.probe(recording)
    # A live recording: the size is in its Tracks; the length was not known when they were written.
    assert (info.width, info.height) == (160, 90)
    assert info.duration is None or 0 < info.duration < 5
