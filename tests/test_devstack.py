"""`make run` end to end: it serves the login page, accepts the demo login, restarts a
dead worker, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from annotator.devstack import free_port
from tests.support import wait_until

BASE_DIR = Path(__file__).resolve().parent.parent


def _children_of(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def _direct_worker(launcher: int) -> int | None:
    for pid in _children_of(launcher):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if ppid == launcher and b"celery" in cmdline and b"worker" in cmdline:
            return pid
    return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_make_run_serves_the_demo_and_ctrl_c_stops_everything(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "CACHE_URL"}}
    env.update({"PORT": str(port), "DATA_DIR": str(tmp_path), "WORKER_CONCURRENCY": "1"})
    log = (tmp_path / "run.log").open("wb")
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "annotator.devstack", "run"], cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    output = lambda: (tmp_path / "run.log").read_text(errors="replace")  # noqa: E731
    try:
        wait_until(lambda: "annotator is running at" in output() or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, output()
        assert time.monotonic() - started < 60
        assert "Demo login: demo / annotator-demo" in output()

        session = requests.Session()
        login_url = f"http://127.0.0.1:{port}/accounts/login/"
        assert session.get(login_url, timeout=10).status_code == 200
        response = session.post(
            login_url,
            data={
                "username": "demo",
                "password": "annotator-demo",
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": login_url},
            timeout=10,
        )
        assert response.status_code == 200 and "Demo workspace" in response.text

        # A worker that dies (as on a broker outage) is restarted, not left dead.
        worker = _direct_worker(proc.pid)
        os.killpg(worker, signal.SIGKILL)
        wait_until(lambda: "restarting it" in output(), timeout=15, message="the launcher to notice")
        wait_until(lambda: _direct_worker(proc.pid) not in (None, worker), timeout=15, message="a new worker")

        tree = _children_of(proc.pid)
        assert len(tree) >= 3, "redis, the worker and the web server should be running"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        wait_until(lambda: not any(_alive(p) for p in tree), timeout=15, message="every child to exit")
    finally:
        if proc.poll() is None:
            proc.kill()
