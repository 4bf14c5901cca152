"""What a new user's machine gets: a clean clone, a venv built by the Makefile from
requirements.txt (+ requirements-local.txt when no redis-server is on PATH) alone,
and `make run` started through make, in its own session, as a person starts it.

The developers' venv must not leak in: the clone gets an environment with none of
our variables, a PATH without any virtualenv, and its own venv without system site
packages. One venv is built per module and shared by every test here.

Deselect with `-m "not fresh_install"`; `make test` and `.ci/run` run it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from annotator.devstack import free_port, port_is_free
from tests import processes
from tests.forms import form_fields
from tests.support import wait_until

BASE_DIR = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.fresh_install, pytest.mark.slow]

# What a user's shell would carry: locale, home (pip's cache lives there), the
# machine's package-index configuration. Nothing of the test run or of Django.
_KEPT = {"HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM"}
_KEPT_PREFIXES = ("LC_", "PIP_", "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
_KEPT_CERTS = {"REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE"}


def _inside_a_venv(directory: str) -> bool:
    path = Path(directory).resolve()
    return any((p / "pyvenv.cfg").exists() for p in (path, *path.parents))


def user_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k in _KEPT or k in _KEPT_CERTS or any(k.startswith(p) for p in _KEPT_PREFIXES)
    }
    ours = {str(Path(sys.executable).parent), str(Path(sys.prefix) / "bin")}
    path = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and d not in ours and not _inside_a_venv(d)]
    env["PATH"] = os.pathsep.join(path)
    env["PYTHONNOUSERSITE"] = "1"
    env.update(extra)
    return env


@dataclass
class FreshClone:
    root: Path
    commit: str

    @property
    def python(self) -> Path:
        return self.root / ".venv" / "bin" / "python"


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> FreshClone:
    if shutil.which("git") is None or not (BASE_DIR / ".git").exists():
        pytest.fail("the fresh-install smoke test needs the project as a git checkout and git on PATH")
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=BASE_DIR, capture_output=True, text=True, check=True
    ).stdout.strip()
    root = tmp_path_factory.mktemp("fresh") / "annotator"
    # The committed HEAD only: what a user who clones the repository gets.
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(BASE_DIR), str(root)], check=True)
    subprocess.run(["git", "checkout", "--quiet", "--detach", commit], cwd=root, check=True)
    # A committed .venv (a developer's symlink) would make `make` reuse that venv.
    assert not (root / ".venv").exists() and not (root / ".venv").is_symlink(), "the repository holds a .venv"
    # `make install` is the recipe `make run` installs with (RUN_STAMP): one build,
    # reused by every `make run` below as a user's second run reuses it.
    result = subprocess.run(
        ["make", "install"], cwd=root, env=user_env(), capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, f"make install failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return FreshClone(root=root, commit=commit)


def run_in_venv(clone: FreshClone, code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(clone.python), "-c", code],
        cwd=clone.root,
        env=user_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


IMPORT_EVERYTHING = r"""
import importlib, json, os, pkgutil, sys, traceback
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
import django
django.setup()
import annotator
failures = {}
names = ["kombu.transport.redis", "celery.backends.redis", "django.core.cache.backends.redis"]
names += [m.name for m in pkgutil.walk_packages(annotator.__path__, "annotator.")]
for name in names:
    try:
        importlib.import_module(name)
    except Exception:
        failures[name] = traceback.format_exc(limit=2)
# The broker transport by URL, as the worker and every enqueue load it.
from kombu import Connection
try:
    Connection(os.environ["PROBE_BROKER"]).transport
except Exception:
    failures["kombu Connection(redis://).transport"] = traceback.format_exc(limit=2)
