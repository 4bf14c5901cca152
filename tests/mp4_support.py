"""MP4 files for the media-check tests: real ones from PyAV (a runtime dependency already, for
the sandbox's demo clip) and hand-written boxes for what an encoder never writes."""

from __future__ import annotations

import os
import struct
import tempfile

from PIL import Image


def _written(fmt: str, codecs: tuple[str, ...], seconds: float, fps: int, size: tuple[int, int], **options) -> bytes:
    """A real file written by FFmpeg (through PyAV) with the first of `codecs` the build has."""
    import av

    fd, path = tempfile.mkstemp(suffix="." + fmt)
    os.close(fd)
    try:
        with av.open(path, mode="w", format=fmt, options=options) as container:
            for n, codec in enumerate(codecs):
                try:
                    stream = container.add_stream(codec, rate=fps)
                    break
                except (av.error.FFmpegError, ValueError):
                    if n == len(codecs) - 1:
                        raise
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            for i in range(round(seconds * fps)):
                frame = av.VideoFrame.from_image(Image.new("RGB", size, (i * 10 % 255, 40, 90)))
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


def encode(seconds: float = 1, fps: int = 10, size: tuple[int, int] = (64, 48), *, faststart: bool = True) -> bytes:
    """A real MP4 (MPEG-4 Part 2, in every FFmpeg build); moov first when `faststart`, else last."""
    options = {"movflags": "+faststart"} if faststart else {}
    return _written("mp4", ("mpeg4",), seconds, fps, size, **options)


def box(kind: bytes, payload: bytes = b"", *, size: int | None = None, large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, size if size is not None else 16 + len(payload)) + payload
    return struct.pack(">I4s", size if size is not None else 8 + len(payload), kind) + payload


def mvhd(timescale: int, duration: int, version: int = 0) -> bytes:
    if version == 1:
        body = struct.pack(">B3xQQIQ", 1, 0, 0, timescale, duration)
    else:
        body = struct.pack(">B3xIIII", 0, 0, 0, timescale, duration)
    return box(b"mvhd", body + b"\0" * 80)


def tkhd(width: int, height: int, version: int = 0) -> bytes:
    times = struct.pack(">B3xQQII Q", 1, 0, 0, 1, 0, 0) if version == 1 else struct.pack(">B3xIIIII", 0, 0, 0, 1, 0, 0)
    return box(b"tkhd", times + b"\0" * 8 + b"\0" * 8 + b"\0" * 36 + struct.pack(">II", width << 16, height << 16))


def mdhd(timescale: int, duration: int) -> bytes:
    return box(b"mdhd", struct.pack(">B3xIIII", 0, 0, 0, timescale, duration) + b"\0" * 4)


def hdlr(handler: bytes = b"vide") -> bytes:
    return box(b"hdlr", b"\0" * 8 + handler + b"\0" * 13)


def stts(entries: list[tuple[int, int]], count: int | None = None) -> bytes:
    body = struct.pack(">B3xI", 0, len(entries) if count is None else count)
    return box(b"stts", body + b"".join(struct.pack(">II", c, d) for c, d in entries))


def stsd(width: int, height: int) -> bytes:
    entry = box(b"mp4v", b"\0" * 6 + struct.pack(">H", 1) + b"\0" * 16 + struct.pack(">HH", width, height) + b"\0" * 50)
    return box(b"stsd", struct.pack(">B3xI", 0, 1) + entry)


def handmade(
    *,
    seconds: float = 2.0,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    tkhd_size: tuple[int, int] | None = None,
    version: int = 0,
    moov_last: bool = False,
    mdat_bytes: int = 1000,
) -> bytes:
    timescale = fps * 1000
    frames = round(seconds * fps)
    stbl = box(b"stbl", stsd(*size) + stts([(frames, 1000)]))
    trak = box(
        b"trak",
        tkhd(*(tkhd_size if tkhd_size is not None else size), version=version)
        + box(b"mdia", mdhd(timescale, frames * 1000) + hdlr() + box(b"minf", stbl)),
    )
    audio = box(b"trak", tkhd(0, 0) + box(b"mdia", mdhd(48000, 96000) + hdlr(b"soun")))
    moov = box(b"moov", mvhd(1000, round(seconds * 1000), version) + audio + trak)
    ftyp = box(b"ftyp", b"isom\0\0\x02\0isomiso2mp41")
    mdat = box(b"mdat", b"\0" * mdat_bytes)
    return ftyp + mdat + moov if moov_last else ftyp + moov + mdat


def encode_webm(seconds: float = 1, fps: int = 10, size: tuple[int, int] = (64, 48), *, fmt: str = "webm") -> bytes:
    """A real WebM (VP8), or Matroska (VP8, else MPEG-4 Part 2 where the build has no libvpx)."""
    return _written(fmt, ("libvpx",) if fmt == "webm" else ("libvpx", "mpeg4"), seconds, fps, size)
