"""Result files: copied into our storage when a task completes, shown by the result viewer.

Scale's result URLs expire, so a completed task's files are fetched (through
the guarded fetcher: public addresses, plus the built-in sandbox's own files; never
a workspace's configured API host) and kept under MEDIA_ROOT/results/<task code>/.

One callback decides how much is fetched, so the copy is bounded per task: at most
RESULT_MAX_FILES files and RESULT_MAX_BYTES bytes, within RESULT_COPY_TIMEOUT seconds
in all (one authentic callback listing 40 `labeled` URLs wrote 378 MB). The files
that matter most come first. A file is kept only as an image (PNG, JPEG, WebP, GIF)
or, for a video's annotations, as JSON, decided from its bytes (annotator/safe_files.py),
so nothing copied can be served back as a page or a script.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import NoReverseMatch, reverse

from annotator import safe_files
from annotator.tasks.models import ResultFile, Task, TaskType

log = logging.getLogger(__name__)

THUMB_SIZE = (320, 320)
MASK_ALPHA = 140


def result_urls(task: Task) -> dict[str, str]:
    """The files worth keeping, by the name the viewer asks for."""
    response = task.response if isinstance(task.response, dict) else {}
    annotations = response.get("annotations")
    urls: dict[str, str] = {}
    if task.task_type == TaskType.SEGMENTATION:
        combined = annotations.get("combined") if isinstance(annotations, dict) else None
        if isinstance(combined, dict):
            # More than 255 indexes only fit the 24-bit extended image: exports need it then.
            wide = any(e["index"] > 255 for e in label_legend(response))
            for key in ("indexedImage", "image", *(("extendedIndexedImage",) if wide else ())):
                if isinstance(combined.get(key), str):
                    urls[key] = combined[key]
        if isinstance(annotations, dict):
            urls.update(_per_label_urls(annotations))
        if task.attachment:
            # Kept for the thumbnail and for a viewer that outlives the customer's URL.
            urls["attachment"] = task.attachment
    else:
        if isinstance(annotations, dict) and isinstance(annotations.get("url"), str):
            urls["annotations"] = annotations["url"]
        # Events ({"events": [...]}) come in a file of their own, for both video types.
        events = response.get("events")
        if isinstance(events, dict) and isinstance(events.get("url"), str):
            urls["events"] = events["url"]
    return urls


# ResultFile.name is at most 100 characters, and one path segment of the file's URL.
_LABEL_CHARS = 80


def _per_label_urls(annotations: dict) -> dict[str, str]:
    """`labeled` (one mask per label, or per instance) and `unlabeled`, by file name.

    Names read as the label: "labeled:road", "labeled:car:2" for the second car
    instance, "unlabeled". A null entry (a label nobody used) has no file."""
    urls: dict[str, str] = {}
    labeled = annotations.get("labeled")
    if isinstance(labeled, dict):
        for label, value in labeled.items():
            # "/" would end the URL's path segment; control characters have no place in a name.
            safe = "".join(ch if ch.isprintable() and ch != "/" else "-" for ch in str(label))[:_LABEL_CHARS]
            if isinstance(value, str):
                urls.setdefault(f"labeled:{safe}", value)
            elif isinstance(value, list):
                for n, url in enumerate(value, start=1):
                    if isinstance(url, str):
                        urls.setdefault(f"labeled:{safe}:{n}", url)
    if isinstance(annotations.get("unlabeled"), str):
        urls["unlabeled"] = annotations["unlabeled"]
    return urls


def _folder(task: Task) -> Path:
    return Path(settings.MEDIA_ROOT) / "results" / task.code.hex


def _disk_name(name: str) -> str:
    """A file name made of safe characters; label names can hold anything printable."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    if safe != name:  # "labeled:a b" and "labeled:a_b" must not share a file
        safe += "-" + hashlib.sha1(name.encode()).hexdigest()[:10]  # noqa: S324 - a name, not a secret
    return safe


# Per file: a result file larger than this, or slower than this, is not a result file.
FILE_MAX_BYTES = 10 * 1024 * 1024
FILE_TIMEOUT = 20.0
# The most useful files first: whatever the caps leave out is the least missed.
_ORDER = ("indexedImage", "attachment", "annotations", "events", "image", "unlabeled")
# Name of the one row that says how many files the file cap left out.
OVER_LIMIT_NAME = "not-copied"


def _ordered(urls: dict[str, str]) -> list[tuple[str, str]]:
    rank = {name: n for n, name in enumerate(_ORDER)}
    return sorted(urls.items(), key=lambda item: rank.get(item[0], len(_ORDER)))


def _kept_type(name: str, content: bytes) -> str:
    """The type we keep this file as, from its bytes; raises UnsafeFile for anything else."""
    if name in ("annotations", "events"):
        if safe_files.sniff(content) != safe_files.JSON_TYPE:
            raise safe_files.UnsafeFile(f"The {name} file is not JSON.")
        return safe_files.JSON_TYPE
    return safe_files.check_raster(content)


