"""Small pictures that let people recognise a task in the table.

Made by a job (never inside a page request: the attachment may be slow or large),
kept on disk under MEDIA_ROOT/thumbs/, and served from our origin as PNGs we drew:

- "result": a completed segmentation's mask over its image (the email's picture);
- "attachment": the image, the first of a video task's frames, or the first frame
  of a video file (MP4/MOV or WebM), decoded with PyAV from the file's first
  VIDEO_MAX_BYTES (a Range request: a video whose index is at its end cannot be
  decoded from its start, and its row shows its type instead).

A source that cannot be fetched or read leaves a marker, so it is tried once.
"""

from __future__ import annotations

import functools
import io
import logging
from pathlib import Path

from django.conf import settings

from annotator import webminfo
from annotator.tasks.models import Task, TaskType

log = logging.getLogger(__name__)

SIZE = (160, 120)  # twice the table's 80x60 box, for sharp pixels on dense screens
SOURCE_MAX_BYTES = 20 * 1024 * 1024
SOURCE_TIMEOUT = 10.0
VIDEO_MAX_BYTES = 16 * 1024 * 1024
# A frame larger than this is not decoded for a thumbnail (8K is 33 megapixels).
VIDEO_MAX_PIXELS = 40_000_000
# Packets read looking for the first picture before giving up.
VIDEO_MAX_PACKETS = 200


def folder() -> Path:
    return Path(settings.MEDIA_ROOT) / "thumbs"


def _path(task: Task, variant: str) -> Path:
    return folder() / f"{task.code.hex}-{variant}.png"


def _has_mask(task: Task) -> bool:
    return task.task_type == TaskType.SEGMENTATION and task.result_files.filter(name="mask").exclude(path="").exists()


def source_url(task: Task) -> str:
    """What a thumbnail is drawn from: the attachment, the first of a video's frames, or its video file."""
    payload = task.payload if isinstance(task.payload, dict) else {}
    if task.task_type == TaskType.SEGMENTATION:
        return task.attachment
    frames = payload.get("attachments")
    if isinstance(frames, list) and frames and isinstance(frames[0], str):
        return frames[0]
    video = payload.get("attachment")
    return video if isinstance(video, str) else ""


def _is_video_file(task: Task) -> bool:
    payload = task.payload if isinstance(task.payload, dict) else {}
    frames = payload.get("attachments")
    return task.task_type != TaskType.SEGMENTATION and not (isinstance(frames, list) and frames)


def video_kind(content: bytes) -> str | None:
    """The container PyAV is asked to read, from the file's first bytes; None for anything else."""
    if content[4:8] == b"ftyp":
        return "mp4"  # ISO base media: MP4 and QuickTime's MOV share the demuxer
    if webminfo.is_webm(content):
        return "matroska"  # EBML: WebM and Matroska
    return None


def video_first_frame(content: bytes):
    """The first picture of an MP4/MOV or WebM file's first video stream, as a Pillow image.

    FFmpeg parses input nobody here wrote, so it is given only the two containers we
    sniffed (no probing), one stream, a bounded number of packets and a frame size cap."""
    import av

    kind = video_kind(content)
    if kind is None:
        raise ValueError("not an MP4, MOV or WebM file")
    with av.open(io.BytesIO(content), format=kind) as container:
        if not container.streams.video:
            raise ValueError("the file has no video stream")
        stream = container.streams.video[0]
        if stream.width * stream.height > VIDEO_MAX_PIXELS:
            raise ValueError(f"the video's frames are {stream.width} x {stream.height} pixels")
        for n, packet in enumerate(container.demux(stream)):
            if n >= VIDEO_MAX_PACKETS:
                break
            for frame in packet.decode():
                return frame.to_image()
    raise ValueError("no picture in the file's first part")


def best(task: Task) -> Path | None:
    """The thumbnail to show now, if one was made."""
    for variant in ("result", "attachment"):
        path = _path(task, variant)
        if path.exists():
            return path
    return None


def wanted(task: Task) -> bool:
    """Whether a job would make a better thumbnail than the one on disk (or none)."""
    if _has_mask(task) and not _path(task, "result").exists() and not _path(task, "result-none").exists():
        return True
    if _path(task, "attachment").exists() or _path(task, "none").exists():
        return False
    return bool(source_url(task))


def _small_png(img) -> bytes:
    img.thumbnail(SIZE)
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue()


def _source_bytes(task: Task) -> bytes:
    from annotator import fetcher

    copied = task.result_files.filter(name="attachment").exclude(path="").first()
    if copied is not None:
        return (Path(settings.MEDIA_ROOT) / copied.path).read_bytes()
    if _is_video_file(task):
        # The first part is enough for the first frame of a file written for streaming
        # (its index first); a server that ignores Range is cut off there too.
        got = fetcher.request(
            "GET", source_url(task), headers={"Range": f"bytes=0-{VIDEO_MAX_BYTES - 1}"},
            max_bytes=VIDEO_MAX_BYTES, timeout=SOURCE_TIMEOUT, trusted=fetcher.site_trusted(), truncate=True,
        )  # fmt: skip
        if got.status not in (200, 206):
            raise fetcher.FetchError(f"The server answered HTTP {got.status}.")
        return got.content
    got = fetcher.fetch(
        source_url(task), max_bytes=SOURCE_MAX_BYTES, timeout=SOURCE_TIMEOUT, trusted=fetcher.site_trusted()
    )
    return got.content


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(content)
    tmp.replace(path)  # whole or not at all: the page never reads half a picture


def make(task: Task) -> Path | None:
    """Draw what is missing; returns the best thumbnail afterwards."""
    from PIL import Image

    from annotator import safe_files
    from annotator.tasks import results

    if _has_mask(task) and not _path(task, "result").exists():
        png = results.thumbnail_png(task)
        if png:
            _write(_path(task, "result"), _small_png(Image.open(io.BytesIO(png))))
        else:
            _write(_path(task, "result-none"), b"")
    if not _path(task, "attachment").exists() and not _path(task, "none").exists() and source_url(task):
        try:
            if _is_video_file(task):
                img = video_first_frame(_source_bytes(task))
            else:
                img = safe_files.open_image(_source_bytes(task))
                img.draft("RGB", (SIZE[0] * 2, SIZE[1] * 2))  # JPEG: decode at a fraction of the size
                img.load()
            _write(_path(task, "attachment"), _small_png(img))
        except Exception as e:  # unreachable, not an image, damaged: the row shows its type instead
            log.info("no thumbnail for task %s: %s", task.pk, e)
            _write(_path(task, "none"), b"")
    return best(task)


@functools.cache
def placeholder() -> bytes:
    """A transparent 1x1 PNG: "no picture (yet)"; the table shows the task type behind it."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGBA", (1, 1), (0, 0, 0, 0)).save(out, "PNG")
    return out.getvalue()