print(json.dumps({
    "failures": failures,
    "imported": len(names),
    "prefix": sys.prefix,
    "base_prefix": sys.base_prefix,
    "path": sys.path,
}))
"""


def test_the_fresh_venv_imports_everything_the_runtime_needs(fresh_clone, tmp_path):
    result = run_in_venv(
        fresh_clone, IMPORT_EVERYTHING, DATA_DIR=str(tmp_path / "var"), PROBE_BROKER="redis://127.0.0.1:1/0"
    )
    assert result.returncode == 0, result.stderr[-5000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # It is the clone's own venv, and nothing of the developers' leaks in.
    assert Path(report["prefix"]) == fresh_clone.root / ".venv"
    assert report["prefix"] != report["base_prefix"]
    leaked = [p for p in report["path"] if p and (p.startswith(sys.prefix) or "site-packages" in p)]
    assert all(p.startswith(report["prefix"]) for p in leaked), leaked
    assert "include-system-site-packages = false" in (fresh_clone.root / ".venv" / "pyvenv.cfg").read_text()
    assert report["imported"] > 50
    assert report["failures"] == {}, "\n".join(f"{k}:\n{v}" for k, v in report["failures"].items())


# --- make run, as a user starts it --------------------------------------------------

FIXTURES = BASE_DIR / "tests" / "fixtures" / "sandbox"
TASK_TYPES = ("segmentannotation", "videoannotation", "videoplaybackannotation")


@dataclass
class Launch:
    """`make run` in its own session, its console captured as the terminal would show it."""

    clone: FreshClone
    proc: subprocess.Popen
    log_path: Path
    sessions: set[int] = field(default_factory=set)
    ports: set[int] = field(default_factory=set)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_running(self) -> str:
        running = lambda: "annotator is running at" in self.output() or self.proc.poll() is not None  # noqa: E731
        wait_until(running, timeout=240, interval=0.5, message="`make run` to say it is running")
        assert self.proc.poll() is None, f"make run exited:\n{self.output()[-5000:]}"
        url = self.output().split("annotator is running at ", 1)[1].split()[0].rstrip("/")
        # Who is running: make, the launcher, and each child in its own session.
        tree = {self.proc.pid, *processes.children_of(self.proc.pid)}
        self.sessions = processes.sessions_of(tree)
        self.ports = {
            int(url.rsplit(":", 1)[1]),
            *map(int, re.findall(r"redis-server .* on port (\d+)", self.output())),
        }
        return url

    def stop(self, sig: signal.Signals, *, to_group: bool) -> None:
        # Ctrl-C signals the whole foreground group; `kill PID` signals make alone.
        if to_group:
            os.killpg(self.proc.pid, sig)
        else:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"make run still running 60 s after {sig.name}:\n{self.output()[-3000:]}") from None
        wait_until(
            lambda: not processes.in_sessions(self.sessions), timeout=30, message=f"every process to exit on {sig.name}"
        )
        for port in self.ports:
            assert port_is_free(port), f"port {port} is still taken after {sig.name}"

    def kill_leftovers(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        processes.kill_sessions(self.sessions)


@contextlib.contextmanager
def make_run(clone: FreshClone, log_path: Path):
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            ["make", "run"],
            cwd=clone.root,
            env=user_env(PORT=str(free_port())),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    launch = Launch(clone=clone, proc=proc, log_path=log_path)
    try:
        yield launch
    finally:
        launch.kill_leftovers()


def sign_in(url: str, console: str) -> requests.Session:
    """With the demo login `make run` printed."""
    username, password = re.search(r"Demo login: (\S+) / (\S+)", console).groups()
    session = requests.Session()
    page = session.get(f"{url}/accounts/login/", timeout=30)
    assert page.status_code == 200
    response = post(session, f"{url}/accounts/login/", {"username": username, "password": password})
    assert response.status_code == 200 and "Demo workspace" in response.text, response.text[:2000]
    return session


def post(session: requests.Session, url: str, data) -> requests.Response:
    # As a browser sends it: the CSRF token from the cookie, and a Referer.
    data = [*(data.items() if isinstance(data, dict) else data), ("csrfmiddlewaretoken", session.cookies["csrftoken"])]
    return session.post(url, data=data, headers={"Referer": url}, timeout=60)


def compose_and_submit(session: requests.Session, url: str, task_type: str) -> str:
    """Paste a payload into the composer, press "Submit to Scale"; the task page's URL."""
    payload = json.loads((FIXTURES / f"{task_type}.json").read_text())
    payload.pop("unique_id", None)  # a second run must not collide with the first
    payload.pop("project", None)  # the demo account has only the demo project; Scale refuses unknown ones
    compose_url = f"{url}/compose/{task_type}/"
    page = session.get(compose_url, timeout=30)
    assert page.status_code == 200
    # The sandbox, like Scale, takes only projects that exist: the demo workspace's
    # own, which the empty composer shows.
    payload["project"] = dict(form_fields(page.text, "compose-form"))["project"]
    assert payload["project"], "the demo workspace has a default project"
    filled = post(session, compose_url, {"action": "import", "import_json": json.dumps(payload)})
    assert filled.status_code == 200, filled.text[:2000]
    fields = [(k, v) for k, v in form_fields(filled.text, "compose-form") if k != "action"]
    submitted = post(session, compose_url, [*fields, ("action", "submit")])
    assert submitted.status_code == 200
    assert re.search(r"/tasks/[0-9a-f-]{36}/$", submitted.url), (
        f"{task_type}: the submit did not lead to the task page:\n{submitted.text[:3000]}"
    )
    return submitted.url


