"""Sandbox-made results for the export tests: the same files a completed sandbox task serves."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from annotator.exports.records import TaskRecord


def sandbox_task(task_type: str, params: dict, task_id: str = "65a0c0ffee0000000000abcd"):
    from annotator.sandbox.models import SandboxTask

    # Unsaved: the result drawing needs only the id, type and params.
    return SandboxTask(task_id=task_id, task_type=task_type, params=params, origin="http://sandbox.test")


def segmentation_record(tmp: Path, params: dict, task_id: str = "65a0c0ffee0000000000abcd", **extra) -> TaskRecord:
    from annotator.sandbox import results as sandbox

    task = sandbox_task("segmentannotation", params, task_id)
    response = sandbox.segmentation_response(task)
    folder = tmp / task_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "indexedImage.png").write_bytes(sandbox.render_mask(task, "indexed"))
    (folder / "image.png").write_bytes(sandbox.render_mask(task, "image"))
    return TaskRecord(
        code=task_id + "00000000",
        task_type="segmentannotation",
        unique_id=extra.pop("unique_id", f"seg-{task_id[-4:]}"),
        payload=params,
        response=response,
        status="completed",
        scale_task_id=task_id,
        files={"indexedImage": folder / "indexedImage.png", "image": folder / "image.png"},
        **extra,
    )


def video_record(tmp: Path, task_type: str, params: dict, task_id: str = "65a0c0ffee0000000000beef") -> TaskRecord:
    from annotator.sandbox import results as sandbox

    task = sandbox_task(task_type, params, task_id)
    folder = tmp / task_id
    folder.mkdir(parents=True, exist_ok=True)
    files = {"annotations": folder / "annotations.json"}
    files["annotations"].write_bytes(sandbox.render(task, "annotations", "json"))
    response = sandbox.video_response(task)
    if "events" in response:
        files["events"] = folder / "events.json"
        files["events"].write_bytes(sandbox.render(task, "events", "json"))
    return TaskRecord(
        code=task_id + "00000000",
        task_type=task_type,
        unique_id=f"video-{task_id[-4:]}",
        payload=params,
        response=response,
        status="completed",
        scale_task_id=task_id,
        files=files,
    )


def unzip(path: Path, into: Path) -> Path:
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        zf.extractall(into)
    return into


def load_json(path: Path):
    return json.loads(path.read_text())
