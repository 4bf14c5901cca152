"""Large masks are converted in threads ahead of the writer (archive.LookAhead):
the zip must be the same as one written in a single thread, in the same order,
with the same problems reported for the same tasks."""

from __future__ import annotations

import json
import threading
import zipfile

import pytest

from annotator.exports import archive
from annotator.exports.archive import write_export
from annotator.exports.records import TaskRecord
from tests.exports_support import segmentation_record, video_record

SEG_PARAMS = {
    "attachment": "https://example.org/street-96x64.png",
    "labels": ["road", "sky", {"choice": "vehicle", "subchoices": [{"choice": "car", "instance_label": True}]}],
}
VIDEO_PARAMS = {
    "attachment_type": "image",
    "attachments": [f"https://example.org/frame-{n}.png" for n in range(4)],
    "geometries": {"box": {"objects_to_annotate": ["car"]}},
}
FORMATS = ["scale", "coco", "segmentation_mask", "coco_panoptic", "mot"]


def contents(path) -> dict[str, object]:
    out = {}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            data = zf.read(name)
            if name.endswith(".json") and name.startswith(("coco", "coco_panoptic")):
                data = json.loads(data)
                data.pop("info")  # holds the time of writing
            out[name] = data
    return out


@pytest.fixture
def records(tmp_path) -> list[TaskRecord]:
    made = [segmentation_record(tmp_path, SEG_PARAMS, task_id=f"65a0c0ffee{n:014d}") for n in range(8)]
    made[3].files["indexedImage"].write_bytes(b"not a png")  # a broken mask in the middle
    made[5].files["indexedImage"].unlink()  # and a copy gone from storage
    pending = TaskRecord(code="c" * 32, task_type="segmentannotation", unique_id="p", payload={}, response=None,
                         status="pending")  # fmt: skip
    video = video_record(tmp_path, "videoannotation", VIDEO_PARAMS)
    return [*made[:4], pending, *made[4:6], video, *made[6:]]


@pytest.fixture
def converted_in(monkeypatch) -> list[str]:
    """The name of the thread each mask was converted in, in the order they were."""
    threads: list[str] = []
    convert = archive.convert_segmentation

    def spy(record):
        threads.append(threading.current_thread().name)
        return convert(record)

    monkeypatch.setattr(archive, "convert_segmentation", spy)
    return threads


def test_threads_write_the_same_zip_in_the_same_order(tmp_path, records, monkeypatch, converted_in):
    monkeypatch.setattr(archive, "THREAD_PIXELS", 10**12)  # first in one thread, as a small export is
    single = write_export(records, FORMATS, tmp_path / "single.zip", workers=3)
    assert converted_in and not any(name.startswith("export") for name in converted_in)
    converted_in.clear()
    threads = converted_in
    monkeypatch.setattr(archive, "THREAD_PIXELS", 1)  # every mask counts as large
    progress: list[int] = []
    threaded = write_export(records, FORMATS, tmp_path / "threaded.zip", workers=3, progress=progress.append)

    assert sum(name.startswith("export") for name in threads) >= 5  # the look-ahead did run in threads
    assert threaded.as_dict() == single.as_dict()
    assert [p.split(":")[0] for p in threaded.problems] == [p.split(":")[0] for p in single.problems]
    # Each once, in input order; the missing copy twice: Scale's file list, then the mask formats.
    broken, pending, missing_copy, missing_mask = threaded.problems
    assert broken.endswith("not a readable image (not a PNG, GIF, WebP or TIFF file)")
    assert "pending" in pending
    assert missing_copy.endswith("result file indexedImage is missing from our storage (No such file or directory)")
    assert missing_mask.endswith("our stored copy could not be read (No such file or directory)")
    # The README is the user's: no storage paths, no Python object names.
    assert not any(str(tmp_path) in p or " at 0x" in p for p in threaded.problems)
    assert contents(tmp_path / "threaded.zip") == contents(tmp_path / "single.zip")
    assert progress == sorted(progress) and progress[-1] == len(records)


def test_a_failing_record_source_leaves_no_zip_and_no_thread_behind(tmp_path, records, monkeypatch):
    monkeypatch.setattr(archive, "THREAD_PIXELS", 1)

    def source():
        yield from records[:3]
        raise RuntimeError("database went away")

    before = threading.active_count()
    with pytest.raises(RuntimeError):
        write_export(source(), ["coco"], tmp_path / "x.zip", workers=3)
    assert not (tmp_path / "x.zip").exists() and not (tmp_path / "x.zip.partial").exists()
    assert threading.active_count() == before


def test_masks_past_the_thread_cap_are_converted_one_at_a_time(tmp_path, records, monkeypatch, converted_in):
    threads = converted_in
    monkeypatch.setattr(archive, "THREAD_PIXELS", 1)
    monkeypatch.setattr(archive, "THREAD_MAX_PIXELS", 100)  # every sandbox mask (96x64 and up) is "huge"
    report = write_export(records, ["coco"], tmp_path / "x.zip", workers=3)
    assert report.written["coco"] == 6
    assert threads and not any(name.startswith("export") for name in threads)


# --- many small masks: child processes (archive.PROCESS_AFTER, exports/converters.py) ---


