"""What a new user's machine gets: a clean clone, a venv built by the Makefile from
requirements.txt (+ requirements-local.txt when no redis-server is on PATH) alone,
and `make run` started through make, in its own session, as a person starts it.

The developers' venv must not leak in: the clone gets an environment with none of
our variables, a PATH without any virtualenv, and its own venv without system site
packages. One venv is built per module and shared by every test here.

Deselect with `-m "not fresh_install"`; `make test` and `.ci/run` run it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

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
