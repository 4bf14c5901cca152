"""scale_rules.validate(): time per payload, next to what merely parsing the body costs.

    .venv/bin/python bench/bench_scale_rules.py          # 200 runs per case, best of 5
    .venv/bin/python bench/bench_scale_rules.py 1000     # more runs

For each case it prints the best time per validate() call and its ratio against
json.loads(json.dumps(payload)) of the same payload measured in the same run (the
least any server does with a request body), so a slow machine or a busy one moves
both numbers together. The cases: a typical videoannotation payload (every geometry,
attributes, links, prelabels), the same with optional parameters sent as null (the
SDK's way: the copy that drops them is taken), 50 labels with 20 conditioned
attributes, and a 28-attribute production taxonomy from the corpus.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotator import scale_rules  # noqa: E402
from tests.test_scale_rules_violations import VIDEO_PAYLOAD  # noqa: E402


def best(fn, runs: int) -> float:
    fastest = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(runs):
            fn()
        fastest = min(fastest, (time.perf_counter() - start) / runs)
    return fastest


def fifty_labels() -> dict[str, Any]:
    labels: list[Any] = [
        {"choice": f"group-{g}", "subchoices": [f"label-{g}-{i}" for i in range(4)]} for g in range(10)
    ]
    labels += [{"choice": f"thing-{i}", "instance_label": True} for i in range(40)]
    leaves = scale_rules.leaf_labels(labels)
    attributes = {
        f"attr-{i}": {
            "description": "?",
            "choices": [f"c{j}" for j in range(5)],
            "conditions": {
                "label_condition": {"label": leaves[i : i + 10]},
                "attribute_conditions": [{f"attr-{(i + 1) % 20}": ["c1", "c2"]}],
            },
        }
        for i in range(20)
    }
    return {"attachment": "https://i.example.com/a.png", "labels": labels, "annotation_attributes": attributes}


def main(runs: int) -> None:
    corpus = ROOT / "tests" / "fixtures" / "scale" / "corpus" / "045-voxel-playback-undocumented-params.json"
    production = json.loads(corpus.read_text())
    with_nulls = {**VIDEO_PAYLOAD, "callback_url": None, "unique_id": None, "batch": None, "hypothesis": None}
    cases = [
        ("typical videoannotation", "videoannotation", VIDEO_PAYLOAD),
        ("same, optionals sent as null", "videoannotation", with_nulls),
        ("50 labels, 20 conditioned attributes", "segmentannotation", fifty_labels()),
        ("production taxonomy (corpus 045)", production["task_type"], production["payload"]),
    ]
    print(f"{'case':40} {'body':>8} {'validate':>11} {'parse':>9} {'ratio':>7}")
    for name, task_type, payload in cases:
        assert not scale_rules.errors(scale_rules.validate(task_type, payload)), name
        body = json.dumps(payload)
        validate = best(lambda: scale_rules.validate(task_type, payload), runs)  # noqa: B023
        parse = best(lambda: json.loads(json.dumps(payload)), runs)  # noqa: B023
        size = f"{len(body) / 1024:6.1f}KB"
        print(f"{name:40} {size:>8} {validate * 1e3:8.3f} ms {parse * 1e3:6.3f} ms {validate / parse:6.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
