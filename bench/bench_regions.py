"""COCO RLEs of one mask: comparing it with each index vs one walk over its runs.

    .venv/bin/python bench/bench_regions.py

`annotator.exports.segmentation.regions` picks one of the two by the mask's
pixels x entries (COMPARE_WORK). This prints, for masks from thumbnail to
full-HD size, the median time of each way (best of 5 medians, so a neighbour's
load counts least) and the ratio, so the threshold can be checked against the
crossover. Both ways are checked equal on every mask first.
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from annotator.exports import segmentation
from annotator.exports.segmentation import Entry

CASES = [(64, 96, 4), (120, 160, 4), (180, 240, 4), (240, 320, 6), (480, 640, 10), (720, 1280, 20), (1080, 1920, 30)]


def street(height: int, width: int, instances: int) -> tuple[np.ndarray, list[Entry]]:
    """Road below, sky above, rectangular instances: the shape of a driving-scene mask."""
    rng = np.random.default_rng(7)
    mask = np.ones((height, width), dtype=np.uint8)
    mask[: height // 4] = 2
    found = [Entry("road", 1, "", False, 1), Entry("sky", 2, "", False, 1)]
    for k in range(instances):
        y, x = int(rng.integers(height // 4, height - height // 8)), int(rng.integers(0, width - width // 8))
        mask[y : y + int(rng.integers(2, height // 8)), x : x + int(rng.integers(2, width // 8))] = 3 + k
        found.append(Entry("car", 3 + k, "", True, k + 1))
    return mask, found


def seconds(mask: np.ndarray, found: list[Entry], work: int) -> float:
    segmentation.COMPARE_WORK = work
    number = max(3, int(3e6 // (mask.size * len(found))))
    runs = timeit.repeat(lambda: list(segmentation.regions(mask, found)), number=number, repeat=5)
    return min(runs) / number


def main() -> None:
    saved = segmentation.COMPARE_WORK
    print(f"{'mask':>10} {'entries':>8} {'px x entries':>13} {'compare':>10} {'runs':>10} {'runs faster':>12}  used")
    for height, width, instances in CASES:
        mask, found = street(height, width, instances)
        segmentation.COMPARE_WORK = 10**15
        a = [(r.entry.index, r.rle["counts"], r.area, r.bbox) for r in segmentation.regions(mask, found)]
        segmentation.COMPARE_WORK = 0
        b = [(r.entry.index, r.rle["counts"], r.area, r.bbox) for r in segmentation.regions(mask, found)]
        assert a == b, f"the two ways differ on {width}x{height}"
        compare, runs = seconds(mask, found, 10**15), seconds(mask, found, 0)
        work = mask.size * len(found)
        used = "compare" if work <= saved else "runs"
        size = f"{width}x{height}"
        print(f"{size:>10} {len(found):>8} {work:>13,} {compare * 1e6:>8.0f}us {runs * 1e6:>8.0f}us "
              f"{compare / runs:>11.1f}x  {used}")  # fmt: skip
    segmentation.COMPARE_WORK = saved
    print(f"threshold: COMPARE_WORK = {saved:,} pixels x entries")


if __name__ == "__main__":
    main()
