"""Callback ingestion under gunicorn: throughput, latency, and no event lost.

    .venv/bin/python bench/bench_callbacks.py [seconds] [rounds]

1. A scratch PostgreSQL database `bench_callbacks` (BENCH_DATABASE_URL) and Redis
   database 11 (BENCH_REDIS_URL) as broker: every accepted callback is stored and
   its drain job woken, as in production (no worker consumes them here).
2. gunicorn (gthread, BENCH_WORKERS=2 x BENCH_THREADS=4) serves the app plus a trivial view
   (bench/callbacks_app/) through the same middleware.
3. A warm-up (each worker's first callback opens its database, Redis and broker
   connections), then an open-loop Python generator at a fixed 200 requests/s:
   p50/p99 at that rate, and every id answered 200 looked up in the table.
4. wrk at saturation, in `rounds` alternating pairs: the trivial view (the
   ceiling), then authentic callbacks, each body unique (a per-run prefix and a
   Lua counter per wrk thread), so each one is a new event. The ratio is taken
   per pair, so a neighbour's load on this shared machine hits both sides of it.
5. Events counted in the database against the 2xx answers: 0 may be missing.
6. Each phase's CPU per request in gunicorn, PostgreSQL and Redis (from /proc):
   where the difference between the two sides goes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_callbacks")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 15
ROUNDS = min(int(sys.argv[2]) if len(sys.argv) > 2 else 3, 15)
RATE = 200
WORKERS = os.environ.get("BENCH_WORKERS", "2")
THREADS = os.environ.get("BENCH_THREADS", "4")
ENV = {
    **os.environ,
    "DATABASE_URL": DB_URL,
    "REDIS_URL": REDIS_URL,
    "CACHE_URL": "",
    "DEBUG": "false",
    "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdefghijklmnop",
    "FERNET_KEYS": "6rTXwZ3b1pQ0eZ8fS1y8e1mG1o6tq3k8F5pC0k9bq1c=",
    "SECURE_SSL_REDIRECT": "false",
    "ALLOWED_HOSTS": "127.0.0.1",
    "DATA_DIR": "/tmp/annotator-bench",
    "DJANGO_SETTINGS_MODULE": "bench.callbacks_app.settings",
    "PYTHONPATH": str(BASE),
    "LOG_LEVEL": "WARNING",
}

WRK_LUA = """
local counter = 0
local id = 0
local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  id = tonumber(wrk.thread:get("id"))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["scale-callback-auth"] = "%(key)s"
end
function request()
  counter = counter + 1
  local task = string.format("%(run)s%%06x%%010x", id, counter)
  local body = '{"task_id":"' .. task .. '","status":"completed","response":{"ok":true},' ..
    '"task":{"task_id":"' .. task .. '","status":"completed","updated_at":"2026-05-03T08:42:07.918Z"}}'
  return wrk.format(nil, nil, nil, body)
end
"""


def django_setup():
    os.environ.update({k: v for k, v in ENV.items() if k != "PYTHONPATH"})
    import django
    import psycopg

    name = DB_URL.rsplit("/", 1)[1]
    with psycopg.connect(DB_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def cpu_by_process() -> dict[str, float]:
    """CPU seconds so far of every process, summed by command name (Linux /proc; {} elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    totals: dict[str, float] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        totals[name] = totals.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return totals


def cpu_per_request(before: dict[str, float], after: dict[str, float], requests_done: int) -> str:
    """Milliseconds of CPU per request in the web server and the database during one phase."""
    parts = []
    for name in ("gunicorn", "postgres", "redis-server"):
        used = after.get(name, 0.0) - before.get(name, 0.0)
        if used > 0 and requests_done:
            parts.append(f"{name} {used * 1000 / requests_done:.3f}")
    return ", ".join(parts) or "n/a"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url: str, seconds: int, script: str | None = None) -> dict:
    args = ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", url]
    if script:
        args[1:1] = ["-s", script]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def latency(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * unit[m.group(2)] if m else float("nan")

    requests_done = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency("50"),
        "p99": latency("99"),
        "requests": requests_done,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "none",
    }


def closed_loop(url: str, seconds: int, key: str | None = None, clients: int = 16) -> dict:
    """Fallback when wrk is not installed: `clients` threads, each sending back to back."""
    latencies: list[float] = []
    bad = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(c: int) -> None:
        session = requests.Session()
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            t0 = time.perf_counter()
            if key is None:
                r = session.get(url, timeout=10)
            else:
                task = f"{c:08x}{n:016x}"
                r = session.post(
                    url,
                    data=json.dumps({"task_id": task, "status": "completed"}),
                    headers={"scale-callback-auth": key},
                    timeout=10,
                )
            with lock:
                latencies.append((time.perf_counter() - t0) * 1000)
                bad[0] += r.status_code >= 300

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(client, range(clients)))
    latencies.sort()
    return {
        "rps": len(latencies) / (time.perf_counter() - start),
        "p50": statistics.median(latencies),
        "p99": latencies[int(len(latencies) * 0.99) - 1],
        "requests": len(latencies),
        "non2xx": bad[0],
        "socket_errors": "none",
    }


