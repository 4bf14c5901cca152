"""One zip from a stream of tasks, written incrementally.

`write_export(records, formats, path)` reads each task once, writes its own files
(masks, copies, one video's XML) into the zip at once, and appends its rows of
the files shared by every task (tasks.jsonl, the COCO JSON) to temporary files,
which are copied into the zip at the end. Memory holds one task at a time plus
the category lists, so it stays flat however many tasks are exported.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import tempfile
import zipfile
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import FORMATS, SEGMENTATION_FORMATS, VIDEO_FORMATS, cvat, mot, segmentation, video
from .converters import ConverterProcesses, Pending
from .records import TaskRecord
from .segmentation import Converted

log = logging.getLogger(__name__)

SEGMENTATION = "segmentannotation"
VIDEO_TYPES = ("videoannotation", "videoplaybackannotation")
# PNG and JPEG are compressed already: deflating them again costs time for nothing.
STORED_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".mp4", ".webm", ".ogg")
MAX_PROBLEMS = 200


@dataclass
class Report:
    tasks: int = 0
    written: dict[str, int] = field(default_factory=dict)  # format -> tasks in it
    problems: list[str] = field(default_factory=list)
    more_problems: int = 0

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)
        else:
            self.more_problems += 1

    def count(self, fmt: str) -> None:
        self.written[fmt] = self.written.get(fmt, 0) + 1

    def as_dict(self) -> dict:
        return {
            "tasks": self.tasks,
            "written": self.written,
            "problems": self.problems,
            "more_problems": self.more_problems,
        }


class JsonArray:
    """A JSON array kept in a temporary file, written a batch of items at a time.

    One json.dumps per batch rather than per item: for the small records of an
    export the encoder's per-call cost outweighs the encoding. A batch is a few
    hundred items, so memory stays flat in the number of tasks."""

    BATCH = 512

    def __init__(self, folder: Path, name: str) -> None:
        self.path = folder / name
        self.file = self.path.open("w", encoding="utf-8")
        self.written = 0
        self.pending: list = []

    def add(self, item: object) -> None:
        self.pending.append(item)
        if len(self.pending) >= self.BATCH:
            self.flush()

    def extend(self, items: list) -> None:
        self.pending.extend(items)
        if len(self.pending) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        if self.written:
            self.file.write(",\n")
        self.file.write(json.dumps(self.pending, ensure_ascii=False, separators=(",", ":"))[1:-1])
        self.written += len(self.pending)
        self.pending = []

    def copy_to(self, out: io.TextIOBase) -> None:
        self.flush()
        self.file.close()
        out.write("[\n")
        with self.path.open(encoding="utf-8") as f:
            shutil.copyfileobj(f, out, 1 << 20)
        out.write("\n]")


class Categories:
    """Label name -> category id (from 1), in the order labels are first met."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.things: set[str] = set()

    def add(self, name: str, instance: bool) -> int:
        if name not in self.ids:
            self.ids[name] = len(self.ids) + 1
        if instance:
            self.things.add(name)
        return self.ids[name]

    def id(self, name: str) -> int:
        return self.add(name, False)

    def coco(self, panoptic: bool = False) -> list[dict]:
        out = []
        for name, cid in self.ids.items():
            item = {"id": cid, "name": name, "supercategory": ""}
            if panoptic:
                item["isthing"] = 1 if name in self.things else 0
            out.append(item)
        return out


def _ext(path: Path) -> str:
    return path.suffix if path.suffix[1:].isalnum() else ".bin"


