"""Exports through the site: the page, the job on a real worker, the download, the email.

The end-to-end test submits real tasks to the sandbox through a real worker,
waits until they complete and their results are copied, filters the table to a
project, exports COCO + index masks + MOT, and loads the zip in pycocotools and
motmetrics without any glue."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from annotator.exports import service
from annotator.exports.models import Export
from annotator.tasks.models import ResultFile, Task
from tests import support
from tests.test_callbacks_receiver import make_task


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _sandbox_workspace(ws, live_server, settings):

    settings.SITE_URL = live_server.url
    settings.SANDBOX_FAULTS = ""
    ws.set_api_key("export-test-key")
    ws.save()
    support.sandbox_account("export-test-key", ws.callback_auth_key, projects=("street", "x"))  # Scale wants them first


SEG = {
    "labels": ["road", "sky", {"choice": "car", "instance_label": True}],
    "instruction": "Label every pixel.",
}
VIDEO = {
    "attachment_type": "image",
    "geometries": {"box": {"objects_to_annotate": ["car", "person"]}},
    "annotation_attributes": {"moving": {"type": "category", "description": "Moving?", "choices": ["yes", "no"]}},
    "events_to_annotate": ["brake"],
}


@pytest.mark.django_db(transaction=True)
def test_filter_to_a_project_export_coco_masks_and_mot_and_load_them(live_server, users, settings, client, tmp_path):
    from annotator.submission import pipeline

    _sandbox_workspace(users.ws_a, live_server, settings)
    media = f"{live_server.url}/sandbox/media"
    worker = support.Worker(concurrency=3, SITE_URL=live_server.url, SANDBOX_COMPLETE_AFTER="1").start()
    try:
        street = [
            pipeline.create_task(users.ws_a, users.alice, "segmentannotation",
                                 {**SEG, "attachment": f"{media}/street-{n}.png", "project": "street"})
            for n in (1, 2)
        ]  # fmt: skip
        clip = pipeline.create_task(
            users.ws_a, users.alice, "videoannotation",
            {**VIDEO, "attachments": [f"{media}/street-{n}.png" for n in (1, 2, 3)], "project": "street"},
        )  # fmt: skip
        other = pipeline.create_task(
            users.ws_a, users.alice, "segmentannotation", {**SEG, "attachment": f"{media}/street-3.png", "project": "x"}
        )
        everything = [*street, clip, other]

        def copied():
            done = Task.objects.filter(id__in=[t.id for t in everything], scale_status="completed").count()
            files = ResultFile.objects.filter(task__in=everything, name__in=["indexedImage", "annotations"])
            return done == 4 and files.exclude(path="").count() == 4

        support.wait_until(copied, timeout=90, message="four completed tasks with copied results")

        client.force_login(users.alice)
        table = client.get("/tasks/?project=street")
        assert table.status_code == 200
        assert b'href="/exports/new/?project=street"' in table.content
        page = client.get("/exports/new/?project=street")
        assert page.status_code == 200
        assert page.context["total"] == 3 and page.context["completed"] == 3
        response = client.post(
            "/exports/new/", {"project": "street", "format": ["coco", "segmentation_mask", "mot"], "images": "on"}
        )
        export = Export.objects.get()
        assert response.status_code == 302 and response["Location"] == f"/exports/{export.code}/"
        support.wait_until(
            lambda: Export.objects.filter(id=export.id, status__in=["done", "failed"]).exists(),
            timeout=60, message="the export job",
        )  # fmt: skip
    finally:
        worker.stop()
    export.refresh_from_db()
    assert export.status == "done", export.error
    assert export.total == 3 and export.done == 3
    assert export.report["problems"] == []  # the video's events were copied too
    detail = client.get(f"/exports/{export.code}/")
    assert b"Download the zip" in detail.content
    download = client.get(f"/exports/{export.code}/download")
    assert download.status_code == 200
    body = b"".join(download.streaming_content)
    out = tmp_path / "export"
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        zf.extractall(out)

    # COCO, read by pycocotools: each decoded mask is the task's indexed mask, pixel for pixel.
    coco = COCO(str(out / "coco/annotations/instances_default.json"))
    assert {c["name"] for c in coco.loadCats(coco.getCatIds())} == {"road", "sky", "car"}
    images = coco.loadImgs(coco.getImgIds())
    assert sorted(i["scale_task_id"] for i in images) == sorted(Task.objects.get(id=t.id).scale_task_id for t in street)
    for image in images:
        task = Task.objects.get(scale_task_id=image["scale_task_id"])
        copy = task.result_files.get(name="indexedImage")
        indexed = np.asarray(Image.open(settings.MEDIA_ROOT / copy.path))
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))
        assert len(anns) == len({int(v) for v in np.unique(indexed)} - {0}) >= 3
        for ann in anns:
            assert np.array_equal(coco.annToMask(ann), (indexed == ann["attributes"]["scale_index"]).astype(np.uint8))
        assert (out / "coco/images" / image["file_name"]).exists()
        # The index masks, class PNG per task, in CVAT's Segmentation mask layout.
        stem = image["file_name"].rsplit(".", 1)[0]
        classes = np.asarray(Image.open(out / "segmentation_mask/SegmentationClass" / f"{stem}.png"))
        assert classes.shape == indexed.shape and ((classes > 0) == (indexed > 0)).all()
    assert "car" in (out / "segmentation_mask/labelmap.txt").read_text()

    # MOT, read by motmetrics: the boxes are the response's.
    import motmetrics as mm

    [folder] = list((out / "mot").iterdir())
    df = mm.io.loadtxt(str(folder / "gt/gt.txt"), fmt="mot15-2D", min_confidence=-1)
    clip_task = Task.objects.get(id=clip.id)
    frames = json.loads((settings.MEDIA_ROOT / clip_task.result_files.get(name="annotations").path).read_text())
    boxes = [(f, a) for f, frame in enumerate(frames) for a in frame["annotations"] if a["type"] == "box"]
    assert len(df) == len(boxes) > 0
    tracks = {t["id"]: t["scale_uuid"] for t in json.loads((folder / "gt/tracks.json").read_text())}
    for (frame_id, track_id), row in df.iterrows():
        box = next(a for f, a in boxes if f == frame_id - 1 and a["uuid"] == tracks[track_id])
        assert row["X"] + 1 == pytest.approx(box["left"], abs=1e-3)
        assert row["Width"] == pytest.approx(box["width"], abs=1e-3)
    # The other project stayed out.
    readme = (out / "README.txt").read_text()
    assert "project street" in readme and "3 task(s) selected" in readme


@pytest.mark.django_db(transaction=True)
def test_a_large_export_emails_its_link_once(live_server, users, settings, smtp_server):
    settings.SITE_URL = live_server.url
    for n in range(3):
        payload = {"attachment": "https://x/a.png", "labels": ["a"]}
        make_task(users.ws_a, users.alice, unique_id=f"t{n}", scale_task_id=f"{n:024x}", scale_status="completed",
                  response={"labelMapping": {}}, payload=payload)  # fmt: skip
    export = service.create(users.ws_a, users.alice, {}, ["scale"])
    worker = support.Worker(
        concurrency=2, SITE_URL=live_server.url, EXPORT_EMAIL_TASKS="2",
        EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(smtp_server.port), EMAIL_USE_TLS="false",
    ).start()  # fmt: skip
    try:
        support.wait_until(lambda: len(smtp_server.messages) >= 1, timeout=60, message="the email")
    finally:
        worker.stop()
    export.refresh_from_db()
    assert export.status == "done" and export.emailed_at is not None
    [message] = smtp_server.messages
    assert message["To"] == "alice@example.org" and message["Subject"].startswith("Export ready:")
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    assert f"{live_server.url}/exports/{export.code}/" in text
    # A second delivery of the email job sends nothing more.
    assert service.send_ready_email(export.id) == "already sent"


def test_the_result_copy_keeps_what_exports_need_events_and_wide_index_images():
    from annotator.tasks.results import result_urls

    video = Task(task_type="videoplaybackannotation", response={"annotations": {"url": "https://r/a"},
                                                                "events": {"url": "https://r/e"}})  # fmt: skip
    assert result_urls(video) == {"annotations": "https://r/a", "events": "https://r/e"}
    combined = {"indexedImage": "https://r/i", "image": "https://r/c", "extendedIndexedImage": "https://r/x"}
    narrow = Task(task_type="segmentannotation", response={"labelMapping": {"a": {"index": 1}}, "annotations":
                                                            {"combined": combined}})  # fmt: skip
    assert "extendedIndexedImage" not in result_urls(narrow)
    wide = Task(task_type="segmentannotation", response={"labelMapping": {"a": [{"index": i} for i in range(1, 300)]},
                                                          "annotations": {"combined": combined}})  # fmt: skip
    assert result_urls(wide)["extendedIndexedImage"] == "https://r/x"


@pytest.mark.django_db(transaction=True)
def test_a_worker_converts_thousands_of_masks_in_a_child_process(live_server, users, settings):
    """The export job in a real prefork worker (a daemonic process) starts its
    converter child, and the zip is right to the pixel for every task."""
    import shutil
    import uuid
    from pathlib import Path

    from pycocotools import mask as mask_utils

    settings.SITE_URL = live_server.url
    media = Path(settings.MEDIA_ROOT)  # the worker's too: the same settings, the same default folder
    folder = Path("results") / f"test-children-{uuid.uuid4().hex}"
    (media / folder).mkdir(parents=True)
    rng = np.random.default_rng(5)
    masks, tasks, files = {}, [], []
    try:
        for n in range(2000):
            mask = np.ones((24, 32), dtype=np.uint8)
            mask[: rng.integers(2, 10)] = 2
            y, x = rng.integers(10, 20), rng.integers(0, 24)
            mask[y : y + 4, x : x + 8] = 3
            Image.fromarray(mask, "L").save(media / folder / f"{n}.png")
            masks[f"seg-{n}"] = mask
            mapping = {"road": {"index": 1, "color": "#808080"}, "sky": {"index": 2, "color": "#87ceeb"},
                       "car": [{"index": 3, "color": "#ff0000"}]}  # fmt: skip
            task = Task(workspace=users.ws_a, created_by=users.alice, task_type="segmentannotation",
                        unique_id=f"seg-{n}", state=Task.State.SUBMITTED, scale_task_id=f"{n:024x}",
                        scale_status="completed", response={"labelMapping": mapping},
                        payload={"attachment": f"https://x/{n}.png", "labels": ["road", "sky", "car"]})  # fmt: skip
            task.fill_denormalized()
            tasks.append(task)
        Task.objects.bulk_create(tasks, batch_size=500)
        for task in Task.objects.filter(workspace=users.ws_a):
            path = str(folder / f"{task.unique_id.removeprefix('seg-')}.png")
            files.append(ResultFile(task=task, name="indexedImage", source_url="https://x", path=path))
        ResultFile.objects.bulk_create(files, batch_size=500)

        export = service.create(users.ws_a, users.alice, {}, ["coco"], include_images=False)
        worker = support.Worker(concurrency=1, SITE_URL=live_server.url).start()
        try:
            support.wait_until(lambda: Export.objects.get(id=export.id).status in ("done", "failed"), timeout=120,
                               message="the export")  # fmt: skip
        finally:
            worker.stop()
        export.refresh_from_db()
        assert export.status == "done", export.error
        with zipfile.ZipFile(media / export.path) as zf:
            coco = json.loads(zf.read("coco/annotations/instances_default.json"))
        names = {c["id"]: c["name"] for c in coco["categories"]}
        images = {i["id"]: i["unique_id"] for i in coco["images"]}
        assert len(images) == 2000
        by_image: dict[int, np.ndarray] = {}
        index = {"road": 1, "sky": 2, "car": 3}
        for ann in coco["annotations"]:
            rle = {"size": ann["segmentation"]["size"], "counts": ann["segmentation"]["counts"].encode()}
            decoded = mask_utils.decode(rle)
            canvas = by_image.setdefault(ann["image_id"], np.zeros((24, 32), dtype=np.uint8))
            canvas[decoded == 1] = index[names[ann["category_id"]]]
        assert all(np.array_equal(by_image[i], masks[unique_id]) for i, unique_id in images.items())
        # The child did take part: the worker says how many tasks it converted.
        line = next(t for t in worker.log_path.read_text().splitlines() if "converted in" in t)
        converted = int(line.split("tasks; ")[1].split(" converted")[0])
        assert "in 1 child process(es)" in line and converted > 0, line
    finally:
        shutil.rmtree(media / folder, ignore_errors=True)