def _failed(task: Task, name: str, url: str, error: str) -> ResultFile:
    row, _ = ResultFile.objects.update_or_create(
        task=task, name=name, defaults={"source_url": url[:10000], "path": "", "size": 0, "error": error[:1000]}
    )
    return row


def copy_results(task: Task) -> list[ResultFile]:
    """Fetch every result file once more (a re-completed task may have new ones), within the caps."""
    from annotator import fetcher

    folder = _folder(task)
    folder.mkdir(parents=True, exist_ok=True)
    trusted = fetcher.site_trusted()
    deadline = time.monotonic() + settings.RESULT_COPY_TIMEOUT
    bytes_left = settings.RESULT_MAX_BYTES
    wanted = _ordered(result_urls(task))
    copied = []
    for name, url in wanted[: settings.RESULT_MAX_FILES]:
        seconds_left = deadline - time.monotonic()
        if seconds_left <= 0:
            copied.append(
                _failed(task, name, url, f"the copy of this task's files took over {settings.RESULT_COPY_TIMEOUT:g} s "
                        "(RESULT_COPY_TIMEOUT)")
            )  # fmt: skip
            continue
        if bytes_left <= 0:
            copied.append(_failed(task, name, url, f"this task's files passed {_mb(settings.RESULT_MAX_BYTES)} "
                                  "(RESULT_MAX_BYTES)"))  # fmt: skip
            continue
        cap = min(FILE_MAX_BYTES, bytes_left)
        try:
            got = fetcher.fetch(url, max_bytes=cap, timeout=min(FILE_TIMEOUT, seconds_left), trusted=trusted)
            content_type = _kept_type(name, got.content)
        except fetcher.TooLarge:
            reason = f"larger than the {_mb(FILE_MAX_BYTES)} a result file may have"
            if cap < FILE_MAX_BYTES:
                reason = f"this task's files passed {_mb(settings.RESULT_MAX_BYTES)} (RESULT_MAX_BYTES)"
                bytes_left = 0  # the budget is spent: the files after this one are not fetched
            copied.append(_failed(task, name, url, reason))
            continue
        except (fetcher.FetchError, safe_files.UnsafeFile) as e:
            copied.append(_failed(task, name, url, e.message))
            continue
        bytes_left -= len(got.content)
        filename = _disk_name(name) + safe_files.SERVED_TYPES[content_type]
        (folder / filename).write_bytes(got.content)
        row, _ = ResultFile.objects.update_or_create(
            task=task,
            name=name,
            defaults={
                "source_url": url[:10000],
                "path": f"results/{task.code.hex}/{filename}",
                "content_type": content_type,
                "size": len(got.content),
                "error": "",
            },
        )
        copied.append(row)
        if name == "indexedImage":
            mask = _normalised_mask(got.content)
            if mask is not None:
                (folder / "mask.png").write_bytes(mask)
                ResultFile.objects.update_or_create(
                    task=task,
                    name="mask",
                    defaults={
                        "source_url": url[:10000],
                        "path": f"results/{task.code.hex}/mask.png",
                        "content_type": "image/png",
                        "size": len(mask),
                        "error": "",
                    },
                )
    left_out = len(wanted) - settings.RESULT_MAX_FILES
    if left_out > 0:
        # One row, not one per file: a 10 MB callback can list 100,000 URLs.
        copied.append(
            _failed(task, OVER_LIMIT_NAME, "", f"{left_out:,} more result files were not copied: a task keeps at most "
                    f"{settings.RESULT_MAX_FILES} (RESULT_MAX_FILES)")
        )  # fmt: skip
    return copied


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:g} MB"


def _index_channel(img):
    """One byte per pixel, the label index: what Scale's indexedImage means.

    Each branch makes at most one full-size copy: a 39.7-megapixel mask is 40 MB per copy."""
    if img.mode == "P":
        # Palette images store the index itself; a grey identity palette makes the conversion
        # to L keep it (L = (19595 r + 38470 g + 7471 b) >> 16 = i when r = g = b = i).
        img.putpalette(bytes(i for i in range(256) for _ in range(3)))
        return img.convert("L")
    if img.mode in ("L", "I", "I;16", "1"):
        return img.convert("L")
    if img.mode in ("RGB", "RGBA"):
        return img.getchannel("R")
    return img.convert("RGB").getchannel("R")


def normalised_mask(content: bytes) -> bytes:
    """A grayscale PNG whose value is the label index, whatever format Scale used.

    The browser reads colours, not palette indices. A PNG that already is one byte of grey
    per pixel is kept as it is (verified when copied): no decode at all."""
    img = safe_files.open_image(content)
    if img.format == "PNG" and img.mode == "L":
        return content
    mask = _index_channel(img)
    del img
    out = io.BytesIO()
    mask.save(out, "PNG")
    return out.getvalue()


def _normalised_mask(content: bytes) -> bytes | None:
    try:
        return normalised_mask(content)
    except Exception as e:  # Pillow raises many types for junk input
        log.warning("indexedImage is not a readable image: %s", e)
        return None