class Exporter:
    def __init__(self, zf: zipfile.ZipFile, formats: set[str], work: Path, include_images: bool = True) -> None:
        unknown = formats - set(FORMATS)
        if unknown:
            raise ValueError(f"unknown export formats: {', '.join(sorted(unknown))}")
        self.zf = zf
        self.formats = formats
        self.include_images = include_images
        self.report = Report()
        self.seg_categories = Categories()
        self.video_categories = Categories()
        self.jsonl = (work / "tasks.jsonl").open("w", encoding="utf-8") if "scale" in formats else None
        self.jsonl_path = work / "tasks.jsonl"
        self.coco_images = JsonArray(work, "coco-images") if "coco" in formats else None
        self.coco_annotations = JsonArray(work, "coco-annotations") if "coco" in formats else None
        self.panoptic = JsonArray(work, "panoptic") if "coco_panoptic" in formats else None
        self.panoptic_images = JsonArray(work, "panoptic-images") if "coco_panoptic" in formats else None
        masks = "segmentation_mask" in formats
        self.mask_names = (work / "mask-names.txt").open("w", encoding="utf-8") if masks else None
        self.video_images = JsonArray(work, "video-images") if "coco_video" in formats else None
        self.video_annotations = JsonArray(work, "video-annotations") if "coco_video" in formats else None
        self.video_list = JsonArray(work, "videos") if "coco_video" in formats else None
        self.video_events = JsonArray(work, "video-events") if "coco_video" in formats else None
        self.next_image = 1
        self.next_annotation = 1
        self.next_video_image = 1
        self.next_video_annotation = 1
        self.next_track = 1
        self.videos = 0
        self.last_mask_pixels = 0  # the size of the last mask converted: tells LookAhead to use threads
        # The mask formats draw from the decoded mask; COCO needs only its regions.
        self.needs_masks = bool(formats & {"segmentation_mask", "coco_panoptic"})

    # --- writing into the zip -------------------------------------------------

    @staticmethod
    def _info(name: str) -> zipfile.ZipInfo:
        # A ZipInfo made by name alone is dated 1980-01-01: say when the export was made.
        info = zipfile.ZipInfo(name, date_time=datetime.now(UTC).timetuple()[:6])
        info.compress_type = zipfile.ZIP_STORED if name.lower().endswith(STORED_SUFFIXES) else zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return info

    def _write(self, name: str, data: bytes | str) -> None:
        self.zf.writestr(self._info(name), data)

    def _copy(self, source: Path, name: str) -> None:
        compress = zipfile.ZIP_STORED if name.lower().endswith(STORED_SUFFIXES) else zipfile.ZIP_DEFLATED
        self.zf.write(source, name, compress_type=compress)

    # --- one task ---------------------------------------------------------------

    def add(self, record: TaskRecord, converted: Converted | Future[Converted] | Pending | None = None) -> None:
        """Write one task. `converted` is its segmentation conversion when the
        look-ahead made it (or is making it) in a thread or a child process; else
        it is made here."""
        self.report.tasks += 1
        if self.jsonl is not None:
            self._scale(record)
        if record.status != "completed" or not isinstance(record.response, dict):
            if self.formats - {"scale"}:
                self.report.problem(f"{record.stem}: {record.status or 'not completed'}, no result to convert")
            return
        try:
            if record.task_type == SEGMENTATION and self.formats & set(SEGMENTATION_FORMATS):
                self._segmentation(record, converted)
            elif record.task_type in VIDEO_TYPES and self.formats & set(VIDEO_FORMATS):
                self._video(record)
        except (segmentation.MaskError, video.VideoError, OSError) as e:
            self.report.problem(f"{record.stem}: {e}")

    def wants_conversion(self, record: TaskRecord) -> bool:
        return (
            record.task_type == SEGMENTATION
            and record.status == "completed"
            and isinstance(record.response, dict)
            and bool(self.formats & set(SEGMENTATION_FORMATS))
        )

    def _scale(self, record: TaskRecord) -> None:
        files = {}
        for name, path in record.files.items():
            arcname = f"scale/results/{record.stem}/{_safe_file(name)}{_ext(path)}"
            try:
                self._copy(path, arcname)
            except OSError as e:
                self.report.problem(f"{record.stem}: result file {name} is missing from our storage ({e.strerror})")
                continue
            files[name] = arcname.removeprefix("scale/")
        line = {
            "task": {
                "task_id": record.scale_task_id or None,
                "type": record.task_type,
                "status": record.status,
                "unique_id": record.unique_id,
                "name": record.name,
                "params": record.payload,
                "metadata": record.metadata,
                **record.info,
            },
            "response": record.response,
            "files": files,
            "urls": record.links,
        }
        self.jsonl.write(json.dumps(line, ensure_ascii=False, default=str, separators=(",", ":")) + "\n")
        self.report.count("scale")

    def _segmentation(self, record: TaskRecord, converted: Converted | Future[Converted] | Pending | None) -> None:
        if converted is None:
            converted = convert_segmentation(record)
        elif not isinstance(converted, Converted):
            converted = converted.result()  # a thread's or child's MaskError or OSError is raised here, in order
        if converted.problem:
            self.report.problem(f"{record.stem}: {converted.problem}")
            return
        found, mask, regions = converted.found, converted.mask, converted.regions
        height, width = converted.shape
        self.last_mask_pixels = height * width
        for label, instance in segmentation.label_order(record.payload, record.response, found):
            self.seg_categories.add(label, instance)
        image_id = self.next_image
        self.next_image += 1
        attachment = record.files.get("attachment")
        file_name = record.stem + (_ext(attachment) if attachment is not None else ".png")
        image = {
            "id": image_id,
            "file_name": file_name,
            "width": int(width),
            "height": int(height),
            "coco_url": str(record.payload.get("attachment") or ""),
            "scale_task_id": record.scale_task_id,
            "unique_id": record.unique_id,
            "metadata": record.metadata,
        }
        if isinstance(record.response.get("global_attributes"), dict):
            image["attributes"] = record.response["global_attributes"]
        if "coco" in self.formats:
            if self.include_images and attachment is not None:
                self._copy(attachment, f"coco/images/{file_name}")
            self.coco_images.add(image)
            anns = segmentation.coco_annotations(regions, self.seg_categories.id, image_id, self.next_annotation)
            self.coco_annotations.extend(anns)
            self.next_annotation += len(anns)
            self.report.count("coco")
        if "segmentation_mask" in self.formats:
            class_ids = {e.label: self.seg_categories.id(e.label) for e in found}
            if max(class_ids.values(), default=0) > 255 or len(found) > 255:
                self.report.problem(f"{record.stem}: more than 255 classes or objects do not fit an 8-bit mask")
            else:
                classes = segmentation.class_mask(mask, found, class_ids.__getitem__)
                objects = segmentation.object_mask(mask, found)
                folder = "segmentation_mask/Segmentation"
                self._write(f"{folder}Class/{record.stem}.png", segmentation.palette_png(classes))
                self._write(f"{folder}Object/{record.stem}.png", segmentation.palette_png(objects))
                self.mask_names.write(record.stem + "\n")
                self.report.count("segmentation_mask")
        if "coco_panoptic" in self.formats:
            png = segmentation.panoptic_png(mask)
            self._write(f"coco_panoptic/annotations/panoptic_default/{record.stem}.png", png)
            self.panoptic_images.add(image)
            self.panoptic.add(
                {
                    "image_id": image_id,
                    "file_name": f"{record.stem}.png",
                    "segments_info": [
                        {
                            "id": r.entry.index,
                            "category_id": self.seg_categories.id(r.entry.label),
                            "area": r.area,
                            "bbox": r.bbox,
                            "iscrowd": 0,
                        }
                        for r in regions
                    ],
                }
            )
            self.report.count("coco_panoptic")

    def _video(self, record: TaskRecord) -> None:
        source = record.files.get("annotations")
        if source is None:
            self.report.problem(f"{record.stem}: no copy of the annotations file; left out of the video formats")
            return
        events = record.files.get("events")
        clip = video.load(record.task_type, source, events)
        if record.response.get("events") and events is None:
            self.report.problem(f"{record.stem}: the events file was not copied; events left out")
        if "mot" in self.formats:
            text, labels, ids = mot.gt(clip)
            if ids:
                self._write(f"mot/{record.stem}/gt/gt.txt", text)
                self._write(f"mot/{record.stem}/gt/labels.txt", "".join(label + "\n" for label in labels))
                tracks = [{"id": i, "scale_uuid": u} for i, u in ids.items()]
                self._write(f"mot/{record.stem}/gt/tracks.json", json.dumps(tracks, indent=1))
                self.report.count("mot")
            else:
                self.report.problem(f"{record.stem}: no box tracks; MOT holds boxes only")
        if "cvat_video" in self.formats:
            buffer = io.StringIO()
            cvat.write(
                buffer, clip, task_type=record.task_type, name=record.name or record.unique_id,
                payload=record.payload, task_id=record.scale_task_id,
            )  # fmt: skip
            self._write(f"cvat_video/{record.stem}/annotations.xml", buffer.getvalue())
            self.report.count("cvat_video")
        if "coco_video" in self.formats:
            self._coco_video(record, clip)

    def _coco_video(self, record: TaskRecord, clip: video.Video) -> None:
        self.videos += 1
        video_id = self.videos
        frames = record.payload.get("attachments") if isinstance(record.payload.get("attachments"), list) else []
        first_image = self.next_video_image
        for frame in range(clip.frames):
            image = {
                "id": first_image + frame,
                "file_name": f"{record.stem}/frame_{frame:06d}.jpg",
                "video_id": video_id,
                "frame_id": frame,
            }
            if frame < len(frames) and isinstance(frames[frame], str):
                image["coco_url"] = frames[frame]
            if frame in clip.global_attributes:
                image["attributes"] = clip.global_attributes[frame]
            self.video_images.add(image)
        self.next_video_image += clip.frames
        boxes = 0
        for track in clip.tracks:
            if track.kind != "box":
                continue
            track_id = self.next_track
            self.next_track += 1
            category = self.video_categories.add(track.label, True)
            for shape in track.shapes:
                if shape.box is None:
                    continue
                left, top, width, height = shape.box
                attributes = {**shape.attributes, "track_id": track_id, "scale_uuid": track.uuid, "keyframe": True}
                if shape.rotation:
                    attributes["rotation"] = shape.rotation
                self.video_annotations.add(
                    {
                        "id": self.next_video_annotation,
                        "image_id": first_image + shape.frame,
                        "category_id": category,
                        "bbox": [left, top, width, height],
                        "area": width * height,
                        "iscrowd": 0,
                        "segmentation": [],
                        "attributes": attributes,
                    }
                )
                self.next_video_annotation += 1
                boxes += 1
        self.video_list.add(
            {"id": video_id, "name": record.stem, "scale_task_id": record.scale_task_id,
             "unique_id": record.unique_id, "frames": clip.frames, "metadata": record.metadata}
        )  # fmt: skip
        for event in clip.events:
            self.video_events.add(
                {"video_id": video_id, "label": event.label, "type": event.type, "start": event.start,
                 "end": event.end, "start_image_id": first_image + event.start,
                 "end_image_id": first_image + event.end, "attributes": event.attributes}
            )  # fmt: skip
        self.report.count("coco_video")
        if not boxes:
            self.report.problem(f"{record.stem}: no box tracks; per-frame COCO holds boxes only")

    # --- the files shared by every task -----------------------------------------

    def finish(self, title: str) -> Report:
        if self.jsonl is not None:
            self.jsonl.close()
            self.zf.write(self.jsonl_path, "scale/tasks.jsonl", compress_type=zipfile.ZIP_DEFLATED)
        if "coco" in self.formats:
            self._coco_json(
                "coco/annotations/instances_default.json",
                self.seg_categories.coco(),
                [("images", self.coco_images), ("annotations", self.coco_annotations)],
            )
        if "coco_panoptic" in self.formats:
            self._coco_json(
                "coco_panoptic/annotations/panoptic_default.json",
                self.seg_categories.coco(panoptic=True),
                [("images", self.panoptic_images), ("annotations", self.panoptic)],
            )
        if "segmentation_mask" in self.formats:
            self.mask_names.close()
            self.zf.write(self.mask_names.name, "segmentation_mask/ImageSets/Segmentation/default.txt")
            colors = segmentation.voc_colormap(min(256, len(self.seg_categories.ids) + 1))
            lines = ["# label:color_rgb:parts:actions", f"background:{','.join(map(str, colors[0]))}::"]
            for name, cid in self.seg_categories.ids.items():
                if cid < 256:
                    lines.append(f"{_labelmap_name(name)}:{','.join(map(str, colors[cid]))}::")
            self._write("segmentation_mask/labelmap.txt", "\n".join(lines) + "\n")
        if "coco_video" in self.formats:
            self._coco_json(
                "coco_video/annotations/instances_default.json",
                self.video_categories.coco(),
                [
                    ("videos", self.video_list),
                    ("images", self.video_images),
                    ("annotations", self.video_annotations),
                    ("events", self.video_events),
                ],
            )
        self._write("README.txt", readme(title, self.formats, self.report))
        return self.report

    def _coco_json(self, name: str, categories: list[dict], arrays: list[tuple[str, JsonArray]]) -> None:
        with (
            self.zf.open(self._info(name), "w", force_zip64=True) as raw,
            io.TextIOWrapper(raw, encoding="utf-8") as out,
        ):
            info = {"description": "Exported by annotator", "date_created": datetime.now(UTC).isoformat()}
            out.write('{"info":' + json.dumps(info) + ',"licenses":[],"categories":')
            out.write(json.dumps(categories, ensure_ascii=False))
            for key, array in arrays:
                out.write(f',"{key}":')
                array.copy_to(out)
            out.write("}\n")


