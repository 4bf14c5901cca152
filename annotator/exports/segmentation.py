"""Segmentation results: Scale's indexed mask and label map, as arrays and COCO records.

Masks come from `combined.indexedImage` (one channel, the pixel is the label or
instance index), never from `combined.image`, whose colours may repeat. More than
255 indexes need `extendedIndexedImage` (24-bit: R low byte, G middle, B high).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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


@dataclass(slots=True)
class Entry:
    """One labelMapping entry: a label, or one instance of an instance label.

    Not frozen: a frozen dataclass is built through object.__setattr__, four
    times slower, and an export builds one per instance of every task."""

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


_LEAVES: dict[str, tuple[tuple[str, bool], ...]] = {}


def _leaves(labels: object) -> tuple[tuple[str, bool], ...]:
    # Tasks of one template share their labels: walk each distinct list once.
    # The key is repr, not a sorted json.dumps: for JSON data it tells distinct
    # values apart just as well and costs a sixth (a key order that differs only
    # costs a second walk).
    key = repr(labels)
    found = _LEAVES.get(key)
    if found is None:
        if len(_LEAVES) >= 256:
            _LEAVES.clear()
        found = _LEAVES[key] = tuple(dict.fromkeys(leaf_labels_with_instance(labels)))
    return found


def label_order(payload: object, response: object, found: list[Entry] | None = None) -> list[tuple[str, bool]]:
    """(label, is instance label) in the task's label order, then any the response adds.

    `found` is `entries(response)` when the caller has it already (it is the
    costliest step for small masks)."""
    labels = payload.get("labels") if isinstance(payload, dict) else None
    order = list(_leaves(labels))
    seen = {name for name, _ in order}
    for e in entries(response) if found is None else found:
        if e.label not in seen:
            seen.add(e.label)
            order.append((e.label, e.instance))
    return order


def read_index_mask(path: Path | bytes, *, extended: bool = False) -> np.ndarray:
    """The index of every pixel, as a 2-D array (uint8, or uint32 when extended).

    Errors say what is wrong without our storage paths or Python object names:
    they are written into the export's README."""
    # One read, then Pillow parses memory: its seek/tell/read calls on a file
    # cost more than the decode for a small mask.
    if isinstance(path, bytes):
        data = path
    else:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise MaskError(f"our stored copy could not be read ({e.strerror or type(e).__name__})") from e
    if not extended:
        plain = _plain_png(data)
        if plain is not None:
            return plain
    try:
        # PNG first: Scale's masks are PNG, and naming it skips probing every other format.
        img = Image.open(io.BytesIO(data), formats=["PNG", "GIF", "WEBP", "TIFF"])
    except Image.DecompressionBombError as e:  # its header names a size past Pillow's own limit
        raise MaskError(f"mask is too large (over {MAX_PIXELS:,} pixels)") from e
    except Exception as e:  # Pillow raises many types for junk input
        raise MaskError("not a readable image (not a PNG, GIF, WebP or TIFF file)") from e
    if img.width * img.height > MAX_PIXELS:
        raise MaskError(f"mask of {img.width}x{img.height} pixels is too large")
    try:
        img.load()
    except Exception as e:
        raise MaskError(f"not a readable image: the {img.format} data is damaged ({e})") from e
    if extended:
        rgb = np.asarray(img.convert("RGB"), dtype=np.uint32)
        return rgb[..., 0] | (rgb[..., 1] << 8) | (rgb[..., 2] << 16)
    if img.mode in ("P", "L"):
        # The bytes are the indexes: a palette image stores the index itself
        # (converting would map it to colours). frombuffer skips the array
        # interface np.asarray goes through (a third of the read, for small masks).
        return np.frombuffer(img.tobytes(), dtype=np.uint8).reshape(img.height, img.width)
    if img.mode == "1":
        return np.asarray(img.convert("L"))
    if img.mode.startswith("I"):
        return np.asarray(img, dtype=np.uint32)
    return np.asarray(img.convert("RGB"))[..., 0]


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHUNK = struct.Struct(">I4s")
_IHDR = struct.Struct(">IIBBBBB")


def _plain_png(data: bytes) -> np.ndarray | None:
    """The indexes of an 8-bit greyscale or palette PNG, not interlaced (what
    Scale's indexedImage is), read in half the time of Image.open: the chunks
    are walked here and the image data goes straight to Pillow's PNG (zip)
    decoder. None for anything else, or anything odd, which Image.open then
    reads or explains."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    pos, end, size, idat = 8, len(data), None, []
    try:
        while pos + 8 <= end:
            length, kind = _CHUNK.unpack_from(data, pos)
            if kind == b"IHDR":
                width, height, depth, color, _, _, interlace = _IHDR.unpack_from(data, pos + 8)
                if depth != 8 or color not in (0, 3) or interlace or not 0 < width * height <= MAX_PIXELS:
                    return None
                size = (width, height)
            elif kind == b"IDAT":
                idat.append(data[pos + 8 : pos + 8 + length])
            elif kind == b"IEND":
                break
            pos += 12 + length
        if size is None or not idat:
            return None
        img = Image.frombytes("L", size, b"".join(idat), "zip", "L")
    except Exception:  # damaged: Image.open says how
        return None
    return np.frombuffer(img.tobytes(), dtype=np.uint8).reshape(size[1], size[0])


@dataclass
class Region:
    """One entry's pixels: a COCO RLE with its area and bounding box."""

    entry: Entry
    rle: dict  # {"size": [h, w], "counts": str}
    area: int
    bbox: list[float]


