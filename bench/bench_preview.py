"""The composer's live preview: time per request for large "when is it asked?" matrices.

    .venv/bin/python bench/bench_preview.py          # 30 runs per case
    .venv/bin/python bench/bench_preview.py 100      # more runs

Runs the whole preview view (form, build_payload, validate, matrix, snippets, template)
through Django's test client on a scratch SQLite database, signed in as a member, and
prints the median and p90 per case next to its ratio against a trivial preview (one
label, no attributes) measured in the same run, plus the matrix computation alone.

The cases:
- trivial: the baseline.
- chain 20 (issue 11): 20 attributes, each conditioned twice on the previous one, the
  first asked for no label of the task (the 3 KB post that cost 13-16 s of CPU).
- 50 x 50 chained: 50 labels and 50 attributes, each conditioned twice on the one before,
  half of them also on a label condition (the goal: under 50 ms per preview).
- over the cap: the largest input whose table is still drawn, and one just past
  matrix.MAX_WORK, which skips the table (its cost is validation and the JSON only).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))
DATA = tempfile.mkdtemp(prefix="annotator-bench-preview-")
os.environ["DATA_DIR"] = DATA
os.environ["DATABASE_URL"] = ""
os.environ["CACHE_URL"] = ""
os.environ["REDIS_URL"] = ""
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
os.environ["ALLOWED_HOSTS"] = "testserver"
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 30


def chain(count: int, labels: list[str], *, dead_root: bool, label_conditions: bool) -> dict:
    attributes = {}
    for i in range(count):
        definition: dict = {"type": "category", "description": f"Question {i}?", "choices": ["yes", "no"]}
        conditions: dict = {}
        if i:
            conditions["attribute_conditions"] = [{f"attr{i - 1}": "yes"}, {f"attr{i - 1}": "no"}]
        elif dead_root:
            conditions["label_condition"] = {"label": ["not-a-label-of-this-task"]}
        if label_conditions and i % 2:
            conditions["label_condition"] = {"label": labels[: len(labels) // 2 + i % 7]}
        if conditions:
            definition["conditions"] = conditions
        attributes[f"attr{i}"] = definition
    return attributes


def post_data(labels: list[str], attributes: dict) -> dict[str, str]:
    return {
        "project": "bench",
        "instruction": "Label **every** pixel.",
        "attachment": "https://example.org/street.png",
        "labels_json": json.dumps(labels),
        "attributes_json": json.dumps(attributes),
    }


def measure(client, data: dict[str, str]) -> list[float]:
    client.post("/compose/segmentannotation/preview/", data)  # warm-up
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        response = client.post("/compose/segmentannotation/preview/", data)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
    return times


def matrix_only(labels: list[str], attributes: dict) -> float:
    from annotator.composer.matrix import when_asked

    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        when_asked(labels, attributes)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from annotator.accounts.models import Membership, Workspace
    from annotator.composer.matrix import MAX_WORK

    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import User

    user = User.objects.create_user("bench", "bench@example.org", "bench-password-1")
    workspace = Workspace.objects.create(name="Bench")
    Membership.objects.create(user=user, workspace=workspace, role=Membership.Role.MEMBER)
    client = Client()
    client.force_login(user)

    labels50 = [f"label{i}" for i in range(50)]
    # The widest chained input the table is still drawn for: labels x (attributes + keys) <= MAX_WORK.
    at_cap = MAX_WORK // (50 * 3)

    def chained(count: int, labels: list[str], **kwargs: bool) -> tuple[list[str], dict]:
        return labels, chain(count, labels, **kwargs)

    two = ["car", "person"]
    cases = {
        "trivial (1 label, no attributes)": (["road"], {}),
        "chain 20, dead root (issue 11)": chained(20, two, dead_root=True, label_conditions=False),
        "50 labels x 50 attributes chained": chained(50, labels50, dead_root=False, label_conditions=True),
        f"50 labels x {at_cap} attributes (at the cap)": chained(
            at_cap, labels50, dead_root=False, label_conditions=True
        ),
        f"50 labels x {at_cap + 10} attributes (table skipped)": chained(
            at_cap + 10, labels50, dead_root=False, label_conditions=True
        ),
    }
    print(f"preview, {RUNS} runs per case, median / p90 in ms; ratio = median / trivial median")
    print(f"{'case':48} {'body':>8} {'median':>8} {'p90':>8} {'ratio':>6} {'matrix':>8}")
    baseline = None
    for name, (labels, attributes) in cases.items():
        data = post_data(labels, attributes)
        size = sum(len(value) for value in data.values())
        times = measure(client, data)
        median = statistics.median(times)
        p90 = statistics.quantiles(times, n=10)[-1]
        baseline = baseline or median
        print(
            f"{name:48} {size / 1024:7.1f}K {median * 1000:8.1f} {p90 * 1000:8.1f} {median / baseline:6.1f} "
            f"{matrix_only(labels, attributes) * 1000:8.2f}"
        )


if __name__ == "__main__":
    main()
