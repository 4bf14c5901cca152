"""Peak memory of one segmentation result's image work: the normalised mask and the thumbnail.

    .venv/bin/python bench/bench_mask_memory.py [rounds]

A 39.7-megapixel palette indexedImage (7720 x 5140, as in issue 11) and a JPEG attachment
of the same size are written to a scratch folder. Each measurement runs in a fresh Python
process that reads the two files, resets its peak RSS (`5` into /proc/self/clear_refs, Linux),
notes its RSS, does the work, and reports how far the peak (VmHWM) rose above that and how long
it took:

- baseline: the code before this change, kept below verbatim (full-size RGBA compositing,
  palette indices copied through bytes);
- current: annotator.tasks.results.normalised_mask() and render_thumbnail().

Rounds alternate baseline and current, so a neighbour's load hits both; the table gives the
median of each and the ratio current / baseline.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
SIZE = (7720, 5140)  # 39.68 megapixels
LEGEND = [
    {"name": "road", "index": 1, "color": "#ff0000"},
    {"name": "car", "index": 2, "color": "#00ff00"},
    {"name": "sky", "index": 3, "color": "#0000ff"},
]


def make_inputs(folder: Path) -> tuple[Path, Path]:
    from PIL import Image, ImageDraw

    mask = Image.new("P", SIZE, 0)
    mask.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 12))
    draw = ImageDraw.Draw(mask)
    draw.rectangle((0, SIZE[1] // 2, SIZE[0], SIZE[1]), fill=1)
    for n in range(40):
        x = n * SIZE[0] // 40
        draw.rectangle((x, SIZE[1] // 3, x + SIZE[0] // 60, SIZE[1] // 2), fill=2)
    draw.rectangle((0, 0, SIZE[0], SIZE[1] // 4), fill=3)
    mask_path = folder / "indexed.png"
    mask.save(mask_path, "PNG")
    del mask
    photo = Image.linear_gradient("L").resize(SIZE).convert("RGB")
    photo_path = folder / "attachment.jpg"
    photo.save(photo_path, "JPEG", quality=85)
    return mask_path, photo_path


# --- the code before this change, verbatim in what it did --------------------------------------

OLD_MAX_PIXELS = 40_000_000


def old_open_image(content: bytes):
    from PIL import Image

    img = Image.open(io.BytesIO(content))
    if img.width * img.height > OLD_MAX_PIXELS:
        raise ValueError("image too large")
    return img


def old_normalised_mask(content: bytes) -> bytes:
    from PIL import Image

    img = old_open_image(content)
    if img.mode == "P":
        mask = Image.frombytes("L", img.size, img.tobytes())
    elif img.mode in ("L", "I", "I;16", "1"):
        mask = img.convert("L")
    else:
        mask = img.convert("RGB").getchannel("R")
    out = io.BytesIO()
    mask.save(out, "PNG")
    return out.getvalue()


def old_thumbnail(mask_png: bytes, attachment: bytes, legend: list[dict]) -> bytes:
    from PIL import Image

    mask = old_open_image(mask_png).convert("L")
    base = old_open_image(attachment).convert("RGBA")
    base = base.resize(mask.size)
    luts = [[0] * 256 for _ in range(4)]
    for entry in legend:
        r, g, b = (int(entry["color"][i : i + 2], 16) for i in (1, 3, 5))
        for lut, value in zip(luts, (r, g, b, 140), strict=True):
            lut[entry["index"]] = value
    overlay = Image.merge("RGBA", [mask.point(lut) for lut in luts])
    out_img = Image.alpha_composite(base, overlay).convert("RGB")
    out_img.thumbnail((320, 320))
    out = io.BytesIO()
    out_img.save(out, "PNG", optimize=True)
    return out.getvalue()


# --- one measurement, in a child process ----------------------------------------------------------


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(which: str, mask_path: str, photo_path: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
    sys.path.insert(0, str(BASE))
    import django

    django.setup()
    from PIL import Image  # noqa: F401 - imported before the baseline RSS is taken

    from annotator.tasks import results

    indexed = Path(mask_path).read_bytes()
    photo = Path(photo_path).read_bytes()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS
    before = _status_kb("VmRSS")
    started = time.perf_counter()
    if which == "baseline":
        mask = old_normalised_mask(indexed)
        thumb = old_thumbnail(mask, photo, LEGEND)
    else:
        mask = results.normalised_mask(indexed)
        thumb = results.render_thumbnail(mask, photo, LEGEND)
    seconds = time.perf_counter() - started
    peak = _status_kb("VmHWM")
    print(json.dumps({"peak_mb": (peak - before) / 1024, "seconds": seconds, "thumb": len(thumb), "mask": len(mask)}))


def measure(which: str, mask_path: Path, photo_path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", which, str(mask_path), str(photo_path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=BASE,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with tempfile.TemporaryDirectory() as tmp:
        mask_path, photo_path = make_inputs(Path(tmp))
        mask_mb, photo_mb = mask_path.stat().st_size / 1e6, photo_path.stat().st_size / 1e6
        print(f"mask {SIZE[0]}x{SIZE[1]} ({SIZE[0] * SIZE[1] / 1e6:.1f} MP), {mask_mb:.2f} MB PNG; "
              f"attachment {photo_mb:.2f} MB JPEG")  # fmt: skip
        runs: dict[str, list[dict]] = {"baseline": [], "current": []}
        for n in range(rounds):
            for which in ("baseline", "current"):
                got = measure(which, mask_path, photo_path)
                runs[which].append(got)
                print(f"round {n + 1} {which:8}: peak +{got['peak_mb']:.0f} MB, {got['seconds']:.2f} s")
        med = {k: {m: statistics.median(r[m] for r in v) for m in ("peak_mb", "seconds")} for k, v in runs.items()}
        print()
        print("| code | peak RSS rise (median) | time (median) |")
        print("|---|---|---|")
        for which in ("baseline", "current"):
            print(f"| {which} | {med[which]['peak_mb']:.0f} MB | {med[which]['seconds']:.2f} s |")
        print(
            f"| ratio current / baseline | {med['current']['peak_mb'] / med['baseline']['peak_mb']:.3f} "
            f"| {med['current']['seconds'] / med['baseline']['seconds']:.2f} |"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
    else:
        main()
