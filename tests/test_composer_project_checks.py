"""The task's project at Scale, asked about when the task leaves labels or geometries to it
(annotator/composer/project_checks.py): through the composer's preview and check endpoint,
against the sandbox over real HTTP, and read from project objects shaped as Scale documents them."""

from __future__ import annotations

import pytest

from annotator.composer import project_checks
from annotator.submission import pipeline
from tests import support

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sandbox(live_server, users, settings):
    settings.SITE_URL = live_server.url
    ws = users.ws_a
    ws.set_api_key("project-check-key")
    ws.save()
    account = support.sandbox_account("project-check-key", ws.callback_auth_key, projects=("bare", "labelled"))
    labelled = account.projects.get(name="labelled")
    labelled.param_history = [
        {"version": 0, "created_at": "2026-11-01T00:00:00Z", "instruction": "Old"},
        {"version": 1, "created_at": "2026-12-01T00:00:00Z", "labels": ["car", "road"]},
    ]
    labelled.save()
    return ws


def preview(client, project: str) -> str:
    form = {"attachment": "https://example.org/street.png", "project": project}
    return client.post("/compose/segmentannotation/preview/", form).content.decode()


def test_the_preview_asks_about_the_project_then_says_what_scale_will_do(alice_client, sandbox, users):
    # Before the check: the rule's own warning, and the project queued for the browser to ask.
    page = preview(alice_client, "bare")
    assert "Scale takes it from the params of project &quot;bare&quot;" in page
    assert "[&quot;project&quot;, &quot;bare&quot;]" in page and "checking…" in page

    answer = alice_client.get("/compose/media-check/", {"kind": "project", "url": "bare"})
    assert answer.status_code == 200
    assert answer.json()["found"] is True and answer.json()["params"] == []

    page = preview(alice_client, "bare")
    assert "project &quot;bare&quot; does not define it either" in page and "Scale will refuse this task" in page
    # Shown apart from the "Scale may accept" warnings, and not called Valid; still not an error
    # (the project may get its labels before the task is sent).
    assert "Scale will refuse this task as it stands" in page and 'id="preview-refusals"' in page
    assert "✓ Valid" not in page and "Scale will refuse it." in page
    assert 'id="preview-errors"' not in page
    assert "[&quot;project&quot;, &quot;bare&quot;]" not in page  # asked once: not pending any more

    # "Validate only" says the same, not "Valid" (found by a new user's walk).
    form = {"attachment": "https://example.org/street.png", "project": "bare", "action": "validate"}
    validated = alice_client.post("/compose/segmentannotation/", form).content.decode()
    assert "Scale will refuse it (see below). Nothing was created." in validated
    assert "Valid: Scale's rules find nothing wrong" not in validated
    assert 'id="validate-refusals"' in validated

    # The sandbox agrees with the warning: the task is refused for the labels the project lacks.
    task = pipeline.create_task(sandbox, users.alice, "segmentannotation",
                                {"attachment": "https://example.org/street.png", "project": "bare"})  # fmt: skip
    from annotator.submission.submitter import submit

    submit(task.id)
    task.refresh_from_db()
    assert task.state == "failed" and "labels" in task.last_error


def test_a_project_that_defines_the_labels_takes_the_warning_away(alice_client, sandbox, users):
    alice_client.get("/compose/media-check/", {"kind": "project", "url": "labelled"})
    page = preview(alice_client, "labelled")
    assert "Scale takes it from the params" not in page and "refuse" not in page
    assert "its params (version 1) define labels." in page  # the checks list says what it found
    # And the sandbox agrees: the task gets the project's labels and is accepted.
    from annotator.submission.submitter import submit

    task = pipeline.create_task(sandbox, users.alice, "segmentannotation",
                                {"attachment": "https://example.org/street.png", "project": "labelled"})  # fmt: skip
    submit(task.id)
    task.refresh_from_db()
    assert task.state == "submitted" and task.scale_task_id


def test_an_unknown_project_is_named_as_unknown(alice_client, sandbox):
    answer = alice_client.get("/compose/media-check/", {"kind": "project", "url": "no-such-project"})
    assert answer.json()["found"] is False
    page = preview(alice_client, "no-such-project")
    assert "Scale has no project &quot;no-such-project&quot; for this workspace&#x27;s API key" in page


def test_a_workspace_without_a_key_is_not_asked_and_keeps_the_rules_warning(alice_client, users, live_server, settings):
    settings.SITE_URL = live_server.url
    answer = alice_client.get("/compose/media-check/", {"kind": "project", "url": "street"})
    assert answer.status_code == 200 and "no API key yet" in answer.json()["problem"]
    page = preview(alice_client, "street")
    assert "Scale takes it from the params of project &quot;street&quot;" in page


@pytest.mark.parametrize(
    ("project", "found", "params", "version"),
    [
        # Scale's documented shape (create/get project): param_history entries carry the params.
        (
            {
                "type": "segmentannotation",
                "name": "p",
                "param_history": [
                    {"instruction": "Label", "version": 0, "created_at": "2021-01-01T00:00:00.000Z"},
                    {"instruction": "Label", "labels": ["car"], "version": 1, "created_at": "2021-02-01T00:00:00.000Z"},
                ],
            },
            True,
            ("instruction", "labels"),
            1,
        ),
        ({"name": "p", "param_history": []}, True, (), None),
        ({"name": "p"}, True, (), None),
        ({"name": "p", "param_history": [{"version": "x", "labels": None}, "junk"]}, True, (), None),
    ],
)
def test_project_objects_are_read_by_their_latest_params(project, found, params, version):
    info = project_checks.read("p", project)
    assert (info.found, info.params, info.version) == (found, params, version)
