"""Segmentation results: Scale's indexed mask and label map, as arrays and COCO records.

Masks come from `combined.indexedImage` (one channel, the pixel is the label or
instance index), never from `combined.image`, whose colours may repeat. More than
255 indexes need `extendedIndexedImage` (24-bit: R low byte, G middle, B high).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from annotator.scale_rules import leaf_labels_with_instance

# A decoded mask is width*height index values: refuse what would eat memory.
MAX_PIXELS = 40_000_000
# Masks are compared and encoded a few labels at a time so that the stacked
# H x W x k array stays under this many bytes, whatever the image size.
STACK_BYTES = 32_000_000


class MaskError(ValueError):
    """A result file that cannot be read as an index mask."""


@dataclass(frozen=True)
class Entry:
    """One labelMapping entry: a label, or one instance of an instance label."""

    label: str
    index: int
    color: str
    instance: bool
    number: int  # the instance's number within its label (1 for non-instance labels)
    extra: dict = field(default_factory=dict)  # other keys Scale sent (attributes, ...)


def entries(response: object) -> list[Entry]:
    """Every labelMapping entry, in index order. Malformed entries are skipped."""
    mapping = response.get("labelMapping") if isinstance(response, dict) else None
    if not isinstance(mapping, dict):
        return []
    found = []
    for label, value in mapping.items():
        items = value if isinstance(value, list) else [value]
        for number, item in enumerate(items, start=1):
            if not isinstance(item, dict) or not isinstance(item.get("index"), int) or item["index"] <= 0:
                continue
            color = item.get("color") if isinstance(item.get("color"), str) else ""
            extra = {k: v for k, v in item.items() if k not in ("index", "color")}
            found.append(Entry(str(label), item["index"], color, isinstance(value, list), number, extra))
    return sorted(found, key=lambda e: e.index)


@lru_cache(maxsize=256)
def _leaves(labels_json: str) -> tuple[tuple[str, bool], ...]:
    # Tasks of one template share their labels: walk each distinct list once.
    return tuple(dict.fromkeys(leaf_labels_with_instance(json.loads(labels_json))))


def label_order(payload: object, response: object, found: list[Entry] | None = None) -> list[tuple[str, bool]]:
    """(label, is instance label) in the task's label order, then any the response adds.

    `found` is `entries(response)` when the caller has it already (it is the
    costliest step for small masks)."""
    labels = payload.get("labels") if isinstance(payload, dict) else None
    order = list(_leaves(json.dumps(labels, sort_keys=True)))
    seen = {name for name, _ in order}
    for e in entries(response) if found is None else found:
        if e.label not in seen:
            seen.add(e.label)
            order.append((e.label, e.instance))
    return order


def read_index_mask(path: Path | bytes, *, extended: bool = False) -> np.ndarray:
    """The index of every pixel, as a 2-D array (uint8, or uint32 when extended)."""
    try:
        # PNG first: Scale's masks are PNG, and naming it skips probing every other format.
        img = Image.open(io.BytesIO(path) if isinstance(path, bytes) else path, formats=["PNG", "GIF", "WEBP", "TIFF"])
        if img.width * img.height > MAX_PIXELS:
            raise MaskError(f"mask of {img.width}x{img.height} pixels is too large")
        img.load()
    except MaskError:
        raise
    except Exception as e:  # Pillow raises many types for junk input
        raise MaskError(f"not a readable image: {e}") from e
    if extended:
        rgb = np.asarray(img.convert("RGB"), dtype=np.uint32)
        return rgb[..., 0] | (rgb[..., 1] << 8) | (rgb[..., 2] << 16)
    if img.mode == "P":
        # A palette image stores the index itself; converting would map it to colours.
        return np.frombuffer(img.tobytes(), dtype=np.uint8).reshape(img.height, img.width)
    if img.mode == "L":
        return np.asarray(img)  # no conversion: the bytes are the indexes
    if img.mode == "1":
        return np.asarray(img.convert("L"))
    if img.mode.startswith("I"):
        return np.asarray(img, dtype=np.uint32)
    return np.asarray(img.convert("RGB"))[..., 0]


@dataclass
class Region:
    """One entry's pixels: a COCO RLE with its area and bounding box."""

    entry: Entry
    rle: dict  # {"size": [h, w], "counts": str}
    area: int
    bbox: list[float]


