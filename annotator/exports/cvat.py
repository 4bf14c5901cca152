"""CVAT for video 1.1 XML: one file per video, objects as tracks of keyframes.

The layout follows CVAT's documented XML format (docs "XML annotation format",
section Interpolation): <annotations><version>1.1</version><meta><task>...<labels>
then <track id label source> holding one shape per keyframe, each with frame,
outside, occluded, keyframe (0/1) and <attribute name>value</attribute> children.
An object that leaves (a gap in a general video, or the end of its last frame)
gets an outside="1" keyframe, as CVAT writes it. Events become frame tags.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import IO
from xml.sax.saxutils import XMLGenerator

from annotator.scale_rules import leaf_labels

from .mot import number
from .video import Shape, Track, Video, attribute_text

# Scale geometry -> CVAT element. Cuboids have no confirmed vertex schema at
# Scale, so their vertices travel as a points shape.
ELEMENTS = {"box": "box", "polygon": "polygon", "line": "polyline", "point": "points", "ellipse": "ellipse"}


def element(kind: str) -> str:
    return ELEMENTS.get(kind, "points")


def attribute_specs(payload: dict, labels: list[str], seen: dict[str, set[str]]) -> dict[str, list[dict]]:
    """label -> CVAT attribute declarations, from annotation_attributes plus any the response used."""
    declared = payload.get("annotation_attributes") if isinstance(payload, dict) else None
    declared = declared if isinstance(declared, dict) else {}
    specs: dict[str, list[dict]] = {label: [] for label in labels}
    for name, spec in declared.items():
        if not isinstance(spec, dict):
            continue
        allowed = labels
        conditions = spec.get("conditions") if isinstance(spec.get("conditions"), dict) else {}
        condition = conditions.get("label_condition")
        if isinstance(condition, dict):
            wanted = condition.get("label")
            wanted = [wanted] if isinstance(wanted, str) else wanted
            if isinstance(wanted, list):
                allowed = [label for label in labels if label in wanted]
        kind = spec.get("type", "category")
        if kind == "category" and spec.get("allow_multiple") is not True:
            choices = leaf_labels(spec.get("choices"))
            decl = {"input_type": "select", "values": choices, "default": choices[0] if choices else ""}
        elif kind in ("number", "angle"):
            low = spec.get("min", 0 if kind == "angle" else None)
            high = spec.get("max", 360 if kind == "angle" else None)
            step = spec.get("step", 1)
            if all(isinstance(v, int | float) for v in (low, high, step)):
                values = [number(low), number(high), number(step)]
                decl = {"input_type": "number", "values": values, "default": number(low)}
            else:
                decl = {"input_type": "text", "values": [], "default": ""}
        else:
            decl = {"input_type": "text", "values": [], "default": ""}
        for label in allowed:
            specs[label].append({"name": str(name), **decl})
    for label, names in seen.items():
        have = {a["name"] for a in specs.get(label, [])}
        for name in sorted(names - have):
            specs.setdefault(label, []).append({"name": name, "input_type": "text", "values": [], "default": ""})
    return specs


def _coords(shape: Shape) -> dict[str, str]:
    kind = shape.kind
    if kind == "box" and shape.box is not None:
        left, top, width, height = shape.box
        out = {"xtl": f"{left:.2f}", "ytl": f"{top:.2f}", "xbr": f"{left + width:.2f}", "ybr": f"{top + height:.2f}"}
        if shape.rotation:
            out["rotation"] = f"{math.degrees(shape.rotation) % 360:.2f}"
        return out
    if kind == "ellipse" and len(shape.points) >= 4:
        # Scale gives the four extreme points; CVAT wants centre, radii and angle.
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = shape.points[:4]
        cx, cy = (x0 + x1 + x2 + x3) / 4, (y0 + y1 + y2 + y3) / 4
        rx, ry = math.dist((x1, y1), (x3, y3)) / 2, math.dist((x0, y0), (x2, y2)) / 2
        angle = math.degrees(math.atan2(y1 - cy, x1 - cx)) % 360
        out = {"cx": f"{cx:.2f}", "cy": f"{cy:.2f}", "rx": f"{rx:.2f}", "ry": f"{ry:.2f}"}
        if round(angle, 2) not in (0.0, 360.0):
            out["rotation"] = f"{angle:.2f}"
        return out
    return {"points": ";".join(f"{x:.2f},{y:.2f}" for x, y in shape.points)}


def _keyframes(track: Track, frames: int, contiguous: bool) -> list[tuple[Shape, bool]]:
    """(shape, outside) in frame order: every Scale frame is a keyframe; the object
    is closed (outside) after a gap in a per-frame file and after its last frame."""
    out: list[tuple[Shape, bool]] = []
    shapes = track.shapes
    for i, shape in enumerate(shapes):
        out.append((shape, False))
        following = shapes[i + 1].frame if i + 1 < len(shapes) else None
        closes = following is None or (contiguous and following > shape.frame + 1)
        if closes and shape.frame + 1 < frames:
            gone = Shape(shape.frame + 1, shape.kind, shape.box, shape.points, shape.rotation, shape.attributes)
            out.append((gone, True))
    return out


class _Writer:
    def __init__(self, stream: IO[str]) -> None:
        self.gen = XMLGenerator(stream, "utf-8")
        self.depth = 0

    def _indent(self) -> None:
        self.gen.ignorableWhitespace("\n" + "  " * self.depth)

    def open(self, name: str, attrs: dict[str, str] | None = None) -> None:
        self._indent()
        self.gen.startElement(name, attrs or {})
        self.depth += 1

    def close(self, name: str) -> None:
        self.depth -= 1
        self._indent()
        self.gen.endElement(name)

    def leaf(self, name: str, text: str, attrs: dict[str, str] | None = None) -> None:
        self._indent()
        self.gen.startElement(name, attrs or {})
        self.gen.characters(text)
        self.gen.endElement(name)


def write(stream: IO[str], video: Video, *, task_type: str, name: str, payload: dict, task_id: str = "") -> None:
    """The XML of one video, written to a text stream."""
    contiguous = task_type == "videoannotation"
    labels = list(dict.fromkeys(t.label for t in video.tracks))
    seen: dict[str, set[str]] = {}
    for track in video.tracks:
        names = seen.setdefault(track.label, set())
        for shape in track.shapes:
            names.update(str(k) for k in shape.attributes)
    specs = attribute_specs(payload, labels, seen)
    event_labels = list(dict.fromkeys(e.label for e in video.events))
    event_attrs: dict[str, set[str]] = {}
    for event in video.events:
        event_attrs.setdefault(event.label, set()).update(str(k) for k in event.attributes)
    now = datetime.now(UTC).isoformat()

    w = _Writer(stream)
    w.gen.startDocument()
    w.gen.startElement("annotations", {})
    w.depth = 1
    w.leaf("version", "1.1")
    w.open("meta")
    w.open("task")
    w.leaf("id", "0")
    w.leaf("name", name)
    w.leaf("size", str(video.frames))
    w.leaf("mode", "interpolation")
    w.leaf("overlap", "0")
    w.leaf("bugtracker", "")
    w.leaf("created", now)
    w.leaf("updated", now)
    w.leaf("subset", "default")
    w.leaf("start_frame", "0")
    w.leaf("stop_frame", str(max(0, video.frames - 1)))
    w.leaf("frame_filter", "")
    w.open("labels")
    for label in labels + [e for e in event_labels if e not in labels]:
        w.open("label")
        w.leaf("name", label)
        w.leaf("type", "any" if label in labels else "tag")
        w.open("attributes")
        declared = (
            specs.get(label, [])
            if label in labels
            else [
                {"name": n, "input_type": "text", "values": [], "default": ""}
                for n in sorted(event_attrs.get(label, ()))
            ]
        )
        for spec in declared:
            w.open("attribute")
            w.leaf("name", spec["name"])
            w.leaf("mutable", "True")
            w.leaf("input_type", spec["input_type"])
            w.leaf("default_value", spec["default"])
            w.leaf("values", "\n".join(spec["values"]))
            w.close("attribute")
        w.close("attributes")
        w.close("label")
    w.close("labels")
    w.leaf("source", task_id or name)
    w.close("task")
    w.leaf("dumped", now)
    w.close("meta")

    for number_, track in enumerate(video.tracks):
        w.open("track", {"id": str(number_), "label": track.label, "source": "manual"})
        declared = [a["name"] for a in specs.get(track.label, [])]
        for shape, outside in _keyframes(track, video.frames, contiguous):
            attrs = {"frame": str(shape.frame), "keyframe": "1", "outside": "1" if outside else "0", "occluded": "0"}
            attrs.update(_coords(shape))
            attrs["z_order"] = "0"
            w.open(element(shape.kind), attrs)
            for attr_name in declared:
                if attr_name in shape.attributes:
                    w.leaf("attribute", attribute_text(shape.attributes[attr_name]), {"name": attr_name})
            w.close(element(shape.kind))
        w.close("track")

    for event in video.events:
        for frame in range(event.start, event.end + 1):
            w.open("tag", {"frame": str(frame), "label": event.label, "source": "manual"})
            for key, value in event.attributes.items():
                w.leaf("attribute", attribute_text(value), {"name": str(key)})
            w.close("tag")

    w.depth = 0
    w._indent()
    w.gen.endElement("annotations")
    w.gen.endDocument()
    stream.write("\n")