# Two ways to the same RLEs (tests/test_exports_regions.py holds them equal).
# Comparing the mask with each index costs pixels x entries; walking the mask's
# runs once costs pixels plus a fixed part. Measured (bench/bench_regions.py):
# 96x64 with 6 entries, comparison 36 us vs runs 81 us; 240x180 with 6, even;
# 640x480 with 12, 2.5 ms vs 0.75 ms; 1920x1080 with 32, 34 ms vs 4 ms.
COMPARE_WORK = 300_000  # pixels x entries up to which comparison is used (the crossover)


def regions(mask: np.ndarray, found: list[Entry]) -> Iterator[Region]:
    """The RLE, area and box of every entry that has pixels."""
    if not found:
        return
    height, width = mask.shape
    if height * width * len(found) <= COMPARE_WORK:
        batches = _rles_by_comparison(mask, found)
    else:
        batches = [_rles_by_runs(mask, found)]
    size = [int(height), int(width)]
    for chunk, rles in batches:
        if not rles:
            continue
        # Area and box from the runs: one C call each for the whole batch.
        areas = mask_utils.area(rles)
        boxes = mask_utils.toBbox(rles)
        for entry, rle, area, box in zip(chunk, rles, areas.tolist(), boxes.tolist(), strict=True):
            if area == 0:
                continue  # a label in the map that nobody painted
            counts = rle["counts"]
            counts = counts.decode() if isinstance(counts, bytes) else counts
            yield Region(entry, {"size": list(size), "counts": counts}, area, box)


def _rles_by_comparison(mask: np.ndarray, found: list[Entry]) -> Iterator[tuple[list[Entry], list[dict]]]:
    """Compare the mask with a few indexes at a time and encode the stack."""
    height, width = mask.shape
    # pycocotools encodes H x W x k in Fortran order: the C-ordered k x W x H
    # comparison of the transposed mask is exactly that layout, with no copy.
    columns = np.ascontiguousarray(mask.T)
    per_pass = max(1, STACK_BYTES // max(1, height * width))
    for start in range(0, len(found), per_pass):
        chunk = found[start : start + per_pass]
        wanted = np.array([e.index for e in chunk], dtype=mask.dtype)
        stack = columns[None, :, :] == wanted[:, None, None]  # k x W x H
        yield chunk, mask_utils.encode(stack.view(np.uint8).transpose(2, 1, 0))


def _rles_by_runs(mask: np.ndarray, found: list[Entry]) -> tuple[list[Entry], list[dict]]:
    """Split the column-major mask into runs of one index once, then give each
    entry its runs: COCO's RLE counts alternate "not this index" and "this index"
    lengths, starting with "not", so they are the gaps between an entry's runs
    and the runs' lengths."""
    height, width = mask.shape
    flat = np.ascontiguousarray(mask.T).ravel()  # COCO's RLE reads column by column
    total = flat.size
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [total]))
    # Runs grouped by index, in mask order within a group (stable sort).
    values = flat[starts]
    order = np.argsort(values, kind="stable")
    grouped = values[order]
    starts, ends = starts[order], ends[order]
    wanted = np.array([e.index for e in found], dtype=flat.dtype)
    first = np.searchsorted(grouped, wanted, "left")
    after = np.searchsorted(grouped, wanted, "right")
    # The gap before each run: from the end of the previous run of the same
    # index, or from the start of the mask for a group's first run.
    previous_end = np.concatenate(([0], ends[:-1]))
    previous_end[first[first < after]] = 0
    counts = np.empty(2 * starts.size, dtype=np.int64)
    counts[0::2] = starts - previous_end
    counts[1::2] = ends - starts
    counts_list, ends_list = counts.tolist(), ends.tolist()
    chunk, objects = [], []
    for entry, a, b in zip(found, first.tolist(), after.tolist(), strict=True):
        if a == b:
            continue  # not in the mask
        entry_counts = counts_list[2 * a : 2 * b]
        if ends_list[b - 1] < total:
            entry_counts.append(total - ends_list[b - 1])  # the trailing "not" run
        chunk.append(entry)
        objects.append({"counts": entry_counts, "size": [height, width]})
    # pycocotools compresses the counts into its string form (C).
    return chunk, (mask_utils.frPyObjects(objects, height, width) if objects else [])


@dataclass
class Converted:
    """The pure, costly part of a segmentation task: its mask read and its regions."""

    found: list[Entry]
    mask: np.ndarray | None = None  # None when only the regions were asked for
    regions: list[Region] = field(default_factory=list)
    problem: str = ""  # why the mask formats leave this task out
    shape: tuple[int, int] = (0, 0)  # the mask's height and width


def mask_source(found: list[Entry], files: dict[str, Path]) -> tuple[Path | None, bool, str]:
    """The copy to read the task's indexes from, whether it is the 24-bit
    extended mask, and why there is none when there is none."""
    extended = any(e.index > 255 for e in found)
    source = files.get("extendedIndexedImage" if extended else "indexedImage")
    if source is None and not extended:
        source = files.get("mask")  # our normalised copy of the same indexes
    if source is None:
        missing = "extendedIndexedImage (more than 255 indexes)" if extended else "indexedImage"
        return None, extended, f"no copy of {missing}; left out of the mask formats"
    return source, extended, ""


def convert(response: object, files: dict[str, Path]) -> Converted:
    """Read the task's index mask and find every labelMapping entry's region.
    Touches nothing shared, so threads may run it; raises MaskError or OSError
    for a file that cannot be used."""
    found = entries(response)
    source, extended, problem = mask_source(found, files)
    if source is None:
        return Converted(found, problem=problem)
    mask = read_index_mask(source, extended=extended)
    return Converted(found, mask, list(regions(mask, found)), shape=mask.shape)


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
