"""`make run` end to end: it serves the login page, accepts the demo login, restarts a
dead worker; SIGINT, SIGTERM and SIGHUP leave no process behind however it was started;
a port taken before runserver binds it is retried, and demo_setup reports the real URL."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from annotator.devstack import free_port, port_is_free
from tests import processes
from tests.support import wait_until

BASE_DIR = Path(__file__).resolve().parent.parent


def _direct_worker(launcher: int) -> int | None:
    for pid in processes.children_of(launcher):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if ppid == launcher and b"celery" in cmdline and b"worker" in cmdline:
            return pid
    return None


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

        tree = processes.children_of(proc.pid)
        assert len(tree) >= 3, "redis, the worker and the web server should be running"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        wait_until(lambda: not any(processes.alive(p) for p in tree), timeout=15, message="every child to exit")
    finally:
        if proc.poll() is None:
            proc.kill()


def _launcher_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "CACHE_URL", "SITE_URL"}}
    env.update({"DATA_DIR": str(tmp_path), "WORKER_CONCURRENCY": "1", **extra})
    return env


def _start_in_background(tmp_path: Path, command: list[str], **extra: str) -> int:
    """As `setsid make run &` does from a script: SIGINT ignored (a shell's background job), own session."""
    log = tmp_path / "run.log"
    script = f"setsid {shlex.join(command)} >{shlex.quote(str(log))} 2>&1 & echo $!"
    out = subprocess.run(
        ["bash", "-c", script],
        cwd=BASE_DIR,
        env=_launcher_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(out.stdout.strip())
    wait_until(lambda: os.getpgid(pid) == pid, timeout=10, message="setsid to make the launcher a group leader")
    return pid


def _wait_running(tmp_path: Path, pid: int) -> str:
    output = lambda: (tmp_path / "run.log").read_text(errors="replace")  # noqa: E731
    started = lambda: "annotator is running at" in output() or not processes.alive(pid)  # noqa: E731
    wait_until(started, timeout=90, message="the stack")
    assert processes.alive(pid), output()
    return output()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "to_group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGHUP, False)],
    ids=["SIGINT-to-group", "SIGTERM", "SIGHUP"],
)
def test_a_launcher_started_in_the_background_stops_everything_on_a_signal(tmp_path, sig, to_group):
    port = free_port()
    pid = _start_in_background(tmp_path, [sys.executable, "-m", "annotator.devstack", "run"], PORT=str(port))
    sessions = {pid}
    try:
        _wait_running(tmp_path, pid)
        tree = processes.children_of(pid)
        assert len(tree) >= 3, "redis, the worker and the web server should be running"
        sessions = processes.sessions_of({pid, *tree})
        assert len(sessions) >= 4, "the launcher, redis, the worker and the web server each have a session"
        # SIGINT goes to the process group, as `kill -INT -PGID` or Ctrl-C sends it.
        os.killpg(pid, sig) if to_group else os.kill(pid, sig)
        wait_until(lambda: not processes.alive(pid), timeout=30, message=f"the launcher to exit on {sig.name}")
        wait_until(lambda: not processes.in_sessions(sessions), timeout=15, message="every child to exit")
        assert port_is_free(port)
        assert not (tmp_path / "run.json").exists(), "the stopped stack's URL is still advertised"
    finally:
        processes.kill_sessions(sessions)


RACE = (
    "import sys, annotator.devstack as d\n"
    # The port is taken between the launcher's check and runserver's bind: the
    # check is skipped, so the test's listener takes the port first every time.
    "d.choose_port = lambda port: port\n"
    "sys.exit(d.main(['run']))\n"
)


@pytest.mark.slow
def test_a_port_taken_before_runserver_binds_it_is_retried_and_demo_setup_reports_the_url(tmp_path):
    with socket.socket() as thief:
        thief.bind(("127.0.0.1", 0))
        thief.listen()
        taken = thief.getsockname()[1]
        pid = _start_in_background(tmp_path, [sys.executable, "-c", RACE], PORT=str(taken))
        sessions = {pid}
        try:
            output = _wait_running(tmp_path, pid)
            sessions = processes.sessions_of({pid, *processes.children_of(pid)})
            assert f"port {taken} was taken" in output
            url = output.split("annotator is running at ", 1)[1].split()[0].rstrip("/")
            assert url.startswith("http://127.0.0.1:") and not url.endswith(f":{taken}")
            assert requests.get(f"{url}/accounts/login/", timeout=10).status_code == 200

            # From another terminal, without SITE_URL: the running stack's URL.
            env = _launcher_env(tmp_path)
            shown = subprocess.run(
                [sys.executable, "manage.py", "demo_setup", "--json"],
                cwd=BASE_DIR,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            details = json.loads(shown.stdout)
            assert details["site_url"] == url
            assert details["callback_url"].startswith(url + "/callbacks/")
            assert details["api_base_url"] == url + "/sandbox/v1"
            os.kill(pid, signal.SIGTERM)
            wait_until(lambda: not processes.alive(pid), timeout=30, message="the launcher to exit")
            wait_until(lambda: not processes.in_sessions(sessions), timeout=15, message="every child to exit")
        finally:
            processes.kill_sessions(sessions)
