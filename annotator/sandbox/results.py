"""Pretend labelling: deterministic result files for a finished sandbox task.

A task's `response` holds URLs only; the files behind them (PNG masks, per-frame JSON)
are drawn from the task's id and params, so completing a task is one UPDATE and the
pixels are made when first asked for (or eagerly by the completion job). The sandbox
never fetches the attachment: it works offline, so the picture size comes from the
attachment's name (`...-800x600.png`, the demo media) or defaults to 640x400.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import math
import os
import random
import re
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.urls import reverse
from PIL import Image, ImageDraw

from annotator import scale_rules

from .models import SandboxFile, SandboxTask, results_dir

DEFAULT_SIZE = (640, 400)
MAX_SIDE = 2048
MAX_FRAMES = 600
# Sizes and lengths of the demo media (media.py), so results fit them exactly.
DEMO_SIZES = {"street-1.png": (640, 400), "street-2.png": (640, 400), "street-3.png": (640, 400)}
DEMO_VIDEOS = {"traffic.mp4": (320, 240, 3.0, 25), "traffic.webm": (320, 240, 3.0, 25)}
DEFAULT_VIDEO = (640, 400, 3.0, 30)
PALETTE = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
    "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3",
    "#808000", "#ffd8b1", "#000075", "#808080",
)  # fmt: skip
_NAME = re.compile(r"^([0-9a-f]{24})-([0-9a-f]{24})-([a-z0-9-]{1,40})\.(png|json)$")
_SIZE_IN_NAME = re.compile(r"(?<![0-9])([1-9][0-9]{1,4})x([1-9][0-9]{1,4})(?![0-9])")


# --- names and URLs ----------------------------------------------------------


def _signature(task_id: str, part: str) -> str:
    message = f"sandbox-result:{task_id}:{part}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()[:24]


def result_name(task_id: str, part: str, ext: str) -> str:
    # Unguessable like an S3 presigned URL, yet derived, so no table of files is needed.
    return f"{task_id}-{_signature(task_id, part)}-{part}.{ext}"


def parse_result_name(name: str) -> tuple[str, str, str] | None:
    match = _NAME.match(name)
    if not match:
        return None
    task_id, signature, part, ext = match.groups()
    if not hmac.compare_digest(signature, _signature(task_id, part)):
        return None
    return task_id, part, ext


def result_url(task: SandboxTask, part: str, ext: str) -> str:
    origin = task.origin or settings.SITE_URL
    return origin + reverse("sandbox:result", args=[result_name(task.task_id, part, ext)])


# --- what the attachment looks like -------------------------------------------


def _last_segment(url: object) -> str:
    return url.rsplit("?", 1)[0].rsplit("/", 1)[-1] if isinstance(url, str) else ""


def image_size(url: object) -> tuple[int, int]:
    from . import files

    if file_id := files.file_id_of(url):
        # An uploaded image: its real size.
        size = SandboxFile.objects.filter(file_id=file_id).values_list("width", "height").first()
        if size and size[0] and size[1]:
            return min(size[0], MAX_SIDE), min(size[1], MAX_SIDE)
    name = _last_segment(url)
    if name in DEMO_SIZES:
        return DEMO_SIZES[name]
    match = _SIZE_IN_NAME.search(name)
    if match:
        return min(int(match[1]), MAX_SIDE), min(int(match[2]), MAX_SIDE)
    return DEFAULT_SIZE


def video_shape(params: dict) -> tuple[int, int, int, float, float]:
    """(width, height, frames, annotation rate, video fps) of a video task."""
    attachments = params.get("attachments")
    if isinstance(attachments, list) and attachments and params.get("attachment_type") == "image":
        width, height = image_size(attachments[0])
        return width, height, min(len(attachments), MAX_FRAMES), 1.0, 1.0
    name = _last_segment(params.get("attachment"))
    width, height, duration, fps = DEMO_VIDEOS.get(name, DEFAULT_VIDEO)
    if name not in DEMO_VIDEOS:
        match = _SIZE_IN_NAME.search(name)
        if match:
            width, height = min(int(match[1]), MAX_SIDE), min(int(match[2]), MAX_SIDE)
    start = params.get("start_time")
    start = float(start) if isinstance(start, int | float) and not isinstance(start, bool) and start > 0 else 0.0
    asked = params.get("duration_time")
    asked = float(asked) if isinstance(asked, int | float) and not isinstance(asked, bool) and asked > 0 else None
    if name in DEMO_VIDEOS:
        # As at Scale, the annotated window ends where the video does: a demo video's
        # length is known, so a window past its end is cut (the composer warns about it).
        duration = max(0.0, min(asked if asked is not None else duration, duration - start))
    elif asked is not None:
        duration = asked  # a video we do not have: its length is unknown, trust the task
    rate = params.get("frame_rate")
    rate = float(rate) if isinstance(rate, int | float) and rate > 0 else 1.0
    frames = max(1, min(MAX_FRAMES, math.ceil(duration * rate)))
    return width, height, frames, rate, float(fps)


# --- segmentation ------------------------------------------------------------


@dataclass
class Segment:
    label: str
    index: int
    color: str
    instance: bool


def segments(task: SandboxTask) -> list[Segment]:
    rng = random.Random(task.task_id)
    result: list[Segment] = []
    for name, instance in scale_rules.leaf_labels_with_instance(task.params.get("labels")):
        for _ in range(rng.randint(2, 3) if instance else 1):
            index = len(result) + 1
            result.append(Segment(name, index, PALETTE[(index - 1) % len(PALETTE)], instance))
    return result


def index_map(task: SandboxTask) -> Image.Image:
    """A street-like pseudo-segmentation: bands for stuff, blobs for instances."""
    width, height = image_size(task.params.get("attachment"))
    segs = segments(task)
    rng = random.Random(task.task_id + ":pixels")
    stuff = [s for s in segs if not s.instance]
    things = [s for s in segs if s.instance]
    allow_unlabeled = task.params.get("allow_unlabeled") is True
    background = 0 if (allow_unlabeled or not segs) else (stuff or things)[0].index
    image = Image.new("L", (width, height), background)
    draw = ImageDraw.Draw(image)
    if stuff:
        # Wavy horizontal bands, top to bottom, like sky / buildings / road.
        # Each band is drawn to the bottom; the next one covers the rest.
        tops = [0, *sorted(rng.randint(1, height - 1) for _ in range(len(stuff) - 1))]
        for seg, top in zip(stuff, tops, strict=True):
            wobble = [rng.randint(-height // 40 - 1, height // 40 + 1) for _ in range(5)]
            xs = [round(width * i / 4) for i in range(5)]
            points = [(x, max(0, top + w) if top else 0) for x, w in zip(xs, wobble, strict=True)]
            points += [(width, height), (0, height)]
            draw.polygon(points, fill=seg.index)
    for seg in things:
        w = rng.randint(max(4, width // 10), max(5, width // 4))
        h = rng.randint(max(4, height // 10), max(5, height // 4))
        x = rng.randint(0, max(0, width - w))
        y = rng.randint(height // 3, max(height // 3, height - h))
        if rng.random() < 0.5:
            draw.rounded_rectangle((x, y, x + w, y + h), radius=min(w, h) // 5, fill=seg.index)
        else:
            draw.ellipse((x, y, x + w, y + h), fill=seg.index)
    if allow_unlabeled and segs:
        # Leave a corner unlabeled, as a tasker might.
        draw.rectangle((0, 0, width // 6, height // 8), fill=0)
    return image


def _hex_rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def render_mask(task: SandboxTask, part: str) -> bytes | None:
    index = index_map(task)
    segs = segments(task)
    labelled = index.point(lambda v: 0 if v == 0 else 255)
    if part == "indexed":
        return _png(index)
    if part == "image":
        palette = [0, 0, 0] * 256
        for seg in segs:
            palette[seg.index * 3 : seg.index * 3 + 3] = _hex_rgb(seg.color)
        colored = index.copy()
        colored.putpalette(palette)
        rgba = colored.convert("RGBA")
        rgba.putalpha(labelled)
        return _png(rgba)
    if part == "extended":
        # 24-bit index: R low byte, G middle, B high (all indexes here fit in R).
        zero = Image.new("L", index.size, 0)
        return _png(Image.merge("RGBA", (index, zero, zero, labelled)))
    if part == "unlabeled":
        alpha = index.point(lambda v: 255 if v == 0 else 0)
        white = Image.new("RGBA", index.size, (255, 255, 255, 0))
        white.putalpha(alpha)
        return _png(white)
    if part.startswith("labeled-"):
        number = part.removeprefix("labeled-")
        seg = next((s for s in segs if str(s.index) == number), None)
        if seg is None:
            return None
        alpha = index.point(lambda v: 255 if v == seg.index else 0)
        layer = Image.new("RGBA", index.size, (*_hex_rgb(seg.color), 0))
        layer.putalpha(alpha)
        return _png(layer)
    return None


def segmentation_response(task: SandboxTask) -> dict:
    mapping: dict[str, Any] = {}
    labeled: dict[str, Any] = {}
    for seg in segments(task):
        entry = {"index": seg.index, "color": seg.color}
        url = result_url(task, f"labeled-{seg.index}", "png")
        if seg.instance:
            mapping.setdefault(seg.label, []).append(entry)
            labeled.setdefault(seg.label, []).append(url)
        else:
            mapping[seg.label] = entry
            labeled[seg.label] = url
    return {
        "labelMapping": mapping,
        "annotations": {
            "combined": {
                "image": result_url(task, "image", "png"),
                "indexedImage": result_url(task, "indexed", "png"),
                "extendedIndexedImage": result_url(task, "extended", "png"),
            },
            "labeled": labeled,
            "unlabeled": result_url(task, "unlabeled", "png"),
        },
    }


# --- video -------------------------------------------------------------------


@dataclass
class Track:
    uuid: str
    kind: str
    label: str
    start: tuple[float, float, float, float]  # left, top, width, height at the first frame
    end: tuple[float, float, float, float]


def _attribute_values(params: dict, label: str, number: int) -> dict:
    values: dict[str, Any] = {}
    attributes = params.get("annotation_attributes")
    if not isinstance(attributes, dict):
        return values
    for name, spec in attributes.items():
        if not isinstance(spec, dict):
            continue
        condition = (
            (spec.get("conditions") or {}).get("label_condition") if isinstance(spec.get("conditions"), dict) else None
        )
        if isinstance(condition, dict):
            allowed = condition.get("label")
            allowed = [allowed] if isinstance(allowed, str) else allowed
            if isinstance(allowed, list) and label not in allowed:
                continue
        kind = spec.get("type", "category")
        if kind == "category":
            choices = scale_rules.leaf_labels(spec.get("choices"))
            if choices:
                choice = choices[number % len(choices)]
                values[name] = [choice] if spec.get("allow_multiple") is True else choice
        elif kind == "number":
            low = spec.get("min") if isinstance(spec.get("min"), int | float) else 0
            values[name] = low + number
        elif kind == "angle":
            values[name] = (45 * number) % 360
        elif kind == "text":
            values[name] = f"sandbox note {number + 1}"
    return values


def tracks(task: SandboxTask, width: int, height: int) -> list[Track]:
    rng = random.Random(task.task_id + ":tracks")
    result: list[Track] = []
    geometries = task.params.get("geometries")
    if not isinstance(geometries, dict):
        return result
    for kind in scale_rules.GEOMETRY_KINDS:
        spec = geometries.get(kind)
        if not isinstance(spec, dict):
            continue
        labels = scale_rules.leaf_labels(spec.get("objects_to_annotate"))
        for i, label in enumerate(labels[:3]):
            w, h = rng.uniform(0.1, 0.25) * width, rng.uniform(0.1, 0.25) * height
            start = (rng.uniform(0, width - w), rng.uniform(0, height - h), w, h)
            grow = rng.uniform(0.85, 1.15)
            end_w, end_h = min(w * grow, width), min(h * grow, height)
            end = (rng.uniform(0, width - end_w), rng.uniform(0, height - end_h), end_w, end_h)
            seed = hashlib.sha256(f"{task.task_id}:{kind}:{i}".encode()).digest()[:16]
            result.append(Track(str(uuid.UUID(bytes=seed, version=4)), kind, label, start, end))
    return result


def _at(track: Track, t: float) -> tuple[float, float, float, float]:
    left, top, w, h = (a + (b - a) * t for a, b in zip(track.start, track.end, strict=True))
    return round(left, 2), round(top, 2), round(w, 2), round(h, 2)


def _geometry(track: Track, t: float) -> dict:
    left, top, w, h = _at(track, t)
    if track.kind == "box":
        return {"left": left, "top": top, "width": w, "height": h}
    if track.kind == "point":
        return {"x": round(left + w / 2, 2), "y": round(top + h / 2, 2)}
    if track.kind == "line":
        return {
            "vertices": [
                {"x": left, "y": top + h},
                {"x": round(left + w / 2, 2), "y": top},
                {"x": left + w, "y": top + h},
            ]
        }
    if track.kind == "ellipse":
        cx, cy = round(left + w / 2, 2), round(top + h / 2, 2)
        return {
            "vertices": [{"x": cx, "y": top}, {"x": left + w, "y": cy}, {"x": cx, "y": top + h}, {"x": left, "y": cy}]
        }
    if track.kind == "cuboid":
        depth = round(w * 0.2, 2)
        front = [(left, top), (left + w, top), (left + w, top + h), (left, top + h)]
        back = [(x + depth, y - depth) for x, y in front]
        return {"vertices": [{"x": round(x, 2), "y": round(y, 2)} for x, y in front + back], "edges": []}
    corners = [(left, top), (left + w, top), (left + w, top + h), (left, top + h)]
    return {"vertices": [{"x": round(x, 2), "y": round(y, 2)} for x, y in corners]}


def video_annotations(task: SandboxTask) -> list[dict]:
    """videoannotation: one `{annotations: [...]}` per frame, same uuid = same object."""
    width, height, frames, _, _ = video_shape(task.params)
    objects = tracks(task, width, height)
    result = []
    for frame in range(frames):
        t = frame / (frames - 1) if frames > 1 else 0.0
        annotations = []
        for number, track in enumerate(objects):
            annotation = {"uuid": track.uuid, "type": track.kind, "label": track.label}
            annotation.update(_geometry(track, t))
            annotation["attributes"] = _attribute_values(task.params, track.label, number)
            annotations.append(annotation)
        result.append({"annotations": annotations})
    return result


def playback_annotations(task: SandboxTask) -> dict:
    """videoplaybackannotation: tracks keyed by uuid, each with its frames."""
    width, height, frames, rate, fps = video_shape(task.params)
    start = task.params.get("start_time") if isinstance(task.params.get("start_time"), int | float) else 0
    with_labels = task.params.get("with_labels", True) is not False
    result: dict[str, dict] = {}
    for number, track in enumerate(tracks(task, width, height)):
        entry: dict[str, Any] = {"geometry": track.kind}
        if with_labels:
            entry["label"] = track.label
        entry["frames"] = []
        for frame in range(frames):
            t = frame / (frames - 1) if frames > 1 else 0.0
            timestamp = round(start + frame / rate, 3)
            item = {"key": round(timestamp * fps), "timestamp": timestamp}
            item.update(_geometry(track, t))
            item["attributes"] = _attribute_values(task.params, track.label, number)
            entry["frames"].append(item)
        result[track.uuid] = entry
    return result


def events(task: SandboxTask) -> dict:
    names = task.params.get("events_to_annotate")
    _, _, frames, rate, _ = video_shape(task.params)
    found = []
    for i, name in enumerate(names if isinstance(names, list) else []):
        if not isinstance(name, str):
            continue
        start = min(i, frames - 1)
        end = min(frames - 1, start + max(1, frames // 3))
        found.append(
            {
                "label": name,
                "type": "range",
                "start": start,
                "startTime": round(start / rate, 3),
                "end": end,
                "endTime": round(end / rate, 3),
                "attributes": {},
            }
        )
    return {"events": found}


def video_response(task: SandboxTask) -> dict:
    response: dict[str, Any] = {"annotations": {"url": result_url(task, "annotations", "json")}}
    wants_events = bool(task.params.get("events_to_annotate"))
    if task.task_type == "videoplaybackannotation" or wants_events:
        response["events"] = {"url": result_url(task, "events", "json")}
    return response


def completed_response(task: SandboxTask) -> dict:
    if task.task_type == "segmentannotation":
        return segmentation_response(task)
    return video_response(task)


def render(task: SandboxTask, part: str, ext: str) -> bytes | None:
    if ext == "png" and task.task_type == "segmentannotation":
        return render_mask(task, part)
    if ext == "json" and task.task_type != "segmentannotation":
        if part == "annotations":
            data = (
                playback_annotations(task) if task.task_type == "videoplaybackannotation" else video_annotations(task)
            )
        elif part == "events":
            data = events(task)
        else:
            return None
        return json.dumps(data, separators=(",", ":")).encode()
    return None


def materialize(task: SandboxTask, name: str, part: str, ext: str) -> Path | None:
    """The stored file for a result name, drawing it first if needed."""
    path = Path(results_dir()) / name
    if path.exists():
        return path
    content = render(task, part, ext)
    if content is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: two concurrent requests both write the same bytes, and
    # nobody ever reads half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; a web server may serve these
    os.replace(tmp, path)
    return path


def materialize_all(task: SandboxTask) -> None:
    """Draw every file of a completed task now (the completion job does this)."""
    for url in _urls(task.response):
        name = url.rsplit("/", 1)[-1]
        parsed = parse_result_name(name)
        if parsed:
            materialize(task, name, parsed[1], parsed[2])


def _urls(value: object) -> list[str]:
    if isinstance(value, str):
        return [value] if "/results/" in value else []
    if isinstance(value, dict):
        return [u for v in value.values() for u in _urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in _urls(v)]
    return []
