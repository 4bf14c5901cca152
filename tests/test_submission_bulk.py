"""Bulk submission: the dry run, the group, the pages and the command line."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import transaction

from annotator.submission import bulk
from annotator.tasks.models import SubmissionGroup, Task, TaskEvent
from tests import test_submission_reliability as reliability
from tests.support import wait_until

sandbox_ws = reliability.sandbox_ws  # the fixture, shared

CSV = (
    b"attachment,metadata.frame,tags,priority,metadata\n"
    b'https://example.org/f/1.png,1,"a,b",,\n'
    b'https://example.org/f/2.png,2,,,"{""camera"": ""left""}"\n'
    b",3,,,\n"
    b"https://example.org/f/4.png,4,a b c d e f,,\n"
    b"https://example.org/f/5.png,5,,abc,\n"
)


@pytest.fixture
def template(users):
    from annotator.composer.models import TaskTemplate

    return TaskTemplate.objects.create(
        workspace=users.ws_a,
        name="Streets",
        task_type="segmentannotation",
        payload={"labels": ["road", "car"], "project": "streets", "metadata": {"source": "template"}},
    )


def test_a_dry_run_lists_every_row_error_and_creates_nothing(users, template):
    plan = bulk.plan(users.ws_a, template, CSV, "rows.csv", keep_payloads=True)
    assert plan.file_format == "csv"
    assert [r.number for r in plan.valid_rows] == [1, 2]
    errors = {(e.row, e.path) for e in plan.errors}
    assert (3, "attachment") in errors
    assert (4, "tags") in errors  # six tags: Scale allows five
    assert (5, "priority") in errors
    assert not Task.objects.exists()
    first, second = plan.valid_rows
    assert first.payload["metadata"] == {"source": "template", "frame": "1"}
    assert first.payload["tags"] == ["a", "b"]
    assert second.payload["metadata"] == {"source": "template", "camera": "left", "frame": "2"}
    assert first.payload["callback_url"] == users.ws_a.callback_url
    assert first.unique_id != second.unique_id


def test_it_reads_json_lines_and_pasted_urls(users, template):
    jsonl = b'{"attachment": "https://example.org/a.png", "unique_id": "mine-1", "priority": 20}\nnot json\n[1]\n'
    plan = bulk.plan(users.ws_a, template, jsonl, "rows.jsonl")
    assert [r.unique_id for r in plan.valid_rows] == ["mine-1"]
    assert [(e.row, e.message[:14]) for e in plan.errors] == [(2, "not valid JSON"), (3, "each line must")]
    urls = bulk.plan(
        users.ws_a, template, b"https://example.org/a.png\n\nhttps://example.org/b.png\n", keep_payloads=True
    )
    assert urls.file_format == "urls"
    assert [r.payload["attachment"] for r in urls.valid_rows] == [
        "https://example.org/a.png",
        "https://example.org/b.png",
    ]


def test_an_unknown_column_or_an_empty_file_is_refused_as_a_whole(users, template):
    with pytest.raises(bulk.FileError, match="Unknown column"):
        bulk.plan(users.ws_a, template, b"attachment,colour\nhttps://x.org/a.png,red\n", "a.csv")
    with pytest.raises(bulk.FileError, match="no rows"):
        bulk.plan(users.ws_a, template, b"attachment\n", "a.csv")


def test_a_repeated_unique_id_in_one_file_is_an_error_on_the_second_row(users, template):
    rows = b"attachment,unique_id\nhttps://x.org/a.png,same\nhttps://x.org/b.png,same\n"
    plan = bulk.plan(users.ws_a, template, rows, "a.csv")
    assert [(e.row, e.path) for e in plan.errors] == [(2, "unique_id")]


def test_the_same_file_twice_creates_nothing_the_second_time(users, template, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        group = bulk.submit_plan(bulk.plan(users.ws_a, template, CSV, "rows.csv"), users.alice)
    assert len(callbacks) == 1  # one job publishes the rows' messages
    assert group.total == 2
    assert Task.objects.filter(group=group, state=Task.State.QUEUED).count() == 2
    assert TaskEvent.objects.filter(task__group=group, kind=TaskEvent.Kind.COMPOSED).count() == 2
    again = bulk.plan(users.ws_a, template, CSV, "rows.csv")
    assert again.already_count == 2
    assert again.valid_rows == []
    with pytest.raises(bulk.NothingToSubmit):
        bulk.submit_plan(again, users.alice)
    assert Task.objects.count() == 2


def test_ten_thousand_rows_dry_run_and_become_ten_thousand_tasks(users, template):
    # Correctness at size only: how fast is measured in bench/ (bench_upload.py,
    # bench_submission.py), not asserted here, where the machine's load decides.
    rows = "attachment,metadata.n\n" + "".join(f"https://example.org/f/{i}.png,{i}\n" for i in range(10_000))
    plan = bulk.plan(users.ws_a, template, rows.encode(), "big.csv")
    assert len(plan.valid_rows) == 10_000
    group = bulk.submit_plan(plan, users.alice)
    assert Task.objects.filter(group=group).count() == 10_000
    last = Task.objects.get(group=group, payload__attachment="https://example.org/f/9999.png")
    assert last.payload["metadata"]["n"] == "9999"  # a CSV cell is text


def test_the_upload_page_dry_runs_then_confirms_into_a_group(alice_client, users, template):
    page = alice_client.get("/submit/")
    assert page.status_code == 200
    assert b"Streets" in page.content
    upload = SimpleUploadedFile("rows.csv", CSV, content_type="text/csv")
    response = alice_client.post("/submit/", {"template": template.code, "file": upload, "name": "May frames"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Dry run" in html
    assert 'id="row-errors"' in html
    assert "is required for segmentannotation" in html
    assert "Submit 2 tasks" in html
    assert not Task.objects.exists()
    plan = bulk.plan(users.ws_a, template, CSV, "rows.csv")
    confirm = {"sha256": plan.sha256, "format": "csv", "template": template.code, "name": "May frames"}
    response = alice_client.post("/submit/confirm/", confirm)
    group = SubmissionGroup.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/submit/groups/{group.code}/"
    assert group.name == "May frames"
    assert Task.objects.filter(group=group).count() == 2
    # The same file again: shown as already submitted, and confirming creates nothing.
    upload = SimpleUploadedFile("rows.csv", CSV, content_type="text/csv")
    html = alice_client.post("/submit/", {"template": template.code, "file": upload}).content.decode()
    assert 'id="already-submitted"' in html
    alice_client.post("/submit/confirm/", confirm)
    assert Task.objects.count() == 2


def test_pasted_urls_work_and_a_form_without_input_says_what_is_missing(alice_client, users, template):
    html = alice_client.post("/submit/", {"template": template.code}).content.decode()
    assert "Choose a file or paste URLs" in html
    html = alice_client.post("/submit/", {"template": template.code, "urls": "https://x.org/a.png\n"}).content.decode()
    assert "Submit 1 task" in html
    assert "<dt>Format</dt><dd>pasted URLs, one per line</dd>" in html  # it read "URLS"


def test_the_progress_page_polls_until_done_then_stops(alice_client, users, template):
    group = bulk.submit_plan(bulk.plan(users.ws_a, template, CSV, "rows.csv"), users.alice)
    html = alice_client.get(f"/submit/groups/{group.code}/").content.decode()
    assert 'hx-trigger="every 1s"' in html
    assert '<progress max="2" value="0"' in html
    first, second = Task.objects.filter(group=group).order_by("id")
    Task.objects.filter(id=first.id).update(state=Task.State.SUBMITTED)
    partial = alice_client.get(f"/submit/groups/{group.code}/", headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert "<html" not in partial.content.decode()
    Task.objects.filter(id=second.id).update(state=Task.State.FAILED, last_error="Invalid attachment: 404")
    partial = alice_client.get(f"/submit/groups/{group.code}/", headers={"HX-Request": "true"})
    assert partial.status_code == 286  # htmx stops polling
    html = partial.content.decode()
    assert "hx-trigger" not in html
    assert "Invalid attachment: 404" in html
    assert 'data-count="failed">1<' in html


def test_the_command_line_dry_run_prints_row_errors(users, template, tmp_path):
    path = tmp_path / "rows.csv"
    path.write_bytes(CSV)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command(
            "submit_tasks", str(path), template="Streets", workspace="Team A", dry_run=True, stdout=out, stderr=err
        )
    assert exited.value.code == 1
    assert "row 3: attachment: is required for segmentannotation" in err.getvalue()
    assert "5 rows: 2 ready, 3 with errors, 0 already submitted" in out.getvalue()
    assert not Task.objects.exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_command_line_submits_and_waits_with_a_progress_bar(sandbox_ws, users, live_server, tmp_path):
    from annotator.composer.models import TaskTemplate
    from annotator.sandbox.models import SandboxAccount, SandboxBatch, SandboxTask, ensure_project

    ensure_project(SandboxAccount.objects.get(api_key=reliability.API_KEY), "streets")  # Scale wants it first
    TaskTemplate.objects.create(
        workspace=sandbox_ws,
        name="Streets",
        task_type="segmentannotation",
        payload={"labels": ["road"], "project": "streets"},
    )
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"attachment": f"https://example.org/{i}.png"}) + "\n" for i in range(20)))
    worker = reliability.submitting_worker(live_server, concurrency=4).start()
    out = io.StringIO()
    try:
        call_command(
            "submit_tasks",
            str(path),
            template="Streets",
            workspace="Team A",
            wait=True,
            batch="may-run",
            finalize=True,
            stdout=out,
        )
        wait_until(lambda: SubmissionGroup.objects.filter(batch_finalized_at__isnull=False).exists(), timeout=20)
    finally:
        worker.stop()
    assert "[##############################] 20/20" in out.getvalue()
    assert SandboxTask.objects.filter(batch="may-run").count() == 20
    assert SandboxBatch.objects.get(name="may-run").status == "in_progress"  # finalized: work started


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_row_scale_refuses_fails_at_once_and_its_reason_is_on_the_pages(sandbox_ws, users, live_server, client):
    from annotator.composer.models import TaskTemplate

    template = TaskTemplate.objects.create(
        workspace=sandbox_ws, name="Streets", task_type="segmentannotation", payload={"labels": ["road"]}
    )
    worker = reliability.submitting_worker(live_server, concurrency=2).start()
    try:
        with transaction.atomic():
            group = bulk.submit_plan(
                bulk.plan(sandbox_ws, template, b"https://x.org/a.png\nhttps://x.org/b.png\n"), users.alice
            )
            # Scale refuses what our rules let through (here: a payload changed behind the dry run's back).
            bad = Task.objects.filter(group=group).order_by("id").first()
            Task.objects.filter(id=bad.id).update(payload={**bad.payload, "labels": [["road"]]})
        wait_until(lambda: bulk.progress(group).done, timeout=30)
    finally:
        worker.stop()
    bad.refresh_from_db()
    assert bad.state == Task.State.FAILED
    assert bad.attempts == 1
    assert "labels" in bad.last_error
    client.force_login(users.alice)
    html = client.get(f"/submit/groups/{group.code}/").content.decode()
    assert 'data-count="submitted">1<' in html
    assert bad.last_error in html.replace("&quot;", '"').replace("&#x27;", "'")
    task_page = client.get(f"/tasks/{bad.code}/")
    if task_page.status_code == 200:  # the task page belongs to another area
        assert "labels" in task_page.content.decode()