def open_loop(url: str, key: str, seconds: int, rate: int, prefix: str = "ff") -> dict:
    """Fixed arrival rate: a request starts every 1/rate s whatever the latency."""
    latencies: list[float] = []
    failures: list[str] = []
    sent_ids: list[str] = []
    lock = threading.Lock()
    local = threading.local()

    def one(n: int) -> None:
        session = getattr(local, "s", None) or requests.Session()
        local.s = session
        task = f"{prefix}{n:022x}"
        body = json.dumps({"task_id": task, "status": "completed", "task": {"updated_at": "2026-05-03T08:42:07Z"}})
        t0 = time.perf_counter()
        try:
            r = session.post(
                url, data=body, headers={"scale-callback-auth": key, "content-type": "application/json"}, timeout=10
            )
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(ms)
                if r.status_code == 200:
                    sent_ids.append(task)
                else:
                    failures.append(str(r.status_code))
        except requests.RequestException as e:
            with lock:
                failures.append(type(e).__name__)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=64) as pool:
        for n in range(seconds * rate):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, n)
    latencies.sort()
    return {
        "sent": seconds * rate,
        "ok": len(sent_ids),
        "failures": len(failures),
        "p50": statistics.median(latencies),
        "p99": latencies[int(len(latencies) * 0.99) - 1],
        "max": latencies[-1],
        "ids": sent_ids,
        "achieved_rps": len(latencies) / (time.perf_counter() - start),
    }


def main() -> None:
    django_setup()
    from annotator.accounts.models import Workspace
    from annotator.tasks.models import CallbackEvent

    ws = Workspace.objects.filter(name="bench").first() or Workspace.objects.create(name="bench")
    CallbackEvent.objects.filter(workspace=ws).delete()
    port = free_port()
    server = subprocess.Popen(
        [
            str(BASE / ".venv/bin/gunicorn"),
            "annotator.wsgi:application",
            "-b",
            f"127.0.0.1:{port}",
            "-k",
            "gthread",
            "--workers",
            WORKERS,
            "--threads",
            THREADS,
            "--log-level",
            "warning",
        ],
        env=ENV,
        cwd=BASE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/bench/ok/", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        callback_url = f"{base}/callbacks/{ws.callback_token}/"
        run = f"{int(time.time()) % 0xFFFFFFF:07x}"  # bodies never repeat across runs or rounds

        def wrk_script(round_no: int) -> str:
            with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
                f.write(WRK_LUA % {"key": ws.callback_auth_key, "run": f"{run}{round_no:x}"})
                return f.name

        print(
            f"gunicorn gthread {WORKERS}x{THREADS} on 127.0.0.1:{port}; wrk -t2 -c16, {ROUNDS} rounds of {SECONDS} s"
            " per side; PostgreSQL + Redis"
        )
        warm = open_loop(callback_url, ws.callback_auth_key, 2, RATE, prefix="fe")
        print(f"warm-up: {warm['ok']} callbacks at {RATE}/s, first p99 {warm['p99']:.1f} ms (not counted)")
        fixed = open_loop(callback_url, ws.callback_auth_key, SECONDS, RATE)
        time.sleep(1)
        missing = len(
            set(fixed["ids"])
            - set(
                CallbackEvent.objects.filter(workspace=ws, scale_task_id__in=fixed["ids"]).values_list(
                    "scale_task_id", flat=True
                )
            )
        )
        print(
            f"fixed {RATE} req/s for {SECONDS} s (achieved {fixed['achieved_rps']:.0f}/s): p50 {fixed['p50']:.1f} ms,"
            f" p99 {fixed['p99']:.1f} ms, max {fixed['max']:.1f} ms; {fixed['ok']} answered 200,"
            f" {fixed['failures']} failed; events missing: {missing}"
        )
        time.sleep(2)
        print(f"{'':<28}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'non-2xx':>9}")
        ratios = []
        answered = stored = 0
        for n in range(1, ROUNDS + 1):
            before = CallbackEvent.objects.filter(workspace=ws).count()
            c0 = cpu_by_process()
            if shutil.which("wrk"):
                ceiling = wrk(f"{base}/bench/ok/", SECONDS)
                c1 = cpu_by_process()
                cb = wrk(callback_url, SECONDS, wrk_script(n))
            else:
                print("wrk not found (apt-get install wrk): using a Python load generator, itself CPU-bound")
                ceiling = closed_loop(f"{base}/bench/ok/", SECONDS)
                c1 = cpu_by_process()
                cb = closed_loop(callback_url, SECONDS, ws.callback_auth_key)
            c2 = cpu_by_process()
            ceiling["cpu"] = cpu_per_request(c0, c1, ceiling["requests"])
            cb["cpu"] = cpu_per_request(c1, c2, cb["requests"])
            time.sleep(1)
            stored += CallbackEvent.objects.filter(workspace=ws).count() - before
            answered += cb["requests"] - cb["non2xx"]
            ratios.append(cb["rps"] / ceiling["rps"])
            for label, r in ((f"{n}: trivial view (ceiling)", ceiling), (f"{n}: callback receiver", cb)):
                print(f"{label:<28}{r['rps']:>9.0f}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['requests']:>10}{r['non2xx']:>9}")
            print(f"{n}: CPU ms per request: ceiling {ceiling['cpu']}; receiver {cb['cpu']}")
            print(f"{n}: receiver / ceiling {ratios[-1]:.0%} (wrk socket errors: {cb['socket_errors']})")
        print(
            f"receiver / ceiling: median {statistics.median(ratios):.0%} of {ROUNDS} rounds"
            f" ({', '.join(f'{r:.0%}' for r in ratios)}); events stored {stored} for {answered} answered 2xx"
        )
    finally:
        server.terminate()
        server.wait(10)
        # Nobody consumes the queued jobs: drop them so no later worker on this
        # Redis database inherits thousands of stale messages.
        import redis

        redis.Redis.from_url(REDIS_URL).delete("callbacks")


if __name__ == "__main__":
    main()
