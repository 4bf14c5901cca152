"""Small pictures that let people recognise a task in the table.

Made by a job (never inside a page request: the attachment may be slow or large),
kept on disk under MEDIA_ROOT/thumbs/, and served from our origin as PNGs we drew:

- "result": a completed segmentation's mask over its image (the email's picture);
- "attachment": the image, or the first frame of a video task given as frames.

A video file has no picture without decoding it; its row shows its type instead.
A source that cannot be fetched or read leaves a marker, so it is tried once.
"""

from __future__ import annotations

import functools
import io
import logging
from pathlib import Path

from django.conf import settings

from annotator.tasks.models import Task, TaskType

log = logging.getLogger(__name__)

SIZE = (160, 120)  # twice the table's 80x60 box, for sharp pixels on dense screens
SOURCE_MAX_BYTES = 20 * 1024 * 1024
SOURCE_TIMEOUT = 10.0


def folder() -> Path:
    return Path(settings.MEDIA_ROOT) / "thumbs"


def _path(task: Task, variant: str) -> Path:
    return folder() / f"{task.code.hex}-{variant}.png"


def _has_mask(task: Task) -> bool:
    return task.task_type == TaskType.SEGMENTATION and task.result_files.filter(name="mask").exclude(path="").exists()


def source_url(task: Task) -> str:
    """The image a thumbnail is drawn from: the attachment, or the first of a video's frames."""
    payload = task.payload if isinstance(task.payload, dict) else {}
    if task.task_type == TaskType.SEGMENTATION:
        return task.attachment
    frames = payload.get("attachments")
    if isinstance(frames, list) and frames and isinstance(frames[0], str):
        return frames[0]
    return ""


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
