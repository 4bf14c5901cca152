"""The status table at 10k, 100k and 1M tasks in PostgreSQL.

    .venv/bin/python bench/bench_status_table.py            # 10k, 100k, 1M
    .venv/bin/python bench/bench_status_table.py 10000 100000
    .venv/bin/python bench/bench_status_table.py --fresh  # drop the scratch database first

Creates (or reuses) a scratch database `bench_status` on 127.0.0.1:5432 (override
with BENCH_DATABASE_URL), fills one workspace with generated tasks through
INSERT ... SELECT generate_series, and prints for each size: the server time of
a whole page (view + template, through Django's test client) at the first page,
a deep page (keyset cursor ~90% down) and filtered pages, next to the raw SQL
time of the same page query, plus the per-status GROUP BY behind the counts.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))
URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_status")
os.environ["DATABASE_URL"] = URL
os.environ.setdefault("DATA_DIR", "/tmp/annotator-bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
os.environ["CACHE_URL"] = ""  # local memory: the counts cache is per process, as under gunicorn
os.environ["REDIS_URL"] = ""
os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1"
REPEAT = 15


def ensure_database() -> None:
    import psycopg

    name = URL.rsplit("/", 1)[1]
    admin = URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if "--fresh" in sys.argv:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django():
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


FILL = """
INSERT INTO tasks_task (code, workspace_id, created_by_id, task_type, payload, unique_id, state, attempts,
    last_error, scale_task_id, scale_status, response, callback_count, project, batch, tags, attachment,
    created_at, updated_at, submitted_at, callback_succeeded, last_callback_at)
SELECT gen_random_uuid(), %(ws)s, %(user)s,
    (ARRAY['segmentannotation','videoannotation','videoplaybackannotation'])[1 + i %% 3],
    jsonb_build_object('attachment', 'https://cdn.example.org/frames/' || i || '.png'),
    'bench:' || i,
    CASE WHEN i %% 20 = 0 THEN 'failed' WHEN i %% 20 = 1 THEN 'queued' ELSE 'submitted' END,
    1, '', lpad(to_hex(i), 24, '0'),
    CASE WHEN i %% 20 < 2 THEN '' WHEN i %% 20 < 5 THEN 'pending' WHEN i %% 20 = 5 THEN 'error'
         WHEN i %% 20 = 6 THEN 'canceled' ELSE 'completed' END,
    NULL, CASE WHEN i %% 20 > 4 THEN 1 ELSE 0 END,
    'project-' || (i %% 7), 'batch-' || (i / 1000), jsonb_build_array('tag-' || (i %% 11)),
    'https://cdn.example.org/frames/' || i || '.png',
    now() - make_interval(secs => (%(end)s - i) * 30), now() - make_interval(secs => (%(end)s - i) * 30),
    now() - make_interval(secs => (%(end)s - i) * 30), CASE WHEN i %% 20 > 4 THEN true END, NULL
FROM generate_series(%(start)s, %(end)s - 1) AS i
"""


def fill_to(n: int, ws, user) -> None:
    from django.db import connection

    from annotator.tasks.models import Task

    have = Task.objects.filter(workspace=ws).count()
    if have >= n:
        return
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        # Rows are numbered so that each batch is newer than the last (created_at grows with i).
        cur.execute(FILL, {"ws": ws.id, "user": user.id, "start": have, "end": n})
        # What autovacuum does soon after a bulk load; without it the visibility
        # map is empty and index-only scans (the counts) read the heap too.
        cur.execute("VACUUM ANALYZE tasks_task")
    print(f"  filled {have:,} → {n:,} rows in {time.perf_counter() - t0:.1f} s")


def timed(fn) -> tuple[float, float]:
    fn()  # warm
    samples = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), max(samples)


def page_sql(ws, params: dict) -> tuple[str, list]:
    from django.test import RequestFactory

    from annotator.tasks import views

    request = RequestFactory().get("/tasks/", params)
    f = views.Filters.from_request(request)
    field, _desc = views.SORTS[f.sort]
    qs = views.filtered(ws, f)
    after = views.decode_cursor(f.cursor, f.sort) if f.cursor else None
    if after:
        from django.db.models import Q

        at, pk = after
        qs = qs.filter(**{f"{field}__lte": at}).filter(Q(**{f"{field}__lt": at}) | Q(**{field: at, "id__lt": pk}))
    qs = qs.order_by(f"-{field}", "-id")[: views.PAGE_SIZE + 1]
    sql, args = qs.query.sql_with_params()
    return sql, list(args)


def run_raw(sql: str, args: list) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(sql, args)
        cur.fetchall()


def deep_cursor(ws, n: int) -> str:
    from django.db import connection

    from annotator.tasks import views

    with connection.cursor() as cur:
        # Only the benchmark uses OFFSET, once, to find a row 90% of the way down.
        cur.execute(
            "SELECT created_at, id FROM tasks_task WHERE workspace_id = %s ORDER BY created_at DESC, id DESC "
            "OFFSET %s LIMIT 1",
            [ws.id, int(n * 0.9)],
        )
        at, pk = cur.fetchone()
    return views.encode_cursor("created_desc", at, pk)


def main(sizes: list[int]) -> None:
    ensure_database()
    setup_django()
    from django.contrib.auth.models import User
    from django.core.cache import cache
    from django.test import Client

    from annotator.accounts.models import Membership, Workspace
    from annotator.tasks import views

    user, _ = User.objects.get_or_create(username="bench")
    ws = Workspace.objects.filter(name="bench").first() or Workspace.objects.create(name="bench")
    Membership.objects.get_or_create(user=user, workspace=ws, defaults={"role": "owner"})
    client = Client()
    client.force_login(user)
    print(f"database {URL}; median / max of {REPEAT} runs, milliseconds")
    header = f"{'rows':>9} {'page':<34} {'server median':>13} {'server max':>10} {'raw SQL median':>14}"
    for n in sizes:
        fill_to(n, ws, user)
        cases = {
            "first page": {},
            "deep page (90% down, keyset)": {"cursor": deep_cursor(ws, n)},
            "filtered: status=error": {"status": "error"},
            "filtered: project+type+tag": {"project": "project-3", "type": "videoannotation", "tag": "tag-5"},
            "search: scale task id": {"q": f"{n // 2:024x}"},
            "search: unique_id prefix": {"q": f"bench:{n // 3}"},
            "sorted by updated, oldest first": {"sort": "updated_asc"},
        }
        print(header)
        for name, params in cases.items():
            assert client.get("/tasks/", params).status_code == 200
            server = timed(lambda p=params: client.get("/tasks/", p))
            if params.get("sort") == "updated_asc":
                raw = (float("nan"), 0.0)
            else:
                sql, args = page_sql(ws, params)
                raw = timed(lambda s=sql, a=args: run_raw(s, a))
            print(f"{n:>9,} {name:<34} {server[0]:>13.1f} {server[1]:>10.1f} {raw[0]:>14.2f}")

        def grouped():
            cache.clear()
            views.status_counts(ws)

        g = timed(grouped)
        print(f"{n:>9,} {'counts per status (uncached)':<34} {g[0]:>13.1f} {g[1]:>10.1f}")
        poll_params = {"poll": "1", "since": "2000-01-01T00:00:00+00:00"}
        p = timed(lambda pp=poll_params: client.get("/tasks/", pp, HTTP_HX_REQUEST="true"))
        print(f"{n:>9,} {'htmx poll (all 50 rows changed)':<34} {p[0]:>13.1f} {p[1]:>10.1f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:] if a.isdigit()] or [10_000, 100_000, 1_000_000])
