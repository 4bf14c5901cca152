"""Checks of a task against its media: the video's length and frame size, the frames' sizes.

These are not Scale's rules (Scale fetches the media itself and says nothing of this), so
every finding is a warning that never blocks a submit.

Two halves, so the typing preview never waits on the network:
- probe(url, kind): reads what is needed through the guarded fetcher (annotator/fetcher.py)
  and caches it per URL for a few minutes; the browser asks for it once per media URL
  (views.media_check), off the preview's path;
- known(task_type, payload): called by compose(), reads only that cache (one get_many),
  None for each URL not checked yet (the preview lists those for the browser to ask about);
  findings(task_type, payload, known) then says where the task does not fit the media.

What is fetched is bounded: MP4/MOV headers with Range requests (the file's first
HEAD_BYTES, then the moov box where the file says it is, at most MEDIA_CHECK_MAX_BYTES; a
WebM's header is in its first HEAD_BYTES, read by webminfo.py), or,
when the server ignores Range, the file's first bytes only (the connection is closed after
them); images the first IMAGE_HEAD_BYTES, read by Pillow for their header only (no pixel is
decoded). s3://, gs:// and scaledata:// URLs are never fetched: Scale reads them, we cannot.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from annotator import fetcher, mp4info, webminfo
from annotator.scale_rules.report import index_path, is_number, key_path
from annotator.scale_rules.urls import is_http_url, is_storage_url

VIDEO, IMAGE = "video", "image"
KINDS = (VIDEO, IMAGE)
HEAD_BYTES = 256 * 1024  # the first read: ftyp + moov of a faststart file, or the boxes before mdat
IMAGE_HEAD_BYTES = 256 * 1024  # a JPEG's size comes after its EXIF, which is at most 64 KB
MAX_ROUNDS = 4  # ranges per video: start, then past mdat/free boxes, then moov
MAX_FRAMES = 30  # frames of `attachments` checked per task (the first ones)
MAX_SHAPES = 10_000  # base annotation shapes looked at per task
FAILED_SECONDS = 60  # a failure is cached shortly: the person may be fixing the server


@dataclass(frozen=True)
class MediaInfo:
    kind: str
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    problem: str = ""  # why it could not be checked ("" when it was)

    @property
    def size(self) -> tuple[int, int] | None:
        return (self.width, self.height) if self.width and self.height else None

    def summary(self) -> str:
        if self.problem:
            return self.problem
        parts = []
        if self.duration is not None:
            parts.append(f"{self.duration:.2f} s")
        if self.size:
            parts.append(f"{self.width}x{self.height}")
        if self.frame_rate:
            parts.append(f"{self.frame_rate:.3g} fps")
        return ", ".join(parts) or "nothing could be read from its header"


def _key(kind: str, url: str) -> str:
    return f"media-check:v1:{kind}:{hashlib.sha256(url.encode('utf-8', 'surrogatepass')).hexdigest()}"


def unfetchable(url: str) -> str:
    """Why `url` is never fetched here ("" when it may be)."""
    if is_storage_url(url):
        scheme = url.split(":", 1)[0].lower()
        return f"{scheme}:// URLs are read by Scale only; this one cannot be checked here."
    if not is_http_url(url):
        return "Not an http(s) URL, so it cannot be checked."
    return ""


def cached(kind: str, url: str) -> MediaInfo | None:
    value = cache.get(_key(kind, url))
    return MediaInfo(**value) if isinstance(value, dict) else None


def check(kind: str, url: str) -> MediaInfo:
    """The media's info, from the cache or fetched now (and cached)."""
    found = cached(kind, url)
    if found is not None:
        return found
    info = probe(kind, url)
    seconds = FAILED_SECONDS if info.problem else settings.MEDIA_CHECK_CACHE_SECONDS
    cache.set(_key(kind, url), asdict(info), seconds)
    return info


def probe(kind: str, url: str) -> MediaInfo:
    reason = unfetchable(url)
    if reason:
        return MediaInfo(kind, problem=reason)
    deadline = time.monotonic() + settings.MEDIA_CHECK_TIMEOUT
    try:
        return _probe_video(url, deadline) if kind == VIDEO else _probe_image(url, deadline)
    except fetcher.FetchError as error:
        if time.monotonic() >= deadline:  # the fetcher names what was left of the budget, not all of it
            limit = settings.MEDIA_CHECK_TIMEOUT
            return MediaInfo(kind, problem=f"Could not be checked: the server did not answer within {limit:g} seconds.")
        return MediaInfo(kind, problem=f"Could not be checked: {error.message}")
    except mp4info.Mp4Error as error:
        return MediaInfo(kind, problem=f"Could not be checked: {error}.")


