"""Video results (both task types) as tracks of shapes, one shape per annotated frame.

videoannotation: the annotations file is a list, element i is frame i:
    [{"annotations": [{uuid, type, label, attributes, left, top, width, height}, ...]}, ...]
videoplaybackannotation: an object keyed by track uuid:
    {uuid: {label, geometry, frames: [{key, timestamp, attributes, left|x, top|y, width, height}]}}
(`key` is the video frame number). Events: {"events": [{label, type, start, end, ...}]}.
The same uuid is the same object across frames.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Shape:
    frame: int
    kind: str  # box, polygon, line, point, ellipse, cuboid
    box: tuple[float, float, float, float] | None = None  # left, top, width, height
    points: list[tuple[float, float]] = field(default_factory=list)
    rotation: float | None = None  # radians, clockwise (rotated boxes)
    attributes: dict = field(default_factory=dict)


@dataclass
class Track:
    uuid: str
    label: str
    kind: str
    shapes: list[Shape] = field(default_factory=list)


@dataclass
class Event:
    label: str
    type: str  # "point" or "range"
    start: int
    end: int
    start_time: float | None = None
    end_time: float | None = None
    attributes: dict = field(default_factory=dict)


@dataclass
class Video:
    tracks: list[Track]
    events: list[Event]
    frames: int
    # frame -> global attributes (videoannotation may send them per frame)
    global_attributes: dict[int, dict] = field(default_factory=dict)


class VideoError(ValueError):
    """An annotations file that is not in either of Scale's video formats."""


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _points(item: dict) -> list[tuple[float, float]]:
    vertices = item.get("vertices")
    if not isinstance(vertices, list):
        return []
    out = []
    for v in vertices:
        if isinstance(v, dict) and _number(v.get("x")) is not None and _number(v.get("y")) is not None:
            out.append((float(v["x"]), float(v["y"])))
    return out


def shape_of(item: dict, kind: str, frame: int) -> Shape | None:
    """One geometry in either file format; None when it has no usable coordinates."""
    attributes = item.get("attributes") if isinstance(item.get("attributes"), dict) else {}
    if kind == "box":
        # Playback boxes: Scale's examples say left/top, FiftyOne reads x/y: accept both.
        left = _number(item.get("left", item.get("x")))
        top = _number(item.get("top", item.get("y")))
        width, height = _number(item.get("width")), _number(item.get("height"))
        if None in (left, top, width, height):
            return None
        return Shape(frame, "box", (left, top, width, height), _points(item), _number(item.get("rotation")), attributes)
    if kind == "point":
        x, y = _number(item.get("x")), _number(item.get("y"))
        if x is None or y is None:
            return None
        return Shape(frame, "point", points=[(x, y)], attributes=attributes)
    points = _points(item)
    if not points:
        return None
    return Shape(frame, kind, points=points, attributes=attributes)


def parse_annotations(task_type: str, data: object) -> tuple[list[Track], int, dict[int, dict]]:
    """(tracks in order of first appearance, number of frames, global attributes per frame)."""
    tracks: dict[str, Track] = {}
    global_attributes: dict[int, dict] = {}
    frames = 0
    if task_type == "videoplaybackannotation" or isinstance(data, dict):
        if not isinstance(data, dict):
            raise VideoError("a video playback annotations file is an object keyed by track")
        for uuid, entry in data.items():
            if not isinstance(entry, dict):
                continue
            kind = str(entry.get("geometry") or entry.get("type") or "box")
            track = Track(str(uuid), str(entry.get("label") or "object"), kind)
            for n, item in enumerate(entry.get("frames") or []):
                if not isinstance(item, dict):
                    continue
                key = item.get("key")
                frame = int(key) if isinstance(key, int | float) and not isinstance(key, bool) and key >= 0 else n
                shape = shape_of(item, kind, frame)
                if shape is not None:
                    track.shapes.append(shape)
                    frames = max(frames, frame + 1)
            track.shapes.sort(key=lambda s: s.frame)
            tracks[track.uuid] = track
        return list(tracks.values()), frames, global_attributes
    if not isinstance(data, list):
        raise VideoError("a video annotations file is a list with one element per frame")
    for frame, element in enumerate(data):
        if not isinstance(element, dict):
            continue
        if isinstance(element.get("global_attributes"), dict) and element["global_attributes"]:
            global_attributes[frame] = element["global_attributes"]
        for n, item in enumerate(element.get("annotations") or []):
            if not isinstance(item, dict):
                continue
            kind = str(item.get("type") or "box")
            uuid = str(item.get("uuid") or f"frame-{frame}-{n}")
            track = tracks.get(uuid)
            if track is None:
                track = tracks[uuid] = Track(uuid, str(item.get("label") or "object"), kind)
            shape = shape_of(item, kind, frame)
            if shape is not None:
                track.shapes.append(shape)
    return list(tracks.values()), len(data), global_attributes


def parse_events(data: object) -> list[Event]:
    items = data.get("events") if isinstance(data, dict) else data
    events = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("start"), int | float):
            continue
        start = int(item["start"])
        end = int(item["end"]) if isinstance(item.get("end"), int | float) else start
        events.append(
            Event(
                str(item.get("label") or "event"),
                str(item.get("type") or ("range" if end != start else "point")),
                start,
                max(start, end),
                _number(item.get("startTime")),
                _number(item.get("endTime")),
                item.get("attributes") if isinstance(item.get("attributes"), dict) else {},
            )
        )
    return events


def load(task_type: str, annotations: Path | bytes, events: Path | bytes | None = None) -> Video:
    def read(source: Path | bytes) -> object:
        try:
            return json.loads(source if isinstance(source, bytes) else source.read_bytes())
        except (OSError, ValueError) as e:
            raise VideoError(f"not readable JSON: {e}") from e

    tracks, frames, global_attributes = parse_annotations(task_type, read(annotations))
    found = parse_events(read(events)) if events is not None else []
    frames = max([frames, *(e.end + 1 for e in found)])
    return Video(tracks, found, frames, global_attributes)


def attribute_text(value: object) -> str:
    """An attribute value as one string (CVAT and MOT carry text): lists comma-joined."""
    if isinstance(value, list):
        return ",".join(attribute_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