def convert_segmentation(record: TaskRecord) -> Converted:
    """The task's mask read and its regions found (in this thread)."""
    return segmentation.convert(record.response, record.files)


# Once masks of this many pixels are met, the next tasks are converted in
# threads ahead of the writer: Pillow inflates a PNG and numpy compares large
# arrays without holding the GIL, so threads overlap them (1280x720: 2.2x on
# 2 cores). Below it the work is mostly Python and threads only contend for
# the GIL (96x64: 0.6x), so small masks go to child processes instead.
# Measured with bench/bench_export.py at both sizes.
THREAD_PIXELS = 200_000
# Above this, one mask at a time: decoding a 40-megapixel extended mask takes a few
# hundred MB on its own (RGB, then 32-bit indexes), and two at once would double it.
THREAD_MAX_PIXELS = 16_000_000
# Decoded masks waiting to be written: a bound on memory (each is pixels x 1-4 bytes).
LOOKAHEAD_PIXELS = 64_000_000
# Small masks seen before child processes are started: a child takes about half
# a second to import what it needs, which pays back only over a few hundred tasks.
PROCESS_AFTER = 256
# Small masks in flight per child: four batches, so that a child never waits for the writer.
PROCESS_AHEAD = 64


class LookAhead:
    """Feeds the exporter tasks in order, converting the next segmentation tasks
    ahead of the writer: large masks in threads, many small ones in child
    processes. The writer still meets every task, its problems and its ids in
    input order."""

    def __init__(self, exporter: Exporter, workers: int) -> None:
        self.exporter = exporter
        self.workers = workers
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="export") if workers > 1 else None
        self.children: ConverterProcesses | None = None
        self.small = 0  # small-mask tasks met so far
        self.children_failed = False  # they could not be started: not tried again
        self.ahead = 1  # tasks that may wait for the writer
        self.by_children = 0  # tasks converted in child processes (for the log)
        self.by_threads = 0
        # None: converted by the writer when its turn comes.
        self.queue: deque[tuple[TaskRecord, Future[Converted] | Pending | None]] = deque()

    def add(self, record: TaskRecord) -> None:
        converting = self._convert_ahead(record) if self.exporter.wants_conversion(record) else None
        if converting is None and not self.queue:
            self.exporter.add(record)
            return
        self.queue.append((record, converting))
        while len(self.queue) > self.ahead:
            self._write_one()

    def _convert_ahead(self, record: TaskRecord) -> Future[Converted] | Pending | None:
        pixels = self.exporter.last_mask_pixels  # the last mask's: the next are likely alike
        if self.pool is None:
            return None
        if THREAD_PIXELS <= pixels <= THREAD_MAX_PIXELS:
            self.ahead = max(1, min(2 * self.workers, LOOKAHEAD_PIXELS // pixels))
            return self.pool.submit(convert_segmentation, record)
        if pixels > THREAD_MAX_PIXELS:
            return None
        self.small += 1
        if self.children is None and self.small >= PROCESS_AFTER and not self.children_failed:
            # One core stays with this process, which writes (and converts while they start):
            # on 2 cores one child beat two (2.1 s vs 2.45 s median for 10,000 masks).
            count = max(1, self.workers - 1)
            try:
                self.children = ConverterProcesses(count, with_masks=self.exporter.needs_masks)
            except OSError as e:  # no interpreter to start, out of processes: convert here
                log.warning("export converter processes not started (%s); converting in the writer", e)
                self.children_failed = True
        if self.children is None:
            return None
        self.ahead = PROCESS_AHEAD * len(self.children.children)
        return self.children.submit(record.response, record.files)  # None until a child is ready

    def finish(self) -> None:
        if self.children is not None:
            self.children.stop()  # all is asked: they may exit while the rest is written
        while self.queue:
            self._write_one()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
        if self.children is not None:
            self.children.close()

    def _write_one(self) -> None:
        record, converted = self.queue.popleft()
        if isinstance(converted, Pending):
            if converted.wait():
                self.by_children += 1
            else:
                converted = None  # its child died (killed, out of memory): convert it here
        elif converted is not None:
            self.by_threads += 1
        self.exporter.add(record, converted)


def _safe_file(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)[:100]


def _labelmap_name(name: str) -> str:
    # ":" separates the fields of labelmap.txt.
    return name.replace(":", "_").replace("\n", " ")


def readme(title: str, formats: set[str], report: Report) -> str:
    lines = [title or "annotator export", "", f"{report.tasks} task(s) selected.", ""]
    for fmt in sorted(formats):
        lines.append(f"{fmt:<18} {report.written.get(fmt, 0):>7} task(s)  {FORMATS[fmt]}")
    if report.problems:
        lines += ["", "Left out or incomplete:"]
        lines += [f"- {p}" for p in report.problems]
        if report.more_problems:
            lines.append(f"- … and {report.more_problems} more")
    return "\n".join(lines) + "\n"


def write_export(
    records: Iterable[TaskRecord],
    formats: Iterable[str],
    path: Path,
    *,
    title: str = "",
    include_images: bool = True,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> Report:
    """Write the zip at `path` (via a temporary name: a reader never sees half a zip).

    `workers` threads convert large masks ahead of the writer, and past a few
    hundred small masks `workers - 1` child processes convert them (default:
    the machine's cores, at most 4; 1 converts everything in this thread)."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    try:
        with (
            tempfile.TemporaryDirectory(prefix="export-") as work,
            zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=6) as zf,
        ):
            exporter = Exporter(zf, set(formats), Path(work), include_images=include_images)
            ahead = LookAhead(exporter, workers if workers is not None else min(4, os.cpu_count() or 1))
            written = 0
            try:
                for record in records:
                    ahead.add(record)
                    if progress is not None and exporter.report.tasks != written:
                        written = exporter.report.tasks
                        progress(written)
                ahead.finish()
            finally:
                ahead.close()
            children = len(ahead.children.children) if ahead.children is not None else 0
            log.info(
                "export %s: %d tasks; %d converted in %d child process(es), %d in threads",
                path.name, exporter.report.tasks, ahead.by_children, children, ahead.by_threads,
            )  # fmt: skip
            if progress is not None and exporter.report.tasks != written:
                progress(exporter.report.tasks)
            report = exporter.finish(title)
    except BaseException:
        partial.unlink(missing_ok=True)  # a failed export leaves nothing on disk
        raise
    partial.replace(path)
    return report
