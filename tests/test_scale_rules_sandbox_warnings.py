"""The sandbox now creates what the rules only warn about; such a task must also complete and
be read back without a 500 (its results are made from whatever shapes the payload has)."""

from __future__ import annotations

import base64
import json

import pytest

from annotator import scale_rules
from tests.test_scale_rules_violations import VIOLATIONS, violated

KEY = "test_warnings_key"
# Limits of the sandbox's own storage and parser, answered with a clear 400.
STORAGE_GUARDS = {
    "unique_id.too_long": "unique_id: at most 1,024 characters in the sandbox",
    "labels.too_deep": "nested too deeply",
}
WARNING_CODES = sorted(code for code in VIOLATIONS if scale_rules.RULES_BY_CODE[code].severity == "warning")


@pytest.fixture
def sandbox_client(client, db, settings):
    from annotator.sandbox.models import SandboxAccount

    settings.SANDBOX_COMPLETE_AFTER = 0  # due at once: reading the task completes it
    settings.SANDBOX_FAULTS = ""
    SandboxAccount.objects.ensure(KEY, "callback-secret-warnings")
    token = base64.b64encode(f"{KEY}:".encode()).decode()
    client.defaults["HTTP_AUTHORIZATION"] = f"Basic {token}"
    return client


def test_there_are_warning_cases_to_try():
    assert len(WARNING_CODES) >= 30


@pytest.mark.parametrize("code", WARNING_CODES)
def test_a_task_with_only_warnings_is_created_completed_and_read_back(sandbox_client, code):
    task_type, payload, path = violated(code)
    findings = scale_rules.validate(task_type, payload)
    assert (code, path) in [(f.code, f.path) for f in findings]
    assert scale_rules.errors(findings) == [], [str(f) for f in findings]
    if code == "param.project_defined":
        # The labels are the project's: create it with them, as its owner would have.
        body = {"type": task_type, "name": payload["project"], "params": {"labels": ["road", "car"]}}
        made = sandbox_client.post("/sandbox/v1/projects", json.dumps(body), content_type="application/json")
        assert made.status_code == 200, made.content[:300]
        payload.pop("batch", None)
    else:
        # The sandbox answers 400 for a project or batch the account lacks, as Scale does;
        # they are not what this test is about.
        payload.pop("project", None)
        payload.pop("batch", None)
    created = sandbox_client.post(f"/sandbox/v1/task/{task_type}", json.dumps(payload), content_type="application/json")
    if code in STORAGE_GUARDS:
        # What the sandbox itself can hold, not a Scale rule: a clear 400, never a 500.
        assert created.status_code == 400 and STORAGE_GUARDS[code] in created.json()["error"]
        return
    assert created.status_code == 200, created.content[:500]
    task_id = created.json()["task_id"]
    read = sandbox_client.get(f"/sandbox/v1/task/{task_id}")
    assert read.status_code == 200, read.content[:500]
    assert read.json()["status"] in ("completed", "error")
