"""Demo media the project draws itself (nothing binary is committed).

Three street-like PNGs (Pillow) and a short clip of a car driving by (PyAV: H.264 MP4
and VP8 WebM), made on first request or by `manage.py sandbox_media` into
MEDIA_ROOT/sandbox/media/ and served at /sandbox/media/<name>.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse
from django.urls import reverse
from PIL import Image, ImageDraw

IMAGE_SIZE = (640, 400)
VIDEO_SIZE = (320, 240)
VIDEO_SECONDS = 3
VIDEO_FPS = 25


@dataclass(frozen=True)
class DemoMedia:
    name: str
    kind: str  # "image" or "video"
    content_type: str
    description: str


DEMO_MEDIA = {
    m.name: m
    for m in (
        DemoMedia("street-1.png", "image", "image/png", "Street with two cars, 640x400"),
        DemoMedia("street-2.png", "image", "image/png", "Street with three cars, 640x400"),
        DemoMedia("street-3.png", "image", "image/png", "Street at dusk, 640x400"),
        DemoMedia("traffic.mp4", "video", "video/mp4", "A car driving by, 3 s, 320x240, H.264"),
        DemoMedia("traffic.webm", "video", "video/webm", "A car driving by, 3 s, 320x240, VP8"),
    )
}
_lock = threading.Lock()


def media_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "sandbox" / "media"


def demo_media_urls(site_url: str) -> dict[str, str]:
    """{name: absolute URL} of every demo file, for the composer's examples."""
    base = site_url.rstrip("/")
    return {name: base + reverse("sandbox:media", args=[name]) for name in DEMO_MEDIA}


# --- drawing -------------------------------------------------------------------


def _car(draw: ImageDraw.ImageDraw, x: float, y: float, w: float, color: tuple[int, int, int]) -> None:
    h = w * 0.42
    draw.rounded_rectangle((x, y + h * 0.35, x + w, y + h), radius=int(h * 0.2), fill=color)
    draw.polygon(
        [(x + w * 0.2, y + h * 0.38), (x + w * 0.32, y), (x + w * 0.7, y), (x + w * 0.82, y + h * 0.38)], fill=color
    )
    draw.polygon([(x + w * 0.27, y + h * 0.35), (x + w * 0.35, y + h * 0.08), (x + w * 0.67, y + h * 0.08),
                  (x + w * 0.75, y + h * 0.35)], fill=(170, 210, 235))  # fmt: skip
    r = h * 0.2
    for cx in (x + w * 0.22, x + w * 0.78):
        draw.ellipse((cx - r, y + h - r, cx + r, y + h + r), fill=(25, 25, 25))


