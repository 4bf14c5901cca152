"""Export of N completed segmentation tasks to COCO: our export vs a plain loop.

    .venv/bin/python bench/bench_export.py              # N = 10,000 (and 1,000 for the memory curve), 3 pairs
    .venv/bin/python bench/bench_export.py 2000 5       # another N, 5 pairs of runs
    .venv/bin/python bench/bench_export.py 1000 3 1280x720   # masks of a camera's size

Both sides produce the same COCO instance-segmentation file (RLE masks via
pycocotools) from the same synthetic tasks (indexed PNG masks, 96x64 unless asked otherwise, 2 stuff
labels + 1-4 car instances, as Scale's `labelMapping` describes them):

- baseline: what a team's script does: for each task, download the indexed
  mask from its result URL (here a loopback HTTP server, the cheapest possible
  download: real result URLs are on S3 across the internet), decode it, encode
  each label's mask one at a time, keep every annotation in a list, and
  json.dump the lot at the end;
- ours: `annotator.exports.archive.write_export` over the task records, reading
  our stored copies (the export job's path), writing the zip incrementally;
  past a few hundred small masks it converts them in child processes (one per
  core), so its CPU time is shown next to the wall time.

Each side runs in a fresh subprocess that reports its wall time and peak RSS
(ru_maxrss), so one side's memory never counts against the other. Ours also
runs at N/10 to show memory flat in N. The two COCO files are compared: same
images, same annotations (category, RLE, area).
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))

WIDTH, HEIGHT = 96, 64
LABELS = ["road", "sky", {"choice": "car", "instance_label": True}]


def make_tasks(folder: Path, n: int, width: int = WIDTH, height: int = HEIGHT) -> None:
    """n tasks: masks/<i>.png and tasks.jsonl (payload + response), deterministic.

    The scene is drawn for 96x64 and scaled to the size asked for."""
    from PIL import Image, ImageDraw

    sx, sy = width / WIDTH, height / HEIGHT
    masks = folder / "masks"
    masks.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    with (folder / "tasks.jsonl").open("w") as out:
        for i in range(n):
            cars = rng.randint(1, 4)
            img = Image.new("L", (width, height), 1)  # road
            draw = ImageDraw.Draw(img)
            draw.rectangle((0, 0, width, round(rng.randint(8, 24) * sy)), fill=2)  # sky
            mapping = {"road": {"index": 1, "color": "#808080"}, "sky": {"index": 2, "color": "#87ceeb"}, "car": []}
            for c in range(cars):
                x, y = rng.randint(0, WIDTH - 20) * sx, rng.randint(20, HEIGHT - 12) * sy
                box = (x, y, x + rng.randint(8, 20) * sx, y + rng.randint(6, 12) * sy)
                draw.rectangle(tuple(round(v) for v in box), fill=3 + c)
                mapping["car"].append({"index": 3 + c, "color": "#ff0000"})  # same colour: indexes tell them apart
            img.save(masks / f"{i}.png")
            response = {"labelMapping": mapping, "annotations": {"combined": {"indexedImage": f"/masks/{i}.png"}}}
            out.write(json.dumps({"i": i, "payload": {"attachment": f"https://x/{i}.png", "labels": LABELS},
                                  "response": response}) + "\n")  # fmt: skip


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def usage() -> dict:
    """CPU seconds of this process and the children it waited for (ours starts
    converter processes), and the largest child's peak RSS."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime
    return {"peak_mb": peak_mb(), "cpu": cpu, "child_mb": children.ru_maxrss / 1024}


def run_ours(folder: Path, n: int, out: Path) -> dict:
    from annotator.exports.archive import write_export
    from annotator.exports.records import TaskRecord

    def records():
        with (folder / "tasks.jsonl").open() as f:
            for k, line in enumerate(f):
                if k >= n:
                    return
                row = json.loads(line)
                yield TaskRecord(
                    code=f"{row['i']:032x}", task_type="segmentannotation", unique_id=f"task-{row['i']}",
                    payload=row["payload"], response=row["response"], status="completed",
                    scale_task_id=f"{row['i']:024x}", files={"indexedImage": folder / "masks" / f"{row['i']}.png"},
                )  # fmt: skip

    started = time.perf_counter()
    report = write_export(records(), ["coco"], out)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, **usage(), "tasks": report.written.get("coco", 0)}


