"""Duration, frame size and frame rate of an MP4/MOV file, read from its ISO BMFF boxes.

Pure Python and free of Django: the composer's media checks feed it bytes the guarded
fetcher brought (annotator/composer/media_checks.py), and there is no ffmpeg on the server.

Only what the checks need is read: moov/mvhd (duration and its timescale), and for the first
video track (hdlr "vide") trak/tkhd (width, height), mdia/mdhd (the track's timescale) and
mdia/minf/stbl/stts (sample durations, hence the frame rate), with stbl/stsd's visual sample
entry as the size when tkhd has none.

The input is hostile by assumption (anyone can point the composer at any file), so:
- descent is a fixed path of box types, never recursion driven by the file;
- every loop steps forward by at least 8 bytes or one table entry and stops at the end of
  the bytes it was given, so time is linear in the input and nothing loops forever;
- nothing is allocated from a size the file states: a box that claims 4 GB is a slice of
  what was fetched (which the caller capped), and table counts are clipped to the bytes
  actually present.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

_HEADER = struct.Struct(">I4s")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_U16 = struct.Struct(">H")


class Mp4Error(ValueError):
    """The bytes are not an MP4/MOV this module can read (the message says why)."""


@dataclass(frozen=True)
class VideoInfo:
    duration: float | None  # seconds
    width: int | None
    height: int | None
    frame_rate: float | None  # frames per second, from the video track's sample durations


@dataclass(frozen=True)
class Need:
    """The moov box is not (all) in the bytes given: read `size` bytes from `offset` next.

    `size` is None when only the offset is known (the next top-level box's header lies there)."""

    offset: int
    size: int | None


@dataclass(frozen=True)
class _Box:
    kind: bytes
    at: int  # where the header starts
    start: int  # where the payload starts (after the header)
    end: int  # where the box ends, as the header says (may lie beyond the data)


def _boxes(data: bytes | memoryview, start: int, end: int) -> Iterator[_Box]:
    """The boxes laid end to end in data[start:end]; stops at the first header that does not fit.

    A box whose stated end lies past `end` is yielded with that end (the caller clips or
    asks for more); the walk then stops, since the next header is not in these bytes."""
    pos = start
    while pos + 8 <= end:
        size, kind = _HEADER.unpack_from(data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            (size,) = _U64.unpack_from(data, pos + 8)
            header = 16
        elif size == 0:  # "to the end of the file": only meaningful at the top level
            size = end - pos
        if size < header:
            raise Mp4Error(f"a {_name(kind)} box at byte {pos} states an impossible size ({size})")
        yield _Box(kind, pos, pos + header, pos + size)
        pos += size  # >= 8: the walk always moves forward


def _child(data: bytes | memoryview, box: _Box, kind: bytes) -> _Box | None:
    for child in _boxes(data, box.start, box.end):
        if child.kind == kind:
            return _Box(child.kind, child.at, child.start, min(child.end, box.end))
    return None


def _children(data: bytes | memoryview, box: _Box, kind: bytes) -> Iterator[_Box]:
    for child in _boxes(data, box.start, box.end):
        if child.kind == kind:
            yield _Box(child.kind, child.at, child.start, min(child.end, box.end))


def _name(kind: bytes) -> str:
    return kind.decode("latin-1").encode("ascii", "backslashreplace").decode()


# Top-level boxes a file may start with; anything else is not an MP4/MOV at all.
_FIRST = frozenset({b"ftyp", b"moov", b"free", b"skip", b"wide", b"mdat", b"pnot", b"uuid", b"styp", b"sidx"})


def locate_moov(data: bytes | memoryview, offset: int = 0) -> _Box | Need:
    """Where moov is, from `data` = the file's bytes starting at `offset` (a top-level box starts there).

    Returns the moov box (positions relative to `data`) when it is wholly in `data`, else
    what to read next."""
    end = len(data)
    if offset == 0 and (end < 8 or bytes(data[4:8]) not in _FIRST):
        raise Mp4Error("this is not an MP4 or MOV file (no ISO BMFF box at its start)")
    last = 0
    for box in _boxes(data, 0, end):
        if box.kind == b"moov":
            if box.end <= end:
                return box
            return Need(offset + box.at, box.end - box.at)
        if box.end > end:
            return Need(offset + box.end, None)
        last = box.end
    if last == 0 and end >= 8:
        raise Mp4Error("no box could be read where the file said one starts")
    return Need(offset + last, None)


def parse_moov(data: bytes | memoryview, moov: _Box | None = None) -> VideoInfo:
    """What the moov box says. `data` holds the whole moov box (from its header), unless `moov` is given."""
    if moov is None:
        found = next(iter(_boxes(data, 0, len(data))), None)
        if found is None or found.kind != b"moov":
            raise Mp4Error("the bytes do not start with a moov box")
        moov = _Box(found.kind, found.at, found.start, min(found.end, len(data)))
    duration = None
    mvhd = _child(data, moov, b"mvhd")
    if mvhd is not None:
        duration = _mvhd_duration(data, mvhd)
    video = _video_track(data, moov)
    width = height = None
    frame_rate = None
    if video is not None:
        width, height = _tkhd_size(data, video)
        track_duration, frame_rate = _timing(data, video)
        if duration is None:
            duration = track_duration
        if not width or not height:
            width, height = _stsd_size(data, video)
    return VideoInfo(duration, width or None, height or None, frame_rate)


def probe(data: bytes | memoryview, offset: int = 0) -> VideoInfo | Need:
    """VideoInfo when `data` (the file's bytes from `offset`) holds moov, else what to read next."""
    found = locate_moov(data, offset)
    if isinstance(found, Need):
        return found
    return parse_moov(data, found)


def _full_box(data: bytes | memoryview, box: _Box, least: int) -> int:
    """The version byte of a full box with at least `least` payload bytes (else Mp4Error)."""
    if box.end - box.start < least:
        raise Mp4Error(f"the {_name(box.kind)} box is too short")
    return data[box.start]


def _time_header(data: bytes | memoryview, box: _Box) -> tuple[int, float | None]:
    """(timescale, duration in seconds) of an mvhd or mdhd box, which share their start:
    version/flags, creation and modification times, timescale, duration (32 or 64 bits)."""
    version = _full_box(data, box, 20)
    if version == 1:
        if box.end - box.start < 32:
            raise Mp4Error(f"the {_name(box.kind)} box is too short")
        (timescale,) = _U32.unpack_from(data, box.start + 20)
        (duration,) = _U64.unpack_from(data, box.start + 24)
        unknown = 0xFFFFFFFFFFFFFFFF
    else:
        (timescale,) = _U32.unpack_from(data, box.start + 12)
        (duration,) = _U32.unpack_from(data, box.start + 16)
        unknown = 0xFFFFFFFF
    if not timescale or duration in (0, unknown):
        return timescale, None  # fragmented files state 0; "all ones" means unknown
    return timescale, duration / timescale


def _mvhd_duration(data: bytes | memoryview, box: _Box) -> float | None:
    return _time_header(data, box)[1]


def _video_track(data: bytes | memoryview, moov: _Box) -> _Box | None:
    for trak in _children(data, moov, b"trak"):
        mdia = _child(data, trak, b"mdia")
        hdlr = _child(data, mdia, b"hdlr") if mdia is not None else None
        # hdlr: version/flags (4), pre_defined (4), handler_type (4)
        handler = bytes(data[hdlr.start + 8 : hdlr.start + 12]) if hdlr is not None else b""
        if handler == b"vide":
            return trak
    return None


def _tkhd_size(data: bytes | memoryview, trak: _Box) -> tuple[int | None, int | None]:
    tkhd = _child(data, trak, b"tkhd")
    if tkhd is None or tkhd.end - tkhd.start < 1:
        return None, None
    # After version/flags: times, track_ID, reserved, duration, reserved(8), layer, group,
    # volume, reserved (2), matrix (36), then width and height as 16.16 fixed point.
    at = tkhd.start + (4 + 8 + 8 + 4 + 4 + 8 if data[tkhd.start] == 1 else 4 + 4 + 4 + 4 + 4 + 4) + 8 + 8 + 36
    if at + 8 > tkhd.end:
        return None, None
    (width,) = _U32.unpack_from(data, at)
    (height,) = _U32.unpack_from(data, at + 4)
    return width >> 16, height >> 16


def _stbl(data: bytes | memoryview, trak: _Box) -> tuple[_Box | None, _Box | None]:
    mdia = _child(data, trak, b"mdia")
    if mdia is None:
        return None, None
    minf = _child(data, mdia, b"minf")
    stbl = _child(data, minf, b"stbl") if minf is not None else None
    return mdia, stbl


def _timing(data: bytes | memoryview, trak: _Box) -> tuple[float | None, float | None]:
    """(track duration in seconds, frame rate) from mdhd and stts."""
    mdia, stbl = _stbl(data, trak)
    if mdia is None:
        return None, None
    mdhd = _child(data, mdia, b"mdhd")
    if mdhd is None:
        return None, None
    timescale, duration = _time_header(data, mdhd)
    if not timescale:
        return None, None
    stts = _child(data, stbl, b"stts") if stbl is not None else None
    if stts is None or stts.end - stts.start < 8:
        return duration, None
    (count,) = _U32.unpack_from(data, stts.start + 4)
    # The count is the file's word; the entries are the bytes that are really there.
    count = min(count, (stts.end - stts.start - 8) // 8)
    samples = ticks = 0
    for i in range(count):
        sample_count, delta = struct.unpack_from(">II", data, stts.start + 8 + 8 * i)
        samples += sample_count
        ticks += sample_count * delta
    if not samples or not ticks:
        return duration, None
    return duration, samples * timescale / ticks


def _stsd_size(data: bytes | memoryview, trak: _Box) -> tuple[int | None, int | None]:
    _, stbl = _stbl(data, trak)
    stsd = _child(data, stbl, b"stsd") if stbl is not None else None
    if stsd is None:
        return None, None
    # stsd: version/flags (4), entry_count (4), then sample entries (boxes). A visual sample
    # entry: reserved (6), data_reference_index (2), pre_defined/reserved (16), width, height.
    entry = next(iter(_boxes(data, stsd.start + 8, stsd.end)), None)
    if entry is None or entry.start + 28 > min(entry.end, stsd.end):
        return None, None
    (width,) = _U16.unpack_from(data, entry.start + 24)
    (height,) = _U16.unpack_from(data, entry.start + 26)
    return width, height
