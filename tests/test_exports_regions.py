"""The two ways `segmentation.regions` builds COCO RLEs (comparison with each
index, or one walk over the mask's runs) give the same RLE, area and box, and
both agree with pycocotools encoding each entry's binary mask on its own and
with the pixels counted by numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from annotator.exports import segmentation
from annotator.exports.segmentation import Entry


def entries_for(indexes: list[int]) -> list[Entry]:
    return [Entry(f"label{i}", i, "", i > 2, 1) for i in indexes]


def independent(mask: np.ndarray, entry: Entry) -> tuple[str, int, list[float]] | None:
    """What a script would compute for one entry, pixel by pixel."""
    binary = mask == entry.index
    if not binary.any():
        return None
    rle = mask_utils.encode(np.asfortranarray(binary.astype(np.uint8)))
    ys, xs = np.nonzero(binary)
    box = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
    return rle["counts"].decode(), int(binary.sum()), box


def both_ways(mask: np.ndarray, found: list[Entry], monkeypatch: pytest.MonkeyPatch) -> list[list]:
    results = []
    for work in (10**12, 0):  # every mask by comparison, then every mask by runs
        monkeypatch.setattr(segmentation, "COMPARE_WORK", work)
        results.append([(r.entry.index, r.rle["counts"], r.area, r.bbox) for r in segmentation.regions(mask, found)])
    return results


masks = st.integers(1, 40).flatmap(
    lambda h: st.integers(1, 40).flatmap(
        lambda w: st.lists(st.integers(0, 6), min_size=h * w, max_size=h * w).map(
            lambda values: np.array(values, dtype=np.uint8).reshape(h, w)
        )
    )
)


@settings(max_examples=150, deadline=None)
@given(mask=masks, indexes=st.lists(st.integers(1, 7), min_size=1, max_size=7))
def test_comparison_and_runs_agree_with_pycocotools_and_numpy(mask, indexes):
    found = entries_for(indexes)
    with pytest.MonkeyPatch.context() as monkeypatch:
        by_comparison, by_runs = both_ways(mask, found, monkeypatch)
    assert by_comparison == by_runs
    expected = [(e.index, *independent(mask, e)) for e in found if independent(mask, e) is not None]
    assert by_runs == expected


def test_a_large_mask_with_many_instances_takes_the_runs_path_and_decodes_exactly(monkeypatch):
    rng = np.random.default_rng(3)
    mask = np.ones((720, 1280), dtype=np.uint8)
    mask[:200] = 2
    for k in range(30):
        y, x = rng.integers(200, 680), rng.integers(0, 1240)
        mask[y : y + rng.integers(3, 40), x : x + rng.integers(3, 40)] = 3 + k
    found = entries_for(list(range(1, 33)))
    assert mask.size * len(found) > segmentation.COMPARE_WORK  # the runs path, as an export would take it
    regions = list(segmentation.regions(mask, found))
    assert {r.entry.index for r in regions} == set(np.unique(mask).tolist())
    for r in regions:
        decoded = mask_utils.decode({"size": r.rle["size"], "counts": r.rle["counts"].encode()})
        assert np.array_equal(decoded, (mask == r.entry.index).astype(np.uint8))
        assert r.area == int(decoded.sum())
    covered = sum(mask_utils.decode({"size": r.rle["size"], "counts": r.rle["counts"].encode()}) for r in regions)
    assert covered.max() == 1 and covered.min() == 1  # every pixel in exactly one region


def test_extended_indexes_above_255_both_ways(monkeypatch):
    mask = np.zeros((30, 50), dtype=np.uint32)
    mask[5:10, 5:20] = 300
    mask[12:25, 30:49] = 70_000
    mask[0, :] = 1
    found = entries_for([1, 300, 70_000, 999])
    by_comparison, by_runs = both_ways(mask, found, monkeypatch)
    assert by_comparison == by_runs
    assert [index for index, *_ in by_runs] == [1, 300, 70_000]  # 999 painted nowhere: no region
    assert by_runs[1][3] == [5.0, 5.0, 15.0, 5.0]