def regions(mask: np.ndarray, found: list[Entry]) -> Iterator[Region]:
    """The RLE of every entry that has pixels, a few entries per numpy pass."""
    if not found:
        return
    height, width = mask.shape
    # pycocotools encodes H x W x k in Fortran order: the C-ordered k x W x H
    # comparison of the transposed mask is exactly that layout, with no copy.
    columns = np.ascontiguousarray(mask.T)
    per_pass = max(1, STACK_BYTES // max(1, height * width))
    for start in range(0, len(found), per_pass):
        chunk = found[start : start + per_pass]
        wanted = np.array([e.index for e in chunk], dtype=mask.dtype)
        stack = columns[None, :, :] == wanted[:, None, None]  # k x W x H
        # Area and box from the same booleans: cheaper than decoding each RLE again.
        areas = stack.sum(axis=(1, 2))
        cols = stack.any(axis=2)  # k x W
        rows = stack.any(axis=1)  # k x H
        rles = mask_utils.encode(stack.view(np.uint8).transpose(2, 1, 0))
        for k, (entry, rle) in enumerate(zip(chunk, rles, strict=True)):
            area = int(areas[k])
            if area == 0:
                continue  # a label in the map that nobody painted
            x0, x1 = int(cols[k].argmax()), width - 1 - int(cols[k][::-1].argmax())
            y0, y1 = int(rows[k].argmax()), height - 1 - int(rows[k][::-1].argmax())
            counts = rle["counts"]
            yield Region(
                entry,
                {"size": [int(height), int(width)], "counts": counts.decode() if isinstance(counts, bytes) else counts},
                area,
                [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)],
            )


def coco_annotations(
    regions_: list[Region], category_id: Callable[[str], int], image_id: int, first_id: int
) -> list[dict]:
    """COCO instance annotations: an instance label's instances are separate
    annotations (iscrowd 0); a non-instance label is one crowd region (iscrowd 1)."""
    out = []
    for n, r in enumerate(regions_):
        attributes = {"scale_index": r.entry.index, "scale_label": r.entry.label}
        if r.entry.instance:
            attributes["instance"] = r.entry.number
        for key, value in r.entry.extra.items():
            attributes.setdefault(key, value)
        out.append(
            {
                "id": first_id + n,
                "image_id": image_id,
                "category_id": category_id(r.entry.label),
                "segmentation": r.rle,
                "area": r.area,
                "bbox": r.bbox,
                "iscrowd": 0 if r.entry.instance else 1,
                "attributes": attributes,
            }
        )
    return out


def voc_colormap(n: int) -> list[tuple[int, int, int]]:
    """Pascal VOC's colour for class/instance i (bit interleaving): distinct for every i < 256."""
    colors = []
    for i in range(n):
        r = g = b = 0
        c = i
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colors.append((r, g, b))
    return colors


_PALETTE = [v for rgb in voc_colormap(256) for v in rgb]


def _lookup(mask: np.ndarray, table: dict[int, int]) -> np.ndarray:
    size = max(int(mask.max(initial=0)), max(table, default=0)) + 1
    lut = np.zeros(size, dtype=np.uint8)
    for index, value in table.items():
        lut[index] = value
    return lut[mask]


def palette_png(values: np.ndarray) -> bytes:
    """A one-channel PNG whose pixel is the value, drawn in VOC colours: read as
    indexes (Pillow's mode P, numpy) or as colours (labelmap.txt)."""
    height, width = values.shape
    img = Image.frombytes("P", (width, height), np.ascontiguousarray(values, dtype=np.uint8).tobytes())
    img.putpalette(_PALETTE)
    out = io.BytesIO()
    img.save(out, "PNG", compress_level=1)
    return out.getvalue()


def class_mask(mask: np.ndarray, found: list[Entry], class_id: Callable[[str], int]) -> np.ndarray:
    """Pixel = class number (labelmap.txt line, 0 = background/unlabeled)."""
    return _lookup(mask, {e.index: class_id(e.label) for e in found})


def object_mask(mask: np.ndarray, found: list[Entry]) -> np.ndarray:
    """Pixel = object number within the image (1..n, each entry one object), 0 = none."""
    return _lookup(mask, {e.index: n for n, e in enumerate(found, start=1)})


def panoptic_png(mask: np.ndarray) -> bytes:
    """COCO panoptic: segment id = R + 256 G + 256² B; we use Scale's index as the id."""
    m = mask.astype(np.uint32)
    rgb = np.stack([m & 255, (m >> 8) & 255, (m >> 16) & 255], axis=-1).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "PNG", compress_level=1)
    return out.getvalue()