@pytest.fixture
def children(monkeypatch) -> list:
    """Every ConverterProcesses an export starts; exports start them at the first
    small mask and wait for them to be ready (a short export would not, else)."""
    from annotator.exports import converters

    started: list = []
    real = converters.ConverterProcesses.__init__

    def spy(self, *args, **kwargs):
        real(self, *args, **kwargs)
        started.append(self)

    monkeypatch.setattr(converters.ConverterProcesses, "__init__", spy)
    monkeypatch.setattr(converters, "READY_WAIT", 30.0)
    monkeypatch.setattr(converters, "BATCH", 2)  # a few tasks make several batches, for both children
    monkeypatch.setattr(archive, "PROCESS_AFTER", 1)
    return started


@pytest.mark.parametrize("formats", [FORMATS, ["coco"]], ids=["mask-formats", "coco-only"])
def test_child_processes_write_the_same_zip_in_the_same_order(tmp_path, records, formats, children, converted_in):
    threaded = write_export(records, formats, tmp_path / "children.zip", workers=3)
    assert len(children) == 1 and len(children[0].children) == 2  # one core stays with the writer
    # Nothing was converted in this process: both children answered, in batches.
    assert converted_in == []
    assert all(child.received >= 1 for child in children[0].children)
    assert all(child.process.poll() is not None for child in children[0].children)  # and they have exited

    single = write_export(records, formats, tmp_path / "single.zip", workers=1)
    assert threaded.as_dict() == single.as_dict()
    broken = next(p for p in threaded.problems if "readable" in p)
    assert broken.endswith("not a readable image (not a PNG, GIF, WebP or TIFF file)")
    assert any(p.endswith("our stored copy could not be read (No such file or directory)") for p in threaded.problems)
    assert contents(tmp_path / "children.zip") == contents(tmp_path / "single.zip")


def test_a_child_that_dies_leaves_its_tasks_to_the_writer(tmp_path, records, children, converted_in):
    many = [segmentation_record(tmp_path, SEG_PARAMS, task_id=f"65a0c0ffee{n:014d}") for n in range(40)]

    def source():
        for n, record in enumerate(many):
            if n == 20:
                for child in children[0].children:  # killed (out of memory, say) with work in hand
                    child.process.kill()
                    child.process.wait()
            yield record

    report = write_export(source(), ["coco"], tmp_path / "x.zip", workers=3)
    assert report.written["coco"] == 40 and report.problems == []
    assert converted_in  # the writer took over what the dead children held
    write_export(many, ["coco"], tmp_path / "single.zip", workers=1)
    assert contents(tmp_path / "x.zip") == contents(tmp_path / "single.zip")


def test_a_failing_record_source_leaves_no_child_process_behind(tmp_path, records, children):
    def source():
        yield from records[:3]
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        write_export(source(), ["coco"], tmp_path / "x.zip", workers=2)
    assert children and all(child.process.poll() is not None for child in children[0].children)


def _export_in_daemon(folder: str, result: str) -> None:
    # Run by billiard's daemonic process, as a Celery prefork worker runs the export job.
    from pathlib import Path

    from annotator.exports import converters

    archive.PROCESS_AFTER = 1
    converters.READY_WAIT = 30.0
    made = [segmentation_record(Path(folder), SEG_PARAMS, task_id=f"65a0c0ffee{n:014d}") for n in range(6)]
    used = []
    real = converters.ConverterProcesses.submit

    def submit(self, *args):
        pending = real(self, *args)
        used.append(pending is not None)
        return pending

    converters.ConverterProcesses.submit = submit
    report = write_export(made, ["coco"], Path(folder) / "daemon.zip", workers=2)
    Path(result).write_text(json.dumps({"written": report.written, "children": sum(used)}))


def test_a_daemonic_celery_pool_process_may_start_the_children(tmp_path):
    # multiprocessing refuses children to a daemonic process (what Celery's
    # prefork pool processes are); plain subprocesses are not refused.
    import billiard

    process = billiard.Process(target=_export_in_daemon, args=(str(tmp_path), str(tmp_path / "r.json")), daemon=True)
    process.start()
    process.join(120)
    assert process.exitcode == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result == {"written": {"coco": 6}, "children": 6}


def test_children_that_cannot_start_leave_the_work_to_the_writer(tmp_path, records, children, monkeypatch, caplog):
    from annotator.exports import converters

    monkeypatch.setattr(converters.sys, "executable", str(tmp_path / "no-such-python"))
    report = write_export(records, ["coco"], tmp_path / "x.zip", workers=3)
    assert report.written["coco"] == 6 and children == []
    assert "converter processes not started" in caplog.text
    write_export(records, ["coco"], tmp_path / "single.zip", workers=1)
    assert contents(tmp_path / "x.zip") == contents(tmp_path / "single.zip")


def test_a_large_mask_among_small_ones_is_not_sent_back_by_the_child(tmp_path, records, children, monkeypatch,
                                                                       converted_in):  # fmt: skip
    from annotator.exports import converters

    monkeypatch.setattr(converters, "MAX_SENT_PIXELS", 100)  # every sandbox mask counts as large
    report = write_export(records, FORMATS, tmp_path / "x.zip", workers=2)
    # The mask formats need the mask itself: the writer converted each one (the two broken ones
    # were answered by the child with their problem, as before).
    assert len(converted_in) == 6
    write_export(records, FORMATS, tmp_path / "single.zip", workers=1)
    assert contents(tmp_path / "x.zip") == contents(tmp_path / "single.zip")
    assert report.written["segmentation_mask"] == 6
    # COCO alone needs only the regions, which are small whatever the mask: the child sends those.
    converted_in.clear()
    write_export(records, ["coco"], tmp_path / "coco.zip", workers=2)
    assert converted_in == []
