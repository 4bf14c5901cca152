"""Result files: copied into our storage when a task completes, shown by the result viewer.

Scale's result URLs expire, so a completed task's files are fetched (through
the guarded fetcher: public addresses, plus the workspace's own API host so the
sandbox's loopback files work) and kept under MEDIA_ROOT/results/<task code>/.
"""

from __future__ import annotations

import hashlib
import io
import logging
import mimetypes
import re
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import reverse

from annotator.tasks.models import ResultFile, Task, TaskType

log = logging.getLogger(__name__)

# A decoded mask is width*height bytes: refuse images that would eat memory.
MAX_PIXELS = 40_000_000
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
            for key in ("indexedImage", "image"):
                if isinstance(combined.get(key), str):
                    urls[key] = combined[key]
        if isinstance(annotations, dict):
            urls.update(_per_label_urls(annotations))
        if task.attachment:
            # Kept for the thumbnail and for a viewer that outlives the customer's URL.
            urls["attachment"] = task.attachment
    elif isinstance(annotations, dict) and isinstance(annotations.get("url"), str):
        urls["annotations"] = annotations["url"]
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


def allowed_hosts(task: Task) -> list[str]:
    """The workspace's own API host: trusted even on loopback (the sandbox's result files)."""
    from annotator import fetcher

    return fetcher.hosts_of(task.workspace.scale_base_url)


def _folder(task: Task) -> Path:
    return Path(settings.MEDIA_ROOT) / "results" / task.code.hex


def _disk_name(name: str) -> str:
    """A file name made of safe characters; label names can hold anything printable."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    if safe != name:  # "labeled:a b" and "labeled:a_b" must not share a file
        safe += "-" + hashlib.sha1(name.encode()).hexdigest()[:10]  # noqa: S324 - a name, not a secret
    return safe


def _extension(content_type: str, url: str) -> str:
    ext = mimetypes.guess_extension((content_type or "").split(";")[0].strip()) or ""
    if not ext:
        ext = Path(urlsplit(url).path).suffix[:8]
    return ext if ext.startswith(".") and ext[1:].isalnum() else ".bin"


def copy_results(task: Task) -> list[ResultFile]:
    """Fetch every result file once more (a re-completed task may have new ones)."""
    from annotator import fetcher

    folder = _folder(task)
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for name, url in result_urls(task).items():
        try:
            got = fetcher.fetch(url, allow_hosts=allowed_hosts(task))
        except fetcher.FetchError as e:
            row, _ = ResultFile.objects.update_or_create(
                task=task, name=name, defaults={"source_url": url, "path": "", "size": 0, "error": str(e)[:1000]}
            )
            copied.append(row)
            continue
        filename = _disk_name(name) + _extension(got.content_type, url)
        (folder / filename).write_bytes(got.content)
        row, _ = ResultFile.objects.update_or_create(
            task=task,
            name=name,
            defaults={
                "source_url": url,
                "path": f"results/{task.code.hex}/{filename}",
                "content_type": (got.content_type or "application/octet-stream")[:100],
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
                        "source_url": url,
                        "path": f"results/{task.code.hex}/mask.png",
                        "content_type": "image/png",
                        "size": len(mask),
                        "error": "",
                    },
                )
    return copied


def _open_image(content: bytes):
    from PIL import Image

    img = Image.open(io.BytesIO(content))
    if img.width * img.height > MAX_PIXELS:
        raise ValueError("image too large")
    return img


def _index_channel(img):
    """One byte per pixel, the label index: what Scale's indexedImage means."""
    if img.mode == "P":
        # Palette images store the index itself; converting would map it to colours.
        return _palette_indices(img)
    if img.mode in ("L", "I", "I;16", "1"):
        return img.convert("L")
    return img.convert("RGB").getchannel("R")


def _palette_indices(img):
    from PIL import Image

    return Image.frombytes("L", img.size, img.tobytes())


def _normalised_mask(content: bytes) -> bytes | None:
    # The browser reads colours, not palette indices: store a grayscale copy
    # whose value is the label index, whatever format Scale used.
    try:
        mask = _index_channel(_open_image(content))
    except Exception as e:  # Pillow raises many types for junk input
        log.warning("indexedImage is not a readable image: %s", e)
        return None
    out = io.BytesIO()
    mask.save(out, "PNG")
    return out.getvalue()


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
        }
    if task.task_type != TaskType.SEGMENTATION and "annotations" in files:
        frames = payload.get("attachments") if isinstance(payload.get("attachments"), list) else []
        return {
            "kind": "video",
            "annotations": file_url(task, "annotations"),
            "frames": [str(f) for f in frames],
            "video": "" if frames else str(payload.get("attachment") or ""),
            "frame_rate": payload.get("frame_rate") or 1,
        }
    return None


def _hex_rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    try:
        return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
    except ValueError:
        return 255, 0, 255


def thumbnail_png(task: Task) -> bytes | None:
    """A small PNG of the mask over the image, for email; None when there is no mask."""
    from PIL import Image

    files = {f.name: f for f in task.result_files.all() if f.path}
    if "mask" not in files:
        return None
    try:
        media = Path(settings.MEDIA_ROOT)
        mask = _open_image((media / files["mask"].path).read_bytes()).convert("L")
        if "attachment" in files:
            base = _open_image((media / files["attachment"].path).read_bytes()).convert("RGBA")
            base = base.resize(mask.size)
        else:
            base = Image.new("RGBA", mask.size, (40, 40, 40, 255))
        lut_r, lut_g, lut_b, lut_a = [0] * 256, [0] * 256, [0] * 256, [0] * 256
        for entry in label_legend(task.response):
            if 0 <= entry["index"] < 256:
                r, g, b = _hex_rgb(entry["color"])
                i = entry["index"]
                lut_r[i], lut_g[i], lut_b[i], lut_a[i] = r, g, b, MASK_ALPHA
        overlay = Image.merge(
            "RGBA",
            [mask.point(lut_r), mask.point(lut_g), mask.point(lut_b), mask.point(lut_a)],
        )
        out_img = Image.alpha_composite(base, overlay).convert("RGB")
        out_img.thumbnail(THUMB_SIZE)
        out = io.BytesIO()
        out_img.save(out, "PNG", optimize=True)
        return out.getvalue()
    except Exception as e:  # a broken file must not stop the email
        log.warning("no thumbnail for task %s: %s", task.pk, e)
        return None