def run_baseline(folder: Path, n: int, out: Path) -> dict:
    import numpy as np
    import requests
    from PIL import Image
    from pycocotools import mask as mask_utils

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # a line per request would slow this side down
            pass

    handler = partial(Quiet, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    import io

    started = time.perf_counter()
    images, annotations, categories = [], [], {}
    with (folder / "tasks.jsonl").open() as f:
        for k, line in enumerate(f):
            if k >= n:
                break
            row = json.loads(line)
            response = row["response"]
            content = requests.get(base + response["annotations"]["combined"]["indexedImage"], timeout=10).content
            mask = np.array(Image.open(io.BytesIO(content)))
            image_id = len(images) + 1
            images.append({"id": image_id, "file_name": f"{row['i']}.png", "width": mask.shape[1],
                           "height": mask.shape[0]})  # fmt: skip
            for label, value in response["labelMapping"].items():
                for entry in value if isinstance(value, list) else [value]:
                    binary = np.asfortranarray((mask == entry["index"]).astype(np.uint8))
                    rle = mask_utils.encode(binary)
                    area = int(mask_utils.area(rle))
                    if not area:
                        continue
                    rle["counts"] = rle["counts"].decode()
                    annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                        "category_id": categories.setdefault(label, len(categories) + 1),
                                        "segmentation": rle, "area": area,
                                        "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                                        "iscrowd": 0 if isinstance(value, list) else 1})  # fmt: skip
    coco = {"images": images, "annotations": annotations,
            "categories": [{"id": v, "name": k} for k, v in categories.items()]}  # fmt: skip
    with out.open("w") as f:
        json.dump(coco, f)
    seconds = time.perf_counter() - started
    server.shutdown()
    return {"seconds": seconds, **usage(), "tasks": len(images)}


def child(side: str, folder: str, n: int, out: str) -> None:
    runner = run_ours if side == "ours" else run_baseline
    print(json.dumps(runner(Path(folder), n, Path(out))))


def spawn(side: str, folder: Path, n: int, out: Path) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", side, str(folder), str(n), str(out)],
        check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(BASE)},
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def same_coco(ours_zip: Path, baseline_json: Path) -> bool:
    import zipfile

    with zipfile.ZipFile(ours_zip) as zf:
        ours = json.loads(zf.read("coco/annotations/instances_default.json"))
    theirs = json.loads(baseline_json.read_text())
    names = {c["id"]: c["name"] for c in ours["categories"]}
    their_names = {c["id"]: c["name"] for c in theirs["categories"]}

    def key(coco, cats):
        return sorted((a["image_id"], cats[a["category_id"]], a["segmentation"]["counts"], a["area"], a["iscrowd"])
                      for a in coco["annotations"])  # fmt: skip

    return len(ours["images"]) == len(theirs["images"]) and key(ours, names) == key(theirs, their_names)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    width, height = (int(v) for v in (sys.argv[3] if len(sys.argv) > 3 else f"{WIDTH}x{HEIGHT}").split("x"))
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        make_tasks(folder, n, width, height)
        print(f"made {n} tasks ({width}x{height} indexed PNGs) in {time.perf_counter() - t:.1f} s")
        small = max(1, n // 10)
        ours_small = spawn("ours", folder, small, folder / "ours-small.zip")
        # Pairs, each side right after the other, so that both meet the same
        # load; the ratio reported is the median pair's (one run of either side
        # swings by a third between runs on this VM, the baseline most).
        pairs = []
        for _ in range(repeat):
            baseline = spawn("baseline", folder, n, folder / "baseline.json")
            ours = spawn("ours", folder, n, folder / "ours.zip")
            pairs.append((baseline, ours))
        identical = same_coco(folder / "ours.zip", folder / "baseline.json")
    # CPU s: of the process and its children (the imports included), so a
    # speed-up bought with more cores shows as such. Child RSS: the largest
    # converter process's peak (much of it the same shared libraries).
    print(f"{'':<34}{'tasks':>8}{'seconds':>10}{'tasks/s':>10}{'CPU s':>8}{'peak RSS':>11}{'child RSS':>11}")
    rows = [("ours at N/10", ours_small)]
    for k, (baseline, ours) in enumerate(pairs, start=1):
        rows += [(f"{k}. baseline: download + convert", baseline), (f"{k}. ours: write_export", ours)]
    for name, r in rows:
        rate = r["tasks"] / r["seconds"]
        child_rss = f"{r['child_mb']:>8.0f} MB" if r["child_mb"] else f"{'-':>11}"
        print(f"{name:<34}{r['tasks']:>8}{r['seconds']:>10.2f}{rate:>10.0f}{r['cpu']:>8.1f}{r['peak_mb']:>8.0f} MB"
              f"{child_rss}")  # fmt: skip
    ratios = sorted(b["seconds"] / o["seconds"] for b, o in pairs)
    print(f"speed-up per pair: {', '.join(f'{r:.1f}x' for r in ratios)}; median {ratios[len(ratios) // 2]:.1f}x")
    ours = pairs[-1][1]
    print(f"peak RSS, ours at N vs N/10: {ours['peak_mb']:.0f} MB vs {ours_small['peak_mb']:.0f} MB "
          f"({ours['peak_mb'] / ours_small['peak_mb']:.2f}x for 10x the tasks)")  # fmt: skip
    print(f"same COCO annotations on both sides: {identical}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        main()
