"""The MP4/MOV header reader: real files, hand-written boxes, truncated and hostile input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotator import mp4info
from annotator.mp4info import Mp4Error, Need, VideoInfo
from tests import mp4_support as mp4


@pytest.fixture(scope="module")
def real_files():
    return {
        "faststart": mp4.encode(2, 10, (64, 48), faststart=True),
        "moov_last": mp4.encode(3, 25, (96, 64), faststart=False),
    }


def read_like_the_fetcher(data: bytes, window: int = 64) -> tuple[VideoInfo, int]:
    """probe() driven as media_checks drives it: a window at a time, where the file says. (info, rounds)"""
    offset, size = 0, window
    for rounds in range(1, 10):
        found = mp4info.probe(data[offset : offset + size], offset)
        if isinstance(found, VideoInfo):
            return found, rounds
        assert found.offset > offset or (found.size or 0) > size, "no progress"
        offset, size = found.offset, found.size or window
    raise AssertionError("too many rounds")


def test_a_real_faststart_file_is_read_from_its_start(real_files):
    data = real_files["faststart"]
    assert mp4info.probe(data) == VideoInfo(duration=2.0, width=64, height=48, frame_rate=10.0)
    info, rounds = read_like_the_fetcher(data, window=len(data) // 2 + 1)
    assert info.duration == 2.0 and rounds == 1


def test_a_real_file_with_moov_at_the_end_is_found_by_following_the_boxes(real_files):
    data = real_files["moov_last"]
    head = mp4info.probe(data[:64])
    assert isinstance(head, Need) and head.offset > 64  # past mdat, without reading it
    info, rounds = read_like_the_fetcher(data)
    assert (info.duration, info.width, info.height, info.frame_rate) == (3.0, 96, 64, 25.0)
    assert rounds <= 3


@pytest.mark.parametrize("version", [0, 1])
def test_handmade_boxes_of_both_versions(version):
    data = mp4.handmade(seconds=4.0, fps=30, size=(1920, 1080), version=version)
    assert mp4info.probe(data) == VideoInfo(4.0, 1920, 1080, 30.0)


def test_the_video_track_is_found_after_an_audio_track_and_stsd_gives_the_size_when_tkhd_has_none():
    data = mp4.handmade(size=(640, 360), tkhd_size=(0, 0))
    assert mp4info.probe(data) == VideoInfo(2.0, 640, 360, 25.0)


def test_a_large_size_box_and_a_moov_last_handmade_file():
    data = mp4.handmade(moov_last=True, mdat_bytes=5000)
    info, _ = read_like_the_fetcher(data, window=32)
    assert info == VideoInfo(2.0, 320, 240, 25.0)
    ftyp = mp4.box(b"ftyp", b"isom")
    moov = mp4.box(b"moov", mp4.mvhd(600, 1800), large=True)
    assert mp4info.probe(ftyp + moov).duration == 3.0


def test_not_an_mp4_says_so():
    with pytest.raises(Mp4Error, match="not an MP4"):
        mp4info.probe(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(Mp4Error):
        mp4info.probe(b"")
    with pytest.raises(Mp4Error, match="impossible size"):
        mp4info.probe(mp4.box(b"ftyp", b"isom") + struct.pack(">I4s", 4, b"moov"))


def test_every_truncation_of_a_real_file_is_either_a_need_or_an_mp4error(real_files):
    for data in real_files.values():
        for cut in range(len(data) + 1):
            try:
                found = mp4info.probe(data[:cut])
            except Mp4Error:
                continue
            assert isinstance(found, Need | VideoInfo)
            if isinstance(found, Need):
                assert found.offset >= 0


def test_hostile_sizes_allocate_nothing_and_counts_are_clipped_to_the_bytes_present():
    # stts claims four billion entries; one is present.
    stbl = mp4.box(b"stbl", mp4.stts([(50, 1000)], count=0xFFFFFFFF))
    trak = mp4.box(
        b"trak", mp4.tkhd(10, 10) + mp4.box(b"mdia", mp4.mdhd(25000, 50000) + mp4.hdlr() + mp4.box(b"minf", stbl))
    )
    data = mp4.box(b"ftyp", b"isom") + mp4.box(b"moov", mp4.mvhd(1000, 2000) + trak)
    assert mp4info.probe(data).frame_rate == 25.0
    # A moov that says it is 2**62 bytes: the reader asks for it, it does not allocate it.
    huge = mp4.box(b"ftyp", b"isom") + mp4.box(b"moov", b"\0" * 16, size=2**62, large=True)
    assert mp4info.probe(huge) == Need(12, 2**62)
    # A box inside moov that claims more than moov holds is clipped to moov.
    liar = mp4.box(b"ftyp", b"isom") + mp4.box(b"moov", mp4.box(b"trak", b"", size=0xFFFFFFF0))
    assert mp4info.probe(liar) == VideoInfo(None, None, None, None)


def test_a_million_tiny_boxes_and_deep_nesting_are_walked_without_recursion():
    tiny = mp4.box(b"ftyp", b"isom") + mp4.box(b"free") * 200_000 + mp4.box(b"moov", mp4.mvhd(1, 7))
    assert mp4info.probe(tiny).duration == 7.0
    deep = mp4.box(b"trak", b"")
    for _ in range(5000):  # only moov/trak/mdia/minf/stbl are ever entered, each once
        deep = mp4.box(b"trak", deep)
    data = mp4.box(b"ftyp", b"isom") + mp4.box(b"moov", deep)
    assert mp4info.probe(data) == VideoInfo(None, None, None, None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes_never_raise_anything_but_mp4error(data):
    try:
        found = mp4info.probe(b"\0\0\0\x10ftypisom\0\0\0\0" + data)
    except Mp4Error:
        return
    assert isinstance(found, Need | VideoInfo)


_SEED = mp4.handmade(seconds=1.0, fps=5, size=(32, 16))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_SEED) - 1), st.integers(0, 255)), min_size=1, max_size=12))
def test_mutated_files_never_raise_anything_but_mp4error(edits):
    data = bytearray(_SEED)
    for position, value in edits:
        data[position] = value
    try:
        found = mp4info.probe(bytes(data))
    except Mp4Error:
        return
    assert isinstance(found, Need | VideoInfo)
    if isinstance(found, VideoInfo) and found.frame_rate is not None:
        assert found.frame_rate > 0
