"""Every export format read back by an independent reader: pycocotools, motmetrics,
Pillow/numpy, and a reader of CVAT's documented XML. The results are the sandbox's
own result files (the pixels and tracks a completed sandbox task serves)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from annotator.exports.archive import write_export
from annotator.exports.records import TaskRecord
from tests.exports_support import segmentation_record, unzip, video_record

ALL = ["scale", "coco", "segmentation_mask", "coco_panoptic", "mot", "cvat_video", "coco_video"]
SEG_PARAMS = {
    "attachment": "https://example.org/street-96x64.png",
    "labels": ["road", "sky", {"choice": "vehicle", "subchoices": [{"choice": "car", "instance_label": True}]}],
    "allow_unlabeled": True,
}
VIDEO_PARAMS = {
    "attachment_type": "image",
    "attachments": [f"https://example.org/frame-{n}-96x64.png" for n in range(6)],
    "geometries": {"box": {"objects_to_annotate": ["car", "person"]}, "polygon": {"objects_to_annotate": ["lane"]}},
    "annotation_attributes": {
        "moving": {"type": "category", "choices": ["yes", "no"]},
        "speed": {"type": "number", "min": 0, "max": 200, "conditions": {"label_condition": {"label": "car"}}},
    },
    "events_to_annotate": ["brake", "turn"],
}
PLAYBACK_PARAMS = {
    "attachment": "https://example.org/traffic.mp4",
    "frame_rate": 5,
    "geometries": {"box": {"objects_to_annotate": ["car", "bus"]}, "ellipse": {"objects_to_annotate": ["sign"]}},
}


def index_of(record: TaskRecord) -> np.ndarray:
    img = Image.open(record.files["indexedImage"])
    return np.asarray(img)


@pytest.fixture
def exported(tmp_path):
    def run(records, formats=ALL):
        report = write_export(records, formats, tmp_path / "export.zip", title="test export")
        return report, unzip(tmp_path / "export.zip", tmp_path / "out")

    return run


# --- segmentation ------------------------------------------------------------


def test_coco_masks_decode_to_the_indexed_image_pixel_for_pixel(tmp_path, exported):
    records = [
        segmentation_record(tmp_path, SEG_PARAMS, task_id="65a0c0ffee00000000000001"),
        segmentation_record(tmp_path, SEG_PARAMS, task_id="65a0c0ffee00000000000002"),
    ]
    report, out = exported(records)
    assert report.written["coco"] == 2 and report.problems == []
    coco = COCO(str(out / "coco/annotations/instances_default.json"))
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    assert list(names.values()) == ["road", "sky", "car"]
    for image_id, record in zip(sorted(coco.getImgIds()), records, strict=True):
        image = coco.loadImgs(image_id)[0]
        indexed = index_of(record)
        assert (image["height"], image["width"]) == indexed.shape
        assert image["scale_task_id"] == record.scale_task_id
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
        mapping = record.response["labelMapping"]
        # One annotation per painted labelMapping entry: each car instance separately.
        assert len(anns) == sum(len(v) if isinstance(v, list) else 1 for v in mapping.values())
        covered = np.zeros(indexed.shape, dtype=int)
        for ann in anns:
            decoded = coco.annToMask(ann)
            index = ann["attributes"]["scale_index"]
            assert np.array_equal(decoded, (indexed == index).astype(np.uint8))
            label = names[ann["category_id"]]
            assert ann["iscrowd"] == (0 if label == "car" else 1)
            assert ann["area"] == int((indexed == index).sum())
            # The box from the pixels themselves, not from pycocotools (which the export uses).
            ys, xs = np.nonzero(indexed == index)
            box = [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            assert ann["bbox"] == [float(v) for v in box]
            covered += decoded
        # Every labelled pixel in exactly one annotation; unlabeled pixels in none.
        assert np.array_equal(covered, (indexed > 0).astype(int))


def test_instances_with_the_same_colour_stay_separate(tmp_path, exported):
    """combined.image colours may repeat: masks come from the indexes, so two cars
    painted in one colour are still two annotations."""
    record = segmentation_record(tmp_path, SEG_PARAMS)
    cars = record.response["labelMapping"]["car"]
    for entry in cars:
        entry["color"] = "#ff0000"
    _, out = exported([record], ["coco"])
    coco = COCO(str(out / "coco/annotations/instances_default.json"))
    car_anns = [a for a in coco.dataset["annotations"] if a["attributes"]["scale_label"] == "car"]
    assert len(car_anns) == len(cars) >= 2
    masks = [coco.annToMask(a) for a in car_anns]
    assert not np.any(masks[0] & masks[1])


def test_a_palette_png_index_mask_is_read_as_indexes_not_colours(tmp_path, exported):
    record = segmentation_record(tmp_path, SEG_PARAMS)
    indexed = index_of(record)
    palette = Image.frombytes("P", (indexed.shape[1], indexed.shape[0]), indexed.tobytes())
    palette.putpalette([(i * 37) % 256 for i in range(768)])
    palette.save(record.files["indexedImage"])
    _, out = exported([record], ["coco"])
    coco = COCO(str(out / "coco/annotations/instances_default.json"))
    painted = {int(v) for v in np.unique(indexed)} - {0}
    assert {a["attributes"]["scale_index"] for a in coco.dataset["annotations"]} == painted
    for ann in coco.dataset["annotations"]:
        assert np.array_equal(coco.annToMask(ann), (indexed == ann["attributes"]["scale_index"]).astype(np.uint8))


def test_segmentation_mask_layout_is_cvats_with_class_and_object_pngs(tmp_path, exported):
    records = [
        segmentation_record(tmp_path, SEG_PARAMS, task_id="65a0c0ffee00000000000001"),
        segmentation_record(tmp_path, {**SEG_PARAMS, "labels": ["water", "sky"]}, task_id="65a0c0ffee00000000000002"),
    ]
    _, out = exported(records, ["segmentation_mask"])
    root = out / "segmentation_mask"
    labelmap = [line for line in (root / "labelmap.txt").read_text().splitlines() if not line.startswith("#")]
    names = [line.split(":")[0] for line in labelmap]
    assert names == ["background", "road", "sky", "car", "water"]
    colors = [tuple(int(c) for c in line.split(":")[1].split(",")) for line in labelmap]
    assert len(set(colors)) == len(colors)  # a class mask read as colours is unambiguous
    listed = (root / "ImageSets/Segmentation/default.txt").read_text().split()
    assert listed == [r.stem for r in records]
    for record in records:
        indexed = index_of(record)
        classes_img = Image.open(root / "SegmentationClass" / f"{record.stem}.png")
        objects_img = Image.open(root / "SegmentationObject" / f"{record.stem}.png")
        assert classes_img.mode == "P" and objects_img.mode == "P"
        classes, objects = np.asarray(classes_img), np.asarray(objects_img)
        rgb = np.asarray(classes_img.convert("RGB"))
        object_ids = set()
        for label, value in record.response["labelMapping"].items():
            for entry in value if isinstance(value, list) else [value]:
                pixels = indexed == entry["index"]
                if not pixels.any():
                    continue
                assert (classes[pixels] == names.index(label)).all()
                assert (rgb[pixels] == colors[names.index(label)]).all()
                ids = np.unique(objects[pixels])
                assert len(ids) == 1 and ids[0] > 0 and ids[0] not in object_ids
                object_ids.add(int(ids[0]))
        assert (classes[indexed == 0] == 0).all() and (objects[indexed == 0] == 0).all()


def test_coco_panoptic_segments_match_the_indexes(tmp_path, exported):
    record = segmentation_record(tmp_path, SEG_PARAMS)
    _, out = exported([record], ["coco_panoptic"])
    data = json.loads((out / "coco_panoptic/annotations/panoptic_default.json").read_text())
    things = {c["id"]: c["isthing"] for c in data["categories"]}
    [ann] = data["annotations"]
    png = np.asarray(Image.open(out / "coco_panoptic/annotations/panoptic_default" / ann["file_name"]), dtype=np.uint32)
    ids = png[..., 0] + 256 * png[..., 1] + 256 * 256 * png[..., 2]
    indexed = index_of(record)
    assert np.array_equal(ids, indexed)
    for segment in ann["segments_info"]:
        assert segment["area"] == int((ids == segment["id"]).sum())
    car = next(c["id"] for c in data["categories"] if c["name"] == "car")
    assert things[car] == 1


def test_scale_jsonl_holds_task_and_response_and_the_files(tmp_path, exported):
    records = [segmentation_record(tmp_path, SEG_PARAMS), video_record(tmp_path, "videoannotation", VIDEO_PARAMS)]
    records[0].response["global_attributes"] = {"weather": "rain"}
    _, out = exported(records, ["scale"])
    lines = [json.loads(line) for line in (out / "scale/tasks.jsonl").read_text().splitlines()]
    assert [line["task"]["task_id"] for line in lines] == [r.scale_task_id for r in records]
    for line, record in zip(lines, records, strict=True):
        assert line["response"] == record.response
        assert line["task"]["params"] == record.payload
        for name, relative in line["files"].items():
            assert (out / "scale" / relative).read_bytes() == record.files[name].read_bytes()


def test_not_completed_and_broken_tasks_are_reported_not_fatal(tmp_path, exported):
    good = segmentation_record(tmp_path, SEG_PARAMS, task_id="65a0c0ffee00000000000001")
    broken = segmentation_record(tmp_path, SEG_PARAMS, task_id="65a0c0ffee00000000000002")
    broken.files["indexedImage"].write_bytes(b"not a png")
    pending = TaskRecord(code="c" * 32, task_type="segmentannotation", unique_id="p", payload={}, response=None,
                         status="pending")  # fmt: skip
    report, out = exported([good, broken, pending], ["scale", "coco"])
    assert report.written == {"scale": 3, "coco": 1}
    assert any("not a readable image" in p for p in report.problems)
    assert any("pending" in p for p in report.problems)
    assert "not a readable image" in (out / "README.txt").read_text()
    assert len(COCO(str(out / "coco/annotations/instances_default.json")).getImgIds()) == 1


# --- video -------------------------------------------------------------------


def boxes_of(record: TaskRecord) -> dict[tuple[int, str], tuple[float, float, float, float]]:
    """(frame, uuid) -> (left, top, width, height), straight from the response file."""
    data = json.loads(record.files["annotations"].read_text())
    out = {}
    if isinstance(data, list):
        for frame, element in enumerate(data):
            for a in element["annotations"]:
                if a["type"] == "box":
                    out[(frame, a["uuid"])] = (a["left"], a["top"], a["width"], a["height"])
    else:
        for uuid, track in data.items():
            if track["geometry"] == "box":
                for f in track["frames"]:
                    out[(f["key"], uuid)] = (f["left"], f["top"], f["width"], f["height"])
    return out


@pytest.fixture(autouse=True)
def _motmetrics_on_numpy_2():
    # motmetrics 1.4.0 (its latest release) calls np.asfarray, removed in numpy 2.
    if not hasattr(np, "asfarray"):
        np.asfarray = lambda a, dtype=float: np.asarray(a, dtype=dtype)
        yield
        del np.asfarray
    else:
        yield


@pytest.mark.parametrize(
    ("task_type", "params"), [("videoannotation", VIDEO_PARAMS), ("videoplaybackannotation", PLAYBACK_PARAMS)]
)
def test_mot_gt_loads_in_motmetrics_and_matches_the_response(tmp_path, exported, task_type, params):
    import motmetrics as mm

    record = video_record(tmp_path, task_type, params)
    _, out = exported([record], ["mot"])
    gt_path = out / "mot" / record.stem / "gt" / "gt.txt"
    df = mm.io.loadtxt(str(gt_path), fmt="mot15-2D", min_confidence=-1)
    expected = boxes_of(record)
    assert len(df) == len(expected) > 0
    labels = (out / "mot" / record.stem / "gt" / "labels.txt").read_text().split("\n")[:-1]
    tracks = {t["id"]: t["scale_uuid"] for t in json.loads((gt_path.parent / "tracks.json").read_text())}
    annotations = json.loads(record.files["annotations"].read_text())
    for (frame_id, track_id), row in df.iterrows():
        uuid = tracks[track_id]
        left, top, width, height = expected[(frame_id - 1, uuid)]
        # motmetrics reads MOTChallenge's 1-based pixels: it takes 1 off x and y.
        assert row["X"] + 1 == pytest.approx(left, abs=1e-3) and row["Y"] + 1 == pytest.approx(top, abs=1e-3)
        assert row["Width"] == pytest.approx(width, abs=1e-3) and row["Height"] == pytest.approx(height, abs=1e-3)
        assert row["Visibility"] == 1
        label = (
            annotations[uuid]["label"]
            if isinstance(annotations, dict)
            else next(a["label"] for a in annotations[frame_id - 1]["annotations"] if a["uuid"] == uuid)
        )
        assert labels[int(row["ClassId"]) - 1] == label
    # The ground truth scored against itself by motmetrics: a perfect tracker.
    acc = mm.utils.compare_to_groundtruth(df, df, "iou", distth=0.5)
    summary = mm.metrics.create().compute(acc, metrics=["mota", "num_switches", "num_objects"])
    assert summary["mota"].iloc[0] == 1.0 and summary["num_objects"].iloc[0] == len(expected)


def read_cvat_video(text: str) -> dict:
    """A reader of CVAT for video 1.1 as CVAT's docs describe it and its importer reads it:
    required attributes are accessed by key, so a missing one fails here as it fails there."""
    root = ET.fromstring(text)  # noqa: S314 - our own export, in a test
    assert root.tag == "annotations"
    assert root.findtext("version") == "1.1"
    task = root.find("meta/task")
    assert task.findtext("mode") == "interpolation"
    size = int(task.findtext("size"))
    labels = {}
    for label in task.findall("labels/label"):
        attrs = {}
        for a in label.findall("attributes/attribute"):
            assert a.findtext("input_type") in ("select", "checkbox", "radio", "number", "text")
            assert a.findtext("mutable") in ("True", "False")
            values = (a.findtext("values") or "").split("\n")
            if a.findtext("input_type") == "number":
                assert len(values) == 3 and all(float(v) is not None for v in values)
            attrs[a.findtext("name")] = (a.findtext("input_type"), values)
        labels[label.findtext("name")] = attrs
    tracks = []
    for track in root.findall("track"):
        int(track.attrib["id"])
        label = track.attrib["label"]
        assert label in labels
        shapes = []
        for shape in track:
            assert shape.tag in ("box", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton")
            item = {
                "type": shape.tag,
                "frame": int(shape.attrib["frame"]),
                "outside": shape.attrib["outside"] == "1",
                "occluded": shape.attrib["occluded"] == "1",
                "keyframe": shape.attrib["keyframe"] == "1",
                "attributes": {},
            }
            assert shape.attrib["outside"] in "01" and shape.attrib["keyframe"] in "01"
            assert 0 <= item["frame"] < size
            if shape.tag == "box":
                item["box"] = [float(shape.attrib[k]) for k in ("xtl", "ytl", "xbr", "ybr")]
                assert item["box"][0] <= item["box"][2] and item["box"][1] <= item["box"][3]
            elif shape.tag == "ellipse":
                item["ellipse"] = [float(shape.attrib[k]) for k in ("cx", "cy", "rx", "ry")]
            else:
                item["points"] = [tuple(map(float, p.split(","))) for p in shape.attrib["points"].split(";")]
            for a in shape.findall("attribute"):
                assert a.attrib["name"] in labels[label]
                input_type, values = labels[label][a.attrib["name"]]
                if input_type == "select":
                    assert a.text in values
                item["attributes"][a.attrib["name"]] = a.text
            shapes.append(item)
        frames = [s["frame"] for s in shapes]
        assert frames == sorted(frames) and len(set(frames)) == len(frames)
        tracks.append({"label": label, "shapes": shapes})
    tags = [(int(t.attrib["frame"]), t.attrib["label"]) for t in root.findall("tag")]
    assert all(label in labels for _, label in tags)
    return {"size": size, "labels": labels, "tracks": tracks, "tags": tags}


def test_cvat_video_xml_holds_tracks_keyframes_attributes_and_events(tmp_path, exported):
    record = video_record(tmp_path, "videoannotation", VIDEO_PARAMS)
    _, out = exported([record], ["cvat_video"])
    doc = read_cvat_video((out / "cvat_video" / record.stem / "annotations.xml").read_text())
    data = json.loads(record.files["annotations"].read_text())
    assert doc["size"] == len(data)
    assert doc["labels"]["car"]["speed"][0] == "number" and "speed" not in doc["labels"]["person"]
    assert doc["labels"]["car"]["moving"] == ("select", ["yes", "no"])
    by_uuid = {}
    for frame, element in enumerate(data):
        for a in element["annotations"]:
            by_uuid.setdefault(a["uuid"], []).append((frame, a))
    assert len(doc["tracks"]) == len(by_uuid)
    for track, (_uuid, items) in zip(doc["tracks"], by_uuid.items(), strict=True):
        visible = [s for s in track["shapes"] if not s["outside"]]
        assert [s["frame"] for s in visible] == [f for f, _ in items]
        assert all(s["keyframe"] for s in track["shapes"])
        for shape, (_, a) in zip(visible, items, strict=True):
            assert track["label"] == a["label"]
            if a["type"] == "box":
                expected = [a["left"], a["top"], a["left"] + a["width"], a["top"] + a["height"]]
                assert shape["box"] == pytest.approx(expected, abs=0.006)
            else:
                assert shape["points"] == pytest.approx([(v["x"], v["y"]) for v in a["vertices"]], abs=0.006)
            assert shape["attributes"] == {k: str(v) for k, v in a["attributes"].items()}
    events = json.loads(record.files["events"].read_text())["events"]
    expected_tags = sorted((f, e["label"]) for e in events for f in range(e["start"], e["end"] + 1))
    assert sorted(doc["tags"]) == expected_tags


def test_cvat_video_closes_a_track_that_leaves_and_converts_playback(tmp_path, exported):
    # A general video whose car is missing from frame 2: outside at 2, back at 3, closed after 3.
    box = {"type": "box", "label": "car", "uuid": "u-car", "left": 1, "top": 2, "width": 3, "height": 4}
    frames = [{"annotations": [box]}, {"annotations": [box]}, {"annotations": []}, {"annotations": [box]},
              {"annotations": []}]  # fmt: skip
    path = tmp_path / "a.json"
    path.write_text(json.dumps(frames))
    record = TaskRecord(code="d" * 32, task_type="videoannotation", unique_id="gap", payload={},
                        response={"annotations": {}}, status="completed", files={"annotations": path})  # fmt: skip
    playback = video_record(tmp_path, "videoplaybackannotation", PLAYBACK_PARAMS)
    _, out = exported([record, playback], ["cvat_video"])
    doc = read_cvat_video((out / "cvat_video" / record.stem / "annotations.xml").read_text())
    [track] = doc["tracks"]
    assert [(s["frame"], s["outside"]) for s in track["shapes"]] == [(0, False), (1, False), (2, True), (3, False),
                                                                        (4, True)]  # fmt: skip
    doc = read_cvat_video((out / "cvat_video" / playback.stem / "annotations.xml").read_text())
    data = json.loads(playback.files["annotations"].read_text())
    for track, entry in zip(doc["tracks"], data.values(), strict=True):
        visible = [s for s in track["shapes"] if not s["outside"]]
        assert [s["frame"] for s in visible] == [f["key"] for f in entry["frames"]]
        if entry["geometry"] == "ellipse":
            f = entry["frames"][0]
            xs = [v["x"] for v in f["vertices"]]
            assert visible[0]["ellipse"][0] == pytest.approx(sum(xs) / 4, abs=0.01)


def test_per_frame_coco_for_box_tracks_loads_in_pycocotools(tmp_path, exported):
    records = [
        video_record(tmp_path, "videoannotation", VIDEO_PARAMS),
        video_record(tmp_path, "videoplaybackannotation", PLAYBACK_PARAMS, task_id="65a0c0ffee0000000000feed"),
    ]
    _, out = exported(records, ["coco_video"])
    coco = COCO(str(out / "coco_video/annotations/instances_default.json"))
    videos = coco.dataset["videos"]
    assert [v["scale_task_id"] for v in videos] == [r.scale_task_id for r in records]
    names = {c["id"]: c["name"] for c in coco.dataset["categories"]}
    for video, record in zip(videos, records, strict=True):
        expected = boxes_of(record)
        images = {i["id"]: i for i in coco.dataset["images"] if i["video_id"] == video["id"]}
        anns = [a for a in coco.dataset["annotations"] if a["image_id"] in images]
        assert len(anns) == len(expected)
        for a in anns:
            frame = images[a["image_id"]]["frame_id"]
            assert a["bbox"] == pytest.approx(list(expected[(frame, a["attributes"]["scale_uuid"])]))
            assert names[a["category_id"]] in ("car", "person", "bus")
        if record.task_type == "videoannotation":
            assert [images[i]["coco_url"] for i in sorted(images)] == VIDEO_PARAMS["attachments"]
            attrs = [a["attributes"] for a in anns if names[a["category_id"]] == "car"]
            assert all("speed" in x and "moving" in x for x in attrs)
    events = coco.dataset["events"]
    assert {e["label"] for e in events} == {"brake", "turn"}


def test_the_zip_is_written_whole_or_not_at_all(tmp_path):
    def boom():
        yield segmentation_record(tmp_path, SEG_PARAMS)
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        write_export(boom(), ["coco"], tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()
    assert not (tmp_path / "x.zip.partial").exists()


def test_every_file_in_the_zip_is_dated_today_not_1980(tmp_path, exported):
    # Unpacking tools show and keep these dates; a file written through
    # ZipFile.open(name) would say 1980-01-01.
    import datetime as dt

    exported([segmentation_record(tmp_path, SEG_PARAMS)], ALL)
    today = dt.datetime.now(dt.UTC).date()
    with zipfile.ZipFile(tmp_path / "export.zip") as zf:
        dates = {i.filename: dt.date(*i.date_time[:3]) for i in zf.infolist()}
    assert "coco/annotations/instances_default.json" in dates
    assert {name for name, day in dates.items() if abs((day - today).days) > 1} == set()


def test_rle_is_pycocotools_compressed_rle(tmp_path, exported):
    record = segmentation_record(tmp_path, SEG_PARAMS)
    _, out = exported([record], ["coco"])
    ann = json.loads((out / "coco/annotations/instances_default.json").read_text())["annotations"][0]
    rle = {"size": ann["segmentation"]["size"], "counts": ann["segmentation"]["counts"].encode()}
    assert mask_utils.area(rle) == ann["area"]
    assert list(mask_utils.toBbox(rle)) == pytest.approx(ann["bbox"])
    with zipfile.ZipFile(tmp_path / "export.zip") as zf:
        assert zf.getinfo("README.txt").file_size > 0
        assert b"coco" in zf.read("README.txt")


def test_a_task_named_after_its_file_gets_no_double_extension():
    from annotator.exports.records import safe_stem

    code = "8ea3cab7-0000-0000-0000-000000000000"
    assert safe_stem("street-1.png", code) == "street-1_8ea3cab7"  # was street-1.png_8ea3cab7(.png)
    assert safe_stem("clip.MP4", code) == "clip_8ea3cab7"
    assert safe_stem("v1.2 results", code) == "v1.2_results_8ea3cab7"  # a dot inside a name stays
    assert safe_stem(".png", code) == "task_8ea3cab7"
