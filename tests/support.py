"""Real parts for tests: Celery worker processes, SMTP, Chromium.

Fixtures in conftest.py wrap these; reliability tests use them directly to
kill and restart workers or Redis.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from django.db import connection

from annotator import devstack

BASE_DIR = Path(__file__).resolve().parent.parent
ARTIFACTS = BASE_DIR / "tests" / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def test_database_url() -> str:
    """A URL for the database the current test uses, for worker subprocesses."""
    s = connection.settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or ""
    auth = f"{user}:{s['PASSWORD']}@" if s.get("PASSWORD") else (f"{user}@" if user else "")
    return f"postgresql://{auth}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def worker_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = test_database_url()
    env.update(extra)
    return env


class Worker:
    """A real `celery worker` process on the test Redis and the test database."""

    def __init__(self, concurrency: int = 2, pool: str = "prefork", beat: bool = False, **env: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = f"worker-{os.getpid()}-{time.monotonic_ns()}"
        self.log_path = ARTIFACTS / f"{name}.log"
        # Beat's own schedule file: a previous run's last-run times must not delay this one.
        schedule = ARTIFACTS / f"{name}.beat-schedule" if beat else None
        self.args = devstack.worker_command(concurrency=str(concurrency), beat=beat, schedule=schedule)
        pool_index = self.args.index("--pool") + 1
        self.args[pool_index] = pool
        self.env = worker_env(**env)
        self.proc: subprocess.Popen | None = None

    def start(self, wait: float = 20.0) -> Worker:
        log = self.log_path.open("ab")
        self.proc = devstack.spawn(self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_path.read_text()[-3000:]}")
            if b"ready." in self.log_path.read_bytes():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready after {wait} s:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool), as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            devstack.stop(self.proc, timeout=15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def url_routes() -> list[str]:
    """Every URL route of the project, prefixes joined, e.g. "tasks/<uuid:task_code>/"."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern)

    return sorted(walk(get_resolver().url_patterns))


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which("chromium") is not None


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


# Projects the sandbox fixtures (tests/fixtures/sandbox/*.json) name. As at Scale, a
# task may only name a project that exists, so a test account gets them up front.
SANDBOX_FIXTURE_PROJECTS = ("street-segmentation", "vehicle-tracking")


def sandbox_account(api_key: str, callback_auth_key: str, projects: tuple[str, ...] = SANDBOX_FIXTURE_PROJECTS):
    """A sandbox account (created or updated) with the given projects."""
    from annotator.sandbox.models import SandboxAccount, ensure_project

    account = SandboxAccount.objects.ensure(api_key, callback_auth_key)
    for name in projects:
        ensure_project(account, name)
    return account