def label_legend(response: object) -> list[dict]:
    """[{name, index, color}] from labelMapping; instance labels become "car #1", "car #2"."""
    mapping = response.get("labelMapping") if isinstance(response, dict) else None
    if not isinstance(mapping, dict):
        return []
    legend = []
    for name, value in mapping.items():
        entries = value if isinstance(value, list) else [value]
        for n, entry in enumerate(entries, start=1):
            if not isinstance(entry, dict) or not isinstance(entry.get("index"), int):
                continue
            label = f"{name} #{n}" if isinstance(value, list) else str(name)
            color = entry.get("color") if isinstance(entry.get("color"), str) else "#ff00ff"
            legend.append({"name": label, "index": entry["index"], "color": color})
    return sorted(legend, key=lambda e: e["index"])


def file_url(task: Task, name: str) -> str:
    return reverse("task_result_file", args=[task.code, name])


def viewer_data(task: Task) -> dict | None:
    """What static/js/results.js needs to draw the result, or None when there is nothing to show."""
    files = {f.name: f for f in task.result_files.all() if f.path}
    payload = task.payload or {}
    if task.task_type == TaskType.SEGMENTATION and "mask" in files:
        image = file_url(task, "attachment") if "attachment" in files else task.attachment
        return {
            "kind": "segmentation",
            "image": image,
            "mask": file_url(task, "mask"),
            "labels": label_legend(task.response),
            "sandbox": from_sandbox(files.values()),
        }
    if task.task_type != TaskType.SEGMENTATION and "annotations" in files:
        frames = payload.get("attachments") if isinstance(payload.get("attachments"), list) else []
        return {
            "kind": "video",
            "annotations": file_url(task, "annotations"),
            "frames": [str(f) for f in frames],
            "video": "" if frames else str(payload.get("attachment") or ""),
            "frame_rate": payload.get("frame_rate") or 1,
            "events": file_url(task, "events") if "events" in files else "",
            "sandbox": from_sandbox(files.values()),
        }
    return None


def from_sandbox(files: Iterable[ResultFile]) -> bool:
    """Whether these results were drawn by our sandbox (its result URLs), not by Scale's labellers:
    the page says so, or a made-up mask would pass for a labeller's work."""
    try:
        prefix = reverse("sandbox:result", args=["x"])[:-1]
    except NoReverseMatch:  # the sandbox is switched off: nothing came from it
        return False
    return any(urlsplit(f.source_url).path.startswith(prefix) for f in files)


def _hex_rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    try:
        return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
    except ValueError:
        return 255, 0, 255


def _fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    scale = min(box[0] / size[0], box[1] / size[1], 1.0)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def render_thumbnail(mask_png: bytes, attachment: bytes | None, legend: list[dict]) -> bytes:
    """The mask's colours over the image, THUMB_SIZE at most, decoding as little as possible.

    Everything is drawn at thumbnail size: the mask is decoded once (one byte a pixel) and
    shrunk with NEAREST (indices must not blend); a JPEG image is decoded at 1/2 to 1/8 scale
    (Pillow's draft). The old code composited at full size in RGBA: a 39.7-megapixel mask cost
    634 MB (docs/benchmarks.md, "Mask thumbnails")."""
    from PIL import Image

    mask = safe_files.open_image(mask_png)
    size = _fit(mask.size, THUMB_SIZE)
    if mask.mode != "L":
        mask = mask.convert("L")
    small_mask = mask.resize(size, Image.Resampling.NEAREST)
    del mask
    if attachment is not None:
        img = safe_files.open_image(attachment)
        img.draft("RGB", size)  # JPEG only: decode at the smallest scale still >= size
        base = img.convert("RGB").resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
        del img
        base = base.convert("RGBA")
    else:
        base = Image.new("RGBA", size, (40, 40, 40, 255))
    lut_r, lut_g, lut_b, lut_a = [0] * 256, [0] * 256, [0] * 256, [0] * 256
    for entry in legend:
        if 0 <= entry["index"] < 256:
            r, g, b = _hex_rgb(entry["color"])
            i = entry["index"]
            lut_r[i], lut_g[i], lut_b[i], lut_a[i] = r, g, b, MASK_ALPHA
    overlay = Image.merge(
        "RGBA",
        [small_mask.point(lut_r), small_mask.point(lut_g), small_mask.point(lut_b), small_mask.point(lut_a)],
    )
    out_img = Image.alpha_composite(base, overlay).convert("RGB")
    out = io.BytesIO()
    out_img.save(out, "PNG", optimize=True)
    return out.getvalue()


def thumbnail_png(task: Task) -> bytes | None:
    """A small PNG of the mask over the image, for email; None when there is no mask."""
    files = {f.name: f for f in task.result_files.all() if f.path}
    if "mask" not in files:
        return None
    try:
        media = Path(settings.MEDIA_ROOT)
        mask = (media / files["mask"].path).read_bytes()
        attachment = (media / files["attachment"].path).read_bytes() if "attachment" in files else None
        return render_thumbnail(mask, attachment, label_legend(task.response))
    except Exception as e:  # a broken file must not stop the email
        log.warning("no thumbnail for task %s: %s", task.pk, e)
        return None
