"""Duration, frame size and frame rate of a WebM (Matroska) file, from its first bytes.

Pure Python, no FFmpeg: the composer's media checks read a video nobody here wrote,
so its header is parsed by code that only walks EBML elements, bounded by the bytes
given. Scale's playback tasks take MP4, WebM and Ogg; mp4info.py reads MP4/MOV.

Layout (Matroska's spec, matroska.org/technical/elements.html): an EBML header whose
DocType is "webm" or "matroska", then a Segment holding Info (TimestampScale, Duration)
and Tracks (TrackEntry: TrackType 1 = video, DefaultDuration in ns per frame, and a
Video element with PixelWidth and PixelHeight) before its first Cluster. Writers put
those first, so the file's start is enough; a live recording (a browser's
MediaRecorder) often has no Duration, which is then reported as unknown.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from annotator.mp4info import VideoInfo

EBML = 0x1A45DFA3
DOC_TYPE = 0x4282
SEGMENT = 0x18538067
INFO = 0x1549A966
TIMESTAMP_SCALE = 0x2AD7B1
DURATION = 0x4489
TRACKS = 0x1654AE6B
TRACK_ENTRY = 0xAE
TRACK_TYPE = 0x83
DEFAULT_DURATION = 0x23E383
VIDEO = 0xE0
PIXEL_WIDTH = 0xB0
PIXEL_HEIGHT = 0xBA
CLUSTER = 0x1F43B675
DOC_TYPES = (b"webm", b"matroska")
MAX_ELEMENTS = 10_000  # elements looked at in all: a file of tiny elements cannot keep us busy


class WebmError(ValueError):
    """Not a WebM/Matroska header we can read (the message says why, for people)."""


def is_webm(data: bytes) -> bool:
    """Whether `data` starts with an EBML header (WebM and Matroska do)."""
    return data[:4] == EBML.to_bytes(4, "big")


@dataclass(frozen=True)
class _Element:
    id: int
    start: int  # of its content
    end: int | None  # None: size unknown (runs to its parent's end)


def _vint(data: bytes, at: int, *, keep_marker: bool) -> tuple[int, int, bool]:
    """(value, length, all ones) of the EBML variable-size integer at `at`."""
    if at >= len(data):
        raise WebmError("the file's start ends inside its header")
    first = data[at]
    if first == 0:
        raise WebmError("its header is damaged (an element is longer than 8 bytes)")
    length = 9 - first.bit_length()
    if at + length > len(data):
        raise WebmError("the file's start ends inside its header")
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[at + 1 : at + length]:
        value = (value << 8) | byte
    ones = not keep_marker and value == (1 << (7 * length)) - 1
    return value, length, ones


def _elements(data: bytes, start: int, end: int, budget: list[int]) -> Iterator[_Element]:
    at = start
    while at < end:
        budget[0] -= 1
        if budget[0] < 0:
            raise WebmError("its header has too many elements")
        ident, id_length, _ = _vint(data, at, keep_marker=True)
        size, size_length, unknown = _vint(data, at + id_length, keep_marker=False)
        content = at + id_length + size_length
        if unknown:
            yield _Element(ident, content, None)
            return  # an element of unknown size runs to the end: nothing follows it at this level
        yield _Element(ident, content, content + size)
        at = content + size


def _uint(data: bytes, element: _Element) -> int:
    raw = data[element.start : element.end]
    if not 1 <= len(raw) <= 8:
        raise WebmError("its header is damaged (a number of the wrong size)")
    return int.from_bytes(raw, "big")


def _float(data: bytes, element: _Element) -> float | None:
    raw = data[element.start : element.end]
    if len(raw) == 4:
        value = struct.unpack(">f", raw)[0]
    elif len(raw) == 8:
        value = struct.unpack(">d", raw)[0]
    else:
        return None
    return value if math.isfinite(value) and value > 0 else None  # NaN, 0, inf: unknown


def probe(data: bytes) -> VideoInfo:
    """What the header in `data` (the file's first bytes) says; raises WebmError."""
    if not is_webm(data):
        raise WebmError("not a WebM or Matroska file")
    budget = [MAX_ELEMENTS]
    top = _elements(data, 0, len(data), budget)
    header = next(top)
    if header.end is None or header.end > len(data):
        raise WebmError("its EBML header is damaged")
    doc_type = next((e for e in _elements(data, header.start, header.end, budget) if e.id == DOC_TYPE), None)
    if doc_type is None or data[doc_type.start : doc_type.end].rstrip(b"\x00") not in DOC_TYPES:
        raise WebmError("its DocType is not webm or matroska")
    segment = next((e for e in top if e.id == SEGMENT), None)
    if segment is None:
        raise WebmError("the file's start holds no Segment")
    scale, duration, size, rate = 1_000_000, None, (None, None), None
    seen_info = seen_tracks = False
    segment_end = len(data) if segment.end is None else min(segment.end, len(data))
    for element in _elements(data, segment.start, segment_end, budget):
        if element.id == CLUSTER:
            break  # the frames begin: the header is behind us
        if element.end is None or element.end > len(data):
            break  # cut off by the bytes we have
        if element.id == INFO:
            seen_info = True
            for child in _elements(data, element.start, element.end, budget):
                if child.id == TIMESTAMP_SCALE and child.end is not None:
                    scale = _uint(data, child) or 1_000_000
                elif child.id == DURATION and child.end is not None:
                    duration = _float(data, child)
        elif element.id == TRACKS:
            seen_tracks = True
            size, rate = _video_track(data, element, budget)
        if seen_info and seen_tracks:
            break
    if not seen_tracks:
        raise WebmError("no track list (Tracks) in the file's first part")
    seconds = duration * scale / 1e9 if duration is not None else None
    return VideoInfo(seconds, size[0], size[1], rate)


def _video_track(
    data: bytes, tracks: _Element, budget: list[int]
) -> tuple[tuple[int | None, int | None], float | None]:
    assert tracks.end is not None
    for entry in _elements(data, tracks.start, tracks.end, budget):
        if entry.id != TRACK_ENTRY or entry.end is None:
            continue
        kind, frame_ns, width, height = None, None, None, None
        for child in _elements(data, entry.start, entry.end, budget):
            if child.end is None:
                continue
            if child.id == TRACK_TYPE:
                kind = _uint(data, child)
            elif child.id == DEFAULT_DURATION:
                frame_ns = _uint(data, child)
            elif child.id == VIDEO:
                for field in _elements(data, child.start, child.end, budget):
                    if field.id == PIXEL_WIDTH and field.end is not None:
                        width = _uint(data, field) or None
                    elif field.id == PIXEL_HEIGHT and field.end is not None:
                        height = _uint(data, field) or None
        if kind == 1:
            return (width, height), (1e9 / frame_ns if frame_ns else None)
    raise WebmError("no video track")