def _get(url: str, start: int, size: int, deadline: float) -> tuple[bytes, bool]:
    """Up to `size` bytes of the file from `start`, and whether the server honoured the Range."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise fetcher.FetchError(f"The checks took longer than {settings.MEDIA_CHECK_TIMEOUT:g} seconds.")
    got = fetcher.request(
        "GET",
        url,
        headers={"Range": f"bytes={start}-{start + size - 1}"},
        max_bytes=size,
        timeout=left,
        trusted=fetcher.site_trusted(),
        truncate=True,  # a server that ignores Range sends the whole file: keep its start only
    )
    if got.status == 206:
        content_range = got.headers.get("content-range", "")
        if not content_range.startswith(f"bytes {start}-"):
            raise fetcher.FetchError("The server answered a different byte range than asked for.")
        return got.content, True
    if got.status == 200:
        return got.content, False
    if got.status == 416:
        raise fetcher.FetchError("The file ends before its header says it should (truncated?).")
    raise fetcher.FetchError(f"The server answered HTTP {got.status}.")


def _probe_video(url: str, deadline: float) -> MediaInfo:
    start, size = 0, HEAD_BYTES
    for _ in range(MAX_ROUNDS):
        data, ranged = _get(url, start, size, deadline)
        if not ranged and start:
            raise fetcher.FetchError("the server does not answer Range requests, so only the file's start is read.")
        if start == 0 and webminfo.is_webm(data):
            return _webm(data)
        found = mp4info.probe(data, start)
        if isinstance(found, mp4info.VideoInfo):
            return MediaInfo(VIDEO, found.duration, found.width, found.height, found.frame_rate)
        if not ranged:
            return MediaInfo(
                VIDEO,
                problem="Could not be checked: its header (moov) is not at the start of the file and the server "
                "does not answer Range requests. Saving the MP4 with +faststart moves it to the start.",
            )
        if found.size is not None and found.size > settings.MEDIA_CHECK_MAX_BYTES:
            return MediaInfo(VIDEO, problem="Could not be checked: its header (moov) is larger than the limit.")
        if (found.offset, found.size) == (start, size) or found.offset < start:
            raise mp4info.Mp4Error("the file ends before its header (moov) does")
        start, size = found.offset, found.size or HEAD_BYTES
    return MediaInfo(VIDEO, problem="Could not be checked: no header (moov) was found near the file's start or end.")


def _webm(head: bytes) -> MediaInfo:
    # WebM keeps its header (Info, Tracks) before the first frames: the first read has it.
    try:
        found = webminfo.probe(head)
    except webminfo.WebmError as error:
        return MediaInfo(VIDEO, problem=f"Could not be checked: {error}.")
    return MediaInfo(VIDEO, found.duration, found.width, found.height, found.frame_rate)


def _probe_image(url: str, deadline: float) -> MediaInfo:
    from PIL import Image, UnidentifiedImageError

    data, _ = _get(url, 0, IMAGE_HEAD_BYTES, deadline)
    try:
        # open() reads the header only; the pixels are never decoded, so a huge image costs nothing.
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, Image.DecompressionBombError):
        return MediaInfo(IMAGE, problem="Could not be checked: not an image Pillow can read the size of.")
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError):  # malformed headers
        return MediaInfo(IMAGE, problem="Could not be checked: its header could not be read.")
    return MediaInfo(IMAGE, width=width, height=height)


# --- the task against what is known of its media -------------------------------


@dataclass(frozen=True)
class Finding:
    path: str  # where in the payload (the composer places it next to that field)
    message: str


def media_urls(task_type: str, payload: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, url) of every medium the checks use, in the order the form shows them."""
    urls: list[tuple[str, str]] = []
    attachment = payload.get("attachment")
    if isinstance(attachment, str) and attachment:
        image = task_type == "segmentannotation" or payload.get("attachment_type") == "image"
        urls.append((IMAGE if image else VIDEO, attachment))
    frames = payload.get("attachments")
    if isinstance(frames, list):
        urls.extend((IMAGE, url) for url in frames[:MAX_FRAMES] if isinstance(url, str) and url)
    mask = _indexed_image(payload) if task_type == "segmentannotation" else None
    if mask:
        urls.append((IMAGE, mask))
    return list(dict.fromkeys(urls))


def _indexed_image(payload: dict[str, Any]) -> str | None:
    value: Any = payload.get("hypothesis")
    for key in ("annotations", "combined", "indexedImage"):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value if isinstance(value, str) else None


def known(task_type: str, payload: dict[str, Any]) -> dict[tuple[str, str], MediaInfo | None]:
    """What the cache knows of each medium (None: not checked yet). One cache round trip."""
    urls = media_urls(task_type, payload)
    keys = {_key(kind, url): (kind, url) for kind, url in urls}
    found = cache.get_many(list(keys)) if keys else {}
    return {pair: (MediaInfo(**found[key]) if isinstance(found.get(key), dict) else None) for key, pair in keys.items()}


