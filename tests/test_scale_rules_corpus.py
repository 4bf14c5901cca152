"""A corpus of payloads nobody here wrote, each with the verdict Scale gives it.

tests/fixtures/scale/corpus/*.json: payloads public code sends to Scale (with the repository,
path and commit they come from), Scale's published examples (with the page), and payloads
derived from those by one change Scale's documentation refuses (with the entry they come
from). Every accepted one validates without an error, comes back unchanged through the
composer's import, and is created by the sandbox; every refused one is refused for its
reason, by the rules and by the sandbox.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from annotator import scale_rules

CORPUS = Path(__file__).parent / "fixtures" / "scale" / "corpus"
FILES = sorted(CORPUS.glob("*.json"))
ENTRIES = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in FILES}
ACCEPTED = [name for name, entry in ENTRIES.items() if entry["verdict"] == "accepted"]
REFUSED = [name for name, entry in ENTRIES.items() if entry["verdict"] == "refused"]


def slug(name: str) -> str:
    return name.split("-", 1)[1]


def test_the_corpus_is_large_varied_and_names_its_sources():
    assert len(ENTRIES) >= 40
    assert {entry["task_type"] for entry in ENTRIES.values()} == set(scale_rules.TASK_TYPES)
    assert len(ACCEPTED) >= 20 and len(REFUSED) >= 15
    slugs = {slug(name) for name in ENTRIES}
    kinds = set()
    for name, entry in ENTRIES.items():
        source = entry["_source"]
        kinds.add(source["kind"])
        assert entry["verdict"] in ("accepted", "refused") and entry["verdict_source"], name
        if source["kind"] == "code":
            assert source["repo"].count("/") == 1 and source["path"], name
            assert len(source["commit"]) == 40 and int(source["commit"], 16) >= 0, name
        elif source["kind"] == "docs":
            assert source["url"].startswith("https://"), name
        else:
            assert source["kind"] == "derived" and source["from"] in slugs and source["note"], name
            assert entry["verdict"] == "refused", name  # derived entries only show a documented refusal
    assert kinds == {"code", "docs", "derived"}


@pytest.mark.parametrize("name", ACCEPTED)
def test_every_accepted_payload_validates_without_an_error(name):
    entry = ENTRIES[name]
    findings = scale_rules.validate(entry["task_type"], entry["payload"])
    assert scale_rules.errors(findings) == [], [str(f) for f in findings]


@pytest.mark.parametrize("name", REFUSED)
def test_every_refused_payload_is_refused_for_its_reason(name):
    entry = ENTRIES[name]
    assert scale_rules.RULES_BY_CODE[entry["refused_for"]].severity == "error"
    errors = scale_rules.errors(scale_rules.validate(entry["task_type"], entry["payload"]))
    assert (entry["refused_for"], entry["refused_at"]) in [(e.code, e.path) for e in errors], [str(e) for e in errors]


@pytest.mark.parametrize("name", ACCEPTED)
def test_every_accepted_payload_comes_back_unchanged_through_the_import(name):
    from annotator.composer.compose import compose
    from annotator.composer.importing import import_payload, same

    entry = ENTRIES[name]
    imported = import_payload(entry["task_type"], entry["payload"])
    composition = compose(entry["task_type"], imported.data)
    again = composition.payload
    assert json.dumps(again, ensure_ascii=False) == json.dumps(entry["payload"], ensure_ascii=False)
    assert same(again, entry["payload"])
    # And the composer lets it be submitted: warnings at most.
    assert composition.is_valid, [str(issue) for issue in composition.issues]


KEY = "test_corpus_key"


@pytest.fixture
def sandbox_client(client, db, settings):
    from annotator.sandbox.models import SandboxAccount, SandboxBatch, SandboxProject, ensure_project

    settings.SANDBOX_COMPLETE_AFTER = 3600
    settings.SANDBOX_FAULTS = ""
    account = SandboxAccount.objects.ensure(KEY, "callback-secret-corpus")
    # As at Scale, the projects and the batch the payloads name exist, and the project the
    # project-only examples rely on defines their labels.
    ensure_project(account, "Project Name")
    SandboxBatch.objects.create(account=account, name="Batch Name", project="Project Name", status="in_progress")
    SandboxProject.objects.create(
        account=account,
        name="kitten_labeling",
        task_type="segmentannotation",
        param_history=[{"labels": ["car", {"choice": "person", "instance_label": True}, "kitten"], "version": 0}],
    )
    token = base64.b64encode(f"{KEY}:".encode()).decode()
    client.defaults["HTTP_AUTHORIZATION"] = f"Basic {token}"
    return client


# The project params Scale's segmentation-hypothesis page shows for its example; the
# "project only" entries leave their labels to this project.
PROJECT_PARAMS = {"kitten_labeling": {"labels": [{"choice": "car"}, {"choice": "person", "instance_label": True}]}}


def _account_like_theirs(client) -> None:
    """The projects and batches the payloads name, as their authors' Scale accounts had them."""
    projects: dict[str, str] = {}
    batches: dict[str, str] = {}
    for entry in ENTRIES.values():
        payload = entry["payload"]
        if isinstance(payload.get("project"), str):
            projects[payload["project"]] = entry["task_type"]
            if isinstance(payload.get("batch"), str):
                batches[payload["batch"]] = payload["project"]
    for project, task_type in projects.items():
        params = PROJECT_PARAMS.get(project, {})
        body = {"type": task_type, "name": project, "params": params}
        response = client.post("/sandbox/v1/projects", json.dumps(body), content_type="application/json")
        if response.status_code == 409:  # the sandbox account comes with some projects: set their params
            url = f"/sandbox/v1/projects/{project}/setParams"
            response = client.post(url, json.dumps(params), content_type="application/json")
        assert response.status_code == 200, response.content[:300]
    for batch, project in batches.items():
        body = {"project": project, "name": batch}
        response = client.post("/sandbox/v1/batches", json.dumps(body), content_type="application/json")
        assert response.status_code in (200, 409), response.content[:300]  # 409: the account has it already


def test_the_sandbox_creates_every_accepted_payload_and_refuses_every_refused_one(sandbox_client):
    from annotator.sandbox.models import SandboxTask

    _account_like_theirs(sandbox_client)
    for name, entry in ENTRIES.items():
        payload = dict(entry["payload"])
        if isinstance(payload.get("unique_id"), str):
            # The documentation's examples share unique_id "unique_id": a second one is a 409.
            payload["unique_id"] += f"-{name}"
        response = sandbox_client.post(
            f"/sandbox/v1/task/{entry['task_type']}", json.dumps(payload), content_type="application/json"
        )
        body = response.json()
        if entry["verdict"] == "accepted":
            assert response.status_code == 200, (name, body)
            assert body["type"] == entry["task_type"]
        else:
            assert response.status_code == 400, (name, body)
            assert f"{entry['refused_at']}:" in body["error"], (name, body)
    assert SandboxTask.objects.count() == len(ACCEPTED)
