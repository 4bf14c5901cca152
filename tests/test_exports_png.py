"""Index masks are read by a short PNG path (segmentation._plain_png) when they
are 8-bit greyscale or palette PNGs: it must read exactly what Pillow reads, for
files from an encoder we did not write (FFmpeg's, through PyAV) with each of
PNG's row filters, and leave anything else to Pillow (and its error messages)."""

from __future__ import annotations

import io
import zlib

import av
import numpy as np
import pytest
from PIL import Image

from annotator.exports.segmentation import MaskError, _plain_png, read_index_mask


def ffmpeg_png(values: np.ndarray, pix_fmt: str, pred: str) -> bytes:
    height, width = values.shape
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, pix_fmt
    codec.options = {"pred": pred}  # the row filter FFmpeg applies: none, sub, up, avg, paeth or per row
    if pix_fmt == "pal8":
        palette = np.zeros((256, 4), dtype=np.uint8)
        palette[:, 0] = np.arange(256)[::-1]  # colours unlike the indexes: the indexes must win
        palette[:, 3] = 255
        frame = av.VideoFrame.from_ndarray((values, palette), format="pal8")
    else:
        frame = av.VideoFrame.from_ndarray(values, format="gray")
    packets = codec.encode(frame) + codec.encode(None)
    return bytes(packets[0])


def scene(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = np.ones((height, width), dtype=np.uint8)
    values[: height // 3] = 2
    for _ in range(6):  # a few rectangles, as Scale's masks are regions, and some noise
        y, x = rng.integers(0, max(1, height - 4)), rng.integers(0, max(1, width - 4))
        values[y : y + rng.integers(2, 20), x : x + rng.integers(2, 30)] = rng.integers(3, 250)
    values[rng.random((height, width)) < 0.01] = 255
    return values


@pytest.mark.parametrize("pred", ["none", "sub", "up", "avg", "paeth", "mixed"])
@pytest.mark.parametrize("pix_fmt", ["gray", "pal8"])
@pytest.mark.parametrize("size", [(1, 1), (3, 2), (64, 96), (97, 131)])
def test_ffmpeg_pngs_read_the_same_as_pillow(pred, pix_fmt, size):
    values = scene(*size, seed=size[0])
    data = ffmpeg_png(values, pix_fmt, pred)
    plain = _plain_png(data)
    assert plain is not None  # the short path took it
    assert np.array_equal(plain, values)
    pillow = Image.open(io.BytesIO(data))
    assert np.array_equal(plain, np.frombuffer(pillow.tobytes(), dtype=np.uint8).reshape(size))
    assert np.array_equal(read_index_mask(data), values)


def test_pillow_pngs_with_every_compression_read_the_same():
    values = scene(64, 96, seed=3)
    for mode in ("L", "P"):
        for options in ({"compress_level": 0}, {"compress_level": 9}, {"optimize": True}):
            out = io.BytesIO()
            image = Image.frombytes(mode, (96, 64), values.tobytes())
            if mode == "P":
                image.putpalette(bytes(range(256)) * 3)  # all 256 entries: Pillow keeps 8 bits per pixel
            image.save(out, "PNG", **options)
            assert np.array_equal(_plain_png(out.getvalue()), values), (mode, options)


@pytest.mark.parametrize("pix_fmt", ["gray16be", "rgb24"])
def test_other_pngs_are_left_to_pillow(pix_fmt):
    values = scene(16, 16, seed=1)
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = 16, 16, pix_fmt
    if pix_fmt == "rgb24":
        frame = av.VideoFrame.from_ndarray(np.dstack([values, values, values]), format="rgb24")
    else:
        frame = av.VideoFrame.from_ndarray(values.astype(">u2") * 100, format="gray16be")
    data = bytes((codec.encode(frame) + codec.encode(None))[0])
    assert _plain_png(data) is None
    read = read_index_mask(data)
    expected = values.astype(np.uint32) * 100 if pix_fmt == "gray16be" else values
    assert np.array_equal(read, expected)


def with_header(data: bytes, **fields: int) -> bytes:
    """The PNG with IHDR fields changed (and its CRC made right again)."""
    offsets = {"width": (16, 4), "height": (20, 4), "interlace": (28, 1)}
    out = bytearray(data)
    for name, value in fields.items():
        at, size = offsets[name]
        out[at : at + size] = value.to_bytes(size, "big")
    out[29:33] = zlib.crc32(bytes(out[12:29])).to_bytes(4, "big")
    return bytes(out)


def test_a_damaged_png_gets_pillows_message():
    data = ffmpeg_png(scene(64, 96, seed=2), "gray", "paeth")
    cut = data[: len(data) // 2]
    assert _plain_png(cut) is None
    with pytest.raises(MaskError, match="not a readable image"):
        read_index_mask(cut)
    # An interlaced file (Adam7) is left to Pillow: flip the IHDR's interlace byte.
    assert _plain_png(with_header(data, interlace=1)) is None
    # A size over the limit is refused by the same rule and message as before.
    huge = with_header(data, width=8000, height=8000)
    assert _plain_png(huge) is None
    with pytest.raises(MaskError, match="mask of 8000x8000 pixels is too large"):
        read_index_mask(huge)
    # Past Pillow's own limit, Pillow refuses to open it: the message still says why.
    with pytest.raises(MaskError, match=r"mask is too large \(over 40,000,000 pixels\)"):
        read_index_mask(with_header(data, width=100_000, height=100_000))