def street_image(variant: int, size: tuple[int, int] = IMAGE_SIZE) -> Image.Image:
    width, height = size
    rng = random.Random(variant)
    dusk = variant == 3
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    horizon = int(height * 0.45)
    top, bottom = ((40, 40, 90), (230, 130, 90)) if dusk else ((90, 160, 230), (200, 225, 245))
    for y in range(horizon):
        t = y / horizon
        draw.line([(0, y), (width, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    x = 0
    while x < width:  # buildings
        w = rng.randint(50, 110)
        h = rng.randint(60, horizon - 10)
        shade = rng.randint(90, 160) - (50 if dusk else 0)
        draw.rectangle((x, horizon - h, x + w, horizon), fill=(shade, shade - 10, shade - 20))
        for wy in range(horizon - h + 10, horizon - 10, 18):
            for wx in range(x + 8, x + w - 10, 16):
                lit = dusk and rng.random() < 0.5
                draw.rectangle((wx, wy, wx + 7, wy + 9), fill=(250, 220, 120) if lit else (60, 80, 100))
        x += w + rng.randint(0, 12)
    draw.rectangle((0, horizon, width, height), fill=(110, 150, 80))  # verge
    draw.polygon([(width * 0.42, horizon), (width * 0.58, horizon), (width, height), (0, height)], fill=(70, 70, 75))
    for i in range(6):  # lane markings
        t0, t1 = i / 6, i / 6 + 0.07
        y0, y1 = horizon + (height - horizon) * t0, horizon + (height - horizon) * t1
        draw.polygon([(width / 2 - 1 - 4 * t0, y0), (width / 2 + 1 + 4 * t0, y0), (width / 2 + 1 + 4 * t1, y1),
                      (width / 2 - 1 - 4 * t1, y1)], fill=(240, 240, 240))  # fmt: skip
    for _ in range(rng.randint(2, 4)):  # trees
        tx = rng.choice([rng.randint(5, int(width * 0.2)), rng.randint(int(width * 0.8), width - 5)])
        ty = horizon + rng.randint(-10, 20)
        draw.rectangle((tx - 3, ty, tx + 3, ty + 30), fill=(90, 60, 30))
        draw.ellipse((tx - 22, ty - 40, tx + 22, ty + 5), fill=(40, 120, 50))
    palette = [(200, 30, 40), (30, 90, 200), (240, 200, 40), (220, 220, 225), (40, 40, 45)]
    for n in range(variant + 1):  # cars, bigger when nearer
        y = horizon + (height - horizon) * rng.uniform(0.2, 0.7)
        w = 60 + (y - horizon) * 0.8
        _car(draw, rng.uniform(width * 0.15, width * 0.85 - w), y - w * 0.42, w, palette[(n + variant) % len(palette)])
    return image


def traffic_frame(index: int, frames: int, size: tuple[int, int] = VIDEO_SIZE) -> Image.Image:
    image = _background(size).copy()
    draw = ImageDraw.Draw(image)
    width, height = size
    w = width * 0.3
    x = -w + (width + w) * index / max(1, frames - 1)
    _car(draw, x, height * 0.62, w, (200, 30, 40))
    return image


_backgrounds: dict[tuple[int, int], Image.Image] = {}


def _background(size: tuple[int, int]) -> Image.Image:
    if size not in _backgrounds:
        image = street_image(0, (size[0] * 2, size[1] * 2)).resize(size)
        # A plain road without parked cars, so only the moving car moves.
        draw = ImageDraw.Draw(image)
        horizon = int(size[1] * 0.45)
        draw.polygon([(size[0] * 0.42, horizon), (size[0] * 0.58, horizon), (size[0], size[1]), (0, size[1])],
                     fill=(70, 70, 75))  # fmt: skip
        _backgrounds[size] = image
    return _backgrounds[size]


def _encode_video(path: Path, container_format: str) -> None:
    import av  # PyAV: imported here so the API does not load FFmpeg until media is needed

    frames = VIDEO_SECONDS * VIDEO_FPS
    codec = "libx264" if container_format == "mp4" else "libvpx"
    with av.open(str(path), mode="w", format=container_format) as container:
        try:
            stream = container.add_stream(codec, rate=VIDEO_FPS)
        except (av.error.FFmpegError, ValueError):  # an FFmpeg build without it: MPEG-4 Part 2 still plays
            stream = container.add_stream("mpeg4", rate=VIDEO_FPS)
        stream.width, stream.height = VIDEO_SIZE
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "veryfast", "crf": "28", "movflags": "+faststart"}
        for i in range(frames):
            frame = av.VideoFrame.from_image(traffic_frame(i, frames))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _make(name: str, path: Path) -> None:
    match = re.fullmatch(r"street-(\d)\.png", name)
    if match:
        street_image(int(match[1])).save(path, format="PNG")
    elif name == "traffic.mp4":
        _encode_video(path, "mp4")
    elif name == "traffic.webm":
        _encode_video(path, "webm")
    else:
        raise KeyError(name)


def ensure(name: str) -> Path:
    """The file of a demo medium, made now if missing."""
    path = media_dir() / name
    if path.exists():
        return path
    with _lock:  # one thread draws; others in this process wait and reuse it
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            suffix = path.suffix
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=suffix)
            os.close(fd)
            try:
                _make(name, Path(tmp))
                os.chmod(tmp, 0o644)  # mkstemp makes 0600; a web server may serve these
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    return path


def ensure_all() -> list[Path]:
    return [ensure(name) for name in DEMO_MEDIA]


_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def serve(request: HttpRequest, path: Path, content_type: str) -> HttpResponse:
    """The file, honouring a single byte Range (browsers seek videos with them)."""
    size = path.stat().st_size
    match = _RANGE.match(request.headers.get("Range", "").strip())
    if match and (match[1] or match[2]):
        if match[1]:
            start, end = int(match[1]), int(match[2]) if match[2] else size - 1
        else:
            start, end = max(0, size - int(match[2])), size - 1
        end = min(end, size - 1)
        if start > end:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        with path.open("rb") as f:
            f.seek(start)
            response = HttpResponse(f.read(end - start + 1), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    else:
        response = FileResponse(path.open("rb"), content_type=content_type)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "public, max-age=86400"
    return response
