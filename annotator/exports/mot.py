"""MOT ground truth, as CVAT's "MOT 1.1" export writes it.

gt/gt.txt, one line per box per frame:
    frame_id, track_id, x, y, w, h, "not ignored", class_id, visibility
frame and track ids start at 1; class_id is the line of gt/labels.txt (from 1).
x, y is the box's top-left corner in pixels, as Scale gives it.
"""

from __future__ import annotations

from .video import Video


def number(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _visibility(attributes: dict) -> float:
    value = attributes.get("visibility")
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    return 1.0


def _ignored(attributes: dict) -> bool:
    value = attributes.get("ignored")
    return value is True or (isinstance(value, str) and value.lower() in ("true", "yes", "1"))


def gt(video: Video) -> tuple[str, list[str], dict[int, str]]:
    """(gt.txt, labels.txt lines, MOT track id -> Scale uuid). Only box tracks: MOT holds boxes."""
    labels: list[str] = []
    lines: list[tuple[int, int, str]] = []
    ids: dict[int, str] = {}
    for track in video.tracks:
        if track.kind != "box":
            continue
        if track.label not in labels:
            labels.append(track.label)
        track_id = len(ids) + 1
        ids[track_id] = track.uuid
        class_id = labels.index(track.label) + 1
        for shape in track.shapes:
            if shape.box is None:
                continue
            x, y, w, h = shape.box
            row = ",".join(
                [
                    str(shape.frame + 1),
                    str(track_id),
                    number(x),
                    number(y),
                    number(w),
                    number(h),
                    "0" if _ignored(shape.attributes) else "1",
                    str(class_id),
                    number(_visibility(shape.attributes)),
                ]
            )
            lines.append((shape.frame, track_id, row))
    lines.sort(key=lambda item: (item[0], item[1]))  # by frame, as MOT files are
    return "".join(row + "\n" for _, _, row in lines), labels, ids
