from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _django(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "FERNET_KEYS", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        check=False,
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_refuses_to_start_on_an_unparseable_boolean():
    result = _django({"DEBUG": "maybe"}, "check")
    assert result.returncode != 0
    assert "DEBUG must be true or false (got 'maybe')" in result.stderr


def test_it_refuses_to_start_on_an_unparseable_number():
    result = _django({"LOGIN_FAILURE_LIMIT": "five"}, "check")
    assert result.returncode != 0
    assert "LOGIN_FAILURE_LIMIT must be a whole number (got 'five')" in result.stderr


def test_it_refuses_to_start_in_production_without_a_fernet_key():
    result = _django({"DEBUG": "false", "SECRET_KEY": "x" * 60, "ALLOWED_HOSTS": "example.org"}, "check")
    assert result.returncode != 0
    assert "FERNET_KEYS must be set when DEBUG is false" in result.stderr


def test_it_passes_the_deployment_checklist_in_production_mode():
    from cryptography.fernet import Fernet

    env = {
        "DEBUG": "false",
        "SECRET_KEY": "k3J9!" * 12,
        "FERNET_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "annotator.example.org",
    }
    result = _django(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_reads_secrets_from_files(tmp_path):
    from cryptography.fernet import Fernet

    key_file = tmp_path / "fernet"
    key_file.write_text(Fernet.generate_key().decode() + "\n")
    env = {"DEBUG": "false", "SECRET_KEY": "k3J9!" * 12, "FERNET_KEYS_FILE": str(key_file), "ALLOWED_HOSTS": "x.org"}
    result = _django(env, "check")
    assert result.returncode == 0, result.stderr


def test_sqlite_runs_in_wal_mode_with_immediate_transactions(db):
    from django.db import connection

    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