def status_on_page(session: requests.Session, task_url: str) -> str:
    page = session.get(task_url, timeout=30)
    assert page.status_code == 200
    return re.search(r'id="task-status">([^<]*)<', page.text).group(1)


def test_make_run_does_the_whole_loop_and_sigint_or_sigterm_leaves_nothing(fresh_clone, tmp_path):
    # First run: a person's first minutes, then Ctrl-C.
    with make_run(fresh_clone, tmp_path / "run-1.log") as launch:
        url = launch.wait_running()
        session = sign_in(url, launch.output())
        task_urls = {t: compose_and_submit(session, url, t) for t in TASK_TYPES}
        for task_type, task_url in task_urls.items():
            wait_until(
                lambda u=task_url: status_on_page(session, u) in {"completed", "error", "failed", "canceled"},
                timeout=180,
                interval=1,
                message=f"the {task_type} task to finish",
            )
            assert status_on_page(session, task_url) == "completed", launch.output()[-5000:]
        table = session.get(f"{url}/tasks/", timeout=30)
        assert table.status_code == 200
        # The completion emails, printed on the console (no SMTP configured): one
        # per task, to the demo user, linking to the task's page.
        codes = [u.rstrip("/").rsplit("/", 1)[1].replace("-", "") for u in task_urls.values()]
        wait_until(
            lambda: all(any(u in e for e in completion_emails(launch.output())) for u in task_urls.values()),
            timeout=120,
            interval=1,
            message="a completion email per task in the console output",
        )
        assert all("To: demo@localhost" in e for e in completion_emails(launch.output()))
        launch.stop(signal.SIGINT, to_group=True)
    # What a new user reads in the terminal: no errors, no tracebacks, no emails
    # chopped into "WARNING celery.redirected" lines, no screen of Celery banner.
    console = launch.output()
    noises = ("Traceback", " ERROR ", "celery.redirected", "[tasks]", "-------------- celery@", "This is a development")
    for noise in noises:
        assert noise not in console, f"{noise!r} in the console of `make run`:\n{console[-5000:]}"

    # Second run: the same clone and data; `kill PID` (SIGTERM to make).
    with make_run(fresh_clone, tmp_path / "run-2.log") as launch:
        url = launch.wait_running()
        session = sign_in(url, launch.output())
        table = session.get(f"{url}/tasks/", timeout=30).text
        assert all(c in table.replace("-", "") for c in codes), "the first run's tasks are listed"
        launch.stop(signal.SIGTERM, to_group=False)


def completion_emails(console: str) -> list[str]:
    """The "Completed" emails the console backend printed, each from its Subject line on."""
    # Long headers are folded onto continuation lines: unfold them first.
    emails = re.split(r"(?m)^Subject: ", re.sub(r"\r?\n[ \t]+", " ", console))[1:]
    return [e for e in emails if e.startswith("Completed")]