def findings(task_type: str, payload: dict[str, Any], info: dict[tuple[str, str], MediaInfo | None]) -> list[Finding]:
    out: list[Finding] = []
    attachment = payload.get("attachment")
    frame: tuple[int, int] | None = None
    video = info.get((VIDEO, attachment)) if isinstance(attachment, str) else None
    image = info.get((IMAGE, attachment)) if isinstance(attachment, str) else None
    if video is not None and not video.problem:
        out.extend(_window(payload, video))
        frame = video.size
    if image is not None and image.size:
        frame = image.size
    frames = payload.get("attachments")
    if isinstance(frames, list):
        sizes = [
            (i, item.size)
            for i, url in enumerate(frames[:MAX_FRAMES])
            if isinstance(url, str) and (item := info.get((IMAGE, url))) is not None and item.size
        ]
        if sizes:
            frame = frame or sizes[0][1]
            first = sizes[0][1]
            odd = [(i, size) for i, size in sizes if size != first]
            if odd:
                i, size = odd[0]
                out.append(
                    Finding(
                        index_path("attachments", i),
                        f"frame {i + 1} is {size[0]}x{size[1]} but frame {sizes[0][0] + 1} is {first[0]}x{first[1]}"
                        f" ({len(odd)} of {len(sizes)} checked frames differ): annotations are drawn in one "
                        "frame size",
                    )
                )
    if frame is not None:
        for key in ("base_annotations", "hypothesis"):
            container = payload.get(key)
            if isinstance(container, dict) and isinstance(container.get("annotations"), list):
                found = _outside(container["annotations"], key_path(key, "annotations"), frame)
                if found:
                    out.append(found)
    mask_url = _indexed_image(payload) if task_type == "segmentannotation" else None
    mask = info.get((IMAGE, mask_url)) if mask_url else None
    if mask is not None and mask.size and frame is not None and mask.size != frame:
        out.append(
            Finding(
                "hypothesis.annotations.combined.indexedImage",
                f"the mask is {mask.width}x{mask.height} but the image is {frame[0]}x{frame[1]}: "
                "the prelabels will not line up with it",
            )
        )
    return out


def _window(payload: dict[str, Any], video: MediaInfo) -> list[Finding]:
    """start_time and start_time + duration_time against the video's length."""
    if video.duration is None:
        return []
    start = payload.get("start_time", 0)
    length = payload.get("duration_time")
    start = start if is_number(start) else 0
    # Half a frame of slack: the stated duration is rounded to the container's timescale.
    slack = 0.5 / video.frame_rate if video.frame_rate else 0.02
    end = video.duration
    if start > end + slack:
        return [Finding("start_time", f"starts at {start:g} s, after the end of the video ({end:.2f} s long)")]
    if is_number(length) and start + length > end + slack:
        return [
            Finding(
                "duration_time",
                f"start_time + duration_time = {start + length:g} s passes the end of the video, which is "
                f"{end:.2f} s long (annotators would get {max(0.0, end - start):.2f} s)",
            )
        ]
    return []


def _outside(annotations: list[Any], path: str, frame: tuple[int, int]) -> Finding | None:
    """The first of the boxes ({left, top, width, height}) and points ({x, y}) outside the frame.

    The walk is bounded in depth and in shapes looked at: the annotations come from a paste."""
    width, height = frame
    stack: list[tuple[Any, str, int]] = [(item, index_path(path, i), 1) for i, item in enumerate(annotations)][::-1]
    seen = outside = 0
    first: tuple[str, str] | None = None
    while stack and seen < MAX_SHAPES:
        value, where, depth = stack.pop()
        if isinstance(value, dict):
            box = [value.get(k) for k in ("left", "top", "width", "height")]
            point = [value.get(k) for k in ("x", "y")]
            if all(is_number(v) for v in box):
                seen += 1
                left, top, w, h = box
                if left < 0 or top < 0 or left + w > width or top + h > height:
                    outside += 1
                    first = first or (where, f"left {left:g}, top {top:g}, {w:g}x{h:g}")
                continue
            if all(is_number(v) for v in point):
                seen += 1
                if not (0 <= point[0] <= width and 0 <= point[1] <= height):
                    outside += 1
                    first = first or (where, f"x {point[0]:g}, y {point[1]:g}")
            if depth < 6:
                stack.extend((v, key_path(where, k), depth + 1) for k, v in reversed(list(value.items())))
        elif isinstance(value, list) and depth < 6:
            stack.extend((v, index_path(where, i), depth + 1) for i, v in reversed(list(enumerate(value))))
    if first is None:
        return None
    return Finding(
        first[0],
        f"{outside} of {seen} shapes lie (partly) outside the {width}x{height} frame; this one at {first[1]}",
    )
