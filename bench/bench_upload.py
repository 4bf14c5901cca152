"""Bulk upload memory: the dry run's peak memory as the file grows, against reading it whole.

    .venv/bin/python bench/bench_upload.py            # 5, 20 and 45 MB files
    .venv/bin/python bench/bench_upload.py 5 100      # sizes in MB

For each size, a CSV of 20,000 rows (SUBMIT_MAX_ROWS) whose metadata cells are padded to
reach the size is kept as an upload and dry-run with bulk.plan() (the path the upload page and
the go-ahead take), on a scratch SQLite database. Printed: the peak memory Python allocated
during the dry run (tracemalloc), next to the peak of the old way of reading the same file
(the whole body joined, decoded and split into lines) measured in the same run, and the time.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))
DATA = tempfile.mkdtemp(prefix="annotator-bench-upload-")
os.environ["DATA_DIR"] = DATA
os.environ["DATABASE_URL"] = ""
os.environ["CACHE_URL"] = ""
os.environ["REDIS_URL"] = ""
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
ROWS = 20_000


def make_file(path: Path, megabytes: float) -> None:
    pad = max(0, int(megabytes * 1_000_000 / ROWS) - 60)
    with open(path, "w") as out:
        out.write("attachment,metadata.note\n")
        for i in range(ROWS):
            out.write(f"https://example.org/frames/{i:06d}.png,{'x' * pad}\n")


def peak(function) -> tuple[float, float]:
    tracemalloc.start()
    started = time.perf_counter()
    function()
    took = time.perf_counter() - started
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top / 1e6, took


def main() -> None:
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from annotator.accounts.models import Membership, Workspace
    from annotator.composer.models import TaskTemplate
    from annotator.submission import bulk

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench", "bench@example.org", "bench-password-1")
    workspace = Workspace.objects.create(name="Bench")
    Membership.objects.create(user=user, workspace=workspace, role=Membership.Role.OWNER)
    template = TaskTemplate.objects.create(
        workspace=workspace, name="Streets", task_type="segmentannotation", payload={"labels": ["road", "car"]}
    )
    sizes = [float(a) for a in sys.argv[1:]] or [5, 20, 45]
    print(f"dry run of {ROWS:,} rows; peak Python memory (tracemalloc) in MB; time in s")
    print(f"{'file':>8} {'whole-file read':>16} {'dry run (streamed)':>19} {'time':>6}")
    for megabytes in sizes:
        path = Path(DATA) / f"rows-{megabytes}.csv"
        make_file(path, megabytes)
        size = path.stat().st_size

        def whole_file(path: Path = path) -> None:
            content = path.read_bytes()
            content.decode("utf-8-sig").splitlines()

        def dry_run(path: Path = path) -> None:
            with open(path, "rb") as stream:
                sha = bulk.keep_upload(workspace, _Chunks(stream))
            the_plan = bulk.plan(workspace, template, bulk.load_upload(workspace, sha), "rows.csv")
            assert len(the_plan.valid_rows) == ROWS, the_plan.errors[:3]

        old, _ = peak(whole_file)
        new, took = peak(dry_run)
        print(f"{size / 1e6:7.1f}M {old:15.1f}M {new:18.1f}M {took:6.1f}")


class _Chunks:
    """What an UploadedFile offers keep_upload(): its content in chunks."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def chunks(self):
        while chunk := self.stream.read(64 * 1024):
            yield chunk


if __name__ == "__main__":
    main()
