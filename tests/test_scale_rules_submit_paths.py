"""Warnings never block a submit, on every path that submits: the composer, the bulk
upload page, `manage.py submit_tasks`, and the sandbox's own create (which, like Scale,
refuses only what Scale refuses)."""

from __future__ import annotations

import io
import json

import pytest
import scaleapi
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from scaleapi.exceptions import ScaleInvalidRequest
from scaleapi.tasks import TaskType

from annotator.submission import bulk
from annotator.tasks.models import Task

KEY = "test_rules_paths_key"


@pytest.fixture
def template(users):
    from annotator.composer.models import TaskTemplate

    # `pipeline_stage` is no documented parameter: a warning on every row, sent as it is.
    return TaskTemplate.objects.create(
        workspace=users.ws_a,
        name="Fleet",
        task_type="segmentannotation",
        payload={"labels": ["road", "car"], "project": "fleet", "pipeline_stage": "night"},
    )


ROWS = (
    b"attachment,tags\n"
    b"s3://fleet-frames/2024/05/0001.png,a\n"
    b"gs://fleet-frames/0002.png,\n"
    b"scaledata://5f1e0c6a9d2b7c0011a1b2c3/0003.png,\n"
    b"ftp://example.org/0004.png,\n"
    b'https://example.org/0005.png,"a,b,c,d,e,f"\n'
)


def test_the_bulk_dry_run_lists_warnings_apart_and_they_do_not_block(users, template):
    plan = bulk.plan(users.ws_a, template, ROWS, "rows.csv", keep_payloads=True)
    assert [r.number for r in plan.valid_rows] == [1, 2, 3, 4]
    assert [(e.row, e.path) for e in plan.errors] == [(5, "tags")]  # six tags: Scale refuses
    warnings = {(w.path, tuple(w.rows)) for w in plan.warnings}
    # The template's unknown parameter: listed once with every row that has it.
    assert ("pipeline_stage", (1, 2, 3, 4, 5)) in warnings
    assert ("attachment", (4,)) in warnings  # ftp:// is not a scheme Scale reads
    assert plan.warned_row_count == 4
    assert plan.valid_rows[0].payload["pipeline_stage"] == "night"  # sent unchanged


def test_the_upload_page_shows_the_warnings_and_submits_those_rows(alice_client, users, template):
    upload = SimpleUploadedFile("rows.csv", ROWS, content_type="text/csv")
    html = alice_client.post("/submit/", {"template": template.code, "file": upload}).content.decode()
    assert 'id="row-warnings"' in html
    assert "&#x27;pipeline_stage&#x27; is not a documented parameter of segmentannotation" in html
    assert "1, 2, 3, 4, 5" in html
    assert "Ready, with warnings</dt><dd>4<" in html
    assert "Submit 4 tasks" in html
    plan = bulk.plan(users.ws_a, template, ROWS, "rows.csv")
    confirm = {"sha256": plan.sha256, "format": "csv", "template": template.code}
    assert alice_client.post("/submit/confirm/", confirm).status_code == 302
    sent = sorted(Task.objects.values_list("payload", flat=True), key=lambda p: p["attachment"])
    assert [p["attachment"] for p in sent] == [
        "ftp://example.org/0004.png",
        "gs://fleet-frames/0002.png",
        "s3://fleet-frames/2024/05/0001.png",
        "scaledata://5f1e0c6a9d2b7c0011a1b2c3/0003.png",
    ]


def test_a_file_of_storage_urls_is_read_as_a_list_of_urls(users, template):
    urls = b"s3://fleet-frames/a.png\ngs://fleet-frames/b.png\n"
    plan = bulk.plan(users.ws_a, template, urls, "frames.txt", keep_payloads=True)
    assert plan.file_format == "urls"
    assert [r.payload["attachment"] for r in plan.valid_rows] == ["s3://fleet-frames/a.png", "gs://fleet-frames/b.png"]


def test_the_command_line_prints_warnings_and_a_dry_run_with_only_warnings_succeeds(users, template, tmp_path):
    path = tmp_path / "rows.csv"
    path.write_bytes(ROWS.rsplit(b"\n", 2)[0] + b"\n")  # without the six-tag row
    out, err = io.StringIO(), io.StringIO()
    call_command("submit_tasks", str(path), template="Fleet", workspace="Team A", dry_run=True, stdout=out, stderr=err)
    assert "warning: pipeline_stage: 'pipeline_stage' is not a documented parameter" in err.getvalue()
    assert "(rows 1, 2, 3, 4)" in err.getvalue()
    assert "warning: attachment: Scale fetches http(s)://" in err.getvalue()
    assert "4 rows: 4 ready, 0 with errors" in out.getvalue()


@pytest.fixture
def ws(users):
    users.ws_a.default_project = "default-project"
    users.ws_a.save()
    return users.ws_a


def test_the_composer_submits_a_storage_url_with_warnings(alice_client, ws):
    form = {
        "callback_url": "https://hooks.example.org/scale",
        "attachment": "s3://fleet-frames/2024/05/0001.png",
        "labels_json": json.dumps(["car", "car"]),  # a repeated label: a warning only
        "action": "submit",
    }
    response = alice_client.post("/compose/segmentannotation/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    task = Task.objects.get()
    assert task.payload["attachment"] == "s3://fleet-frames/2024/05/0001.png"
    assert task.payload["labels"] == ["car", "car"]


def test_the_composer_still_blocks_what_scale_refuses(alice_client, ws):
    form = {"attachment": "s3://fleet-frames/0001.png", "labels_json": json.dumps(["car"]), "action": "submit"}
    form["tags_json"] = json.dumps(list("abcdef"))
    response = alice_client.post("/compose/segmentannotation/", form)
    assert response.status_code == 200
    assert "at most 5 tags are allowed (got 6)" in response.content.decode()
    assert not Task.objects.exists()


@pytest.fixture
def sdk(live_server, transactional_db, settings):
    from annotator.sandbox.models import SandboxAccount

    settings.SANDBOX_COMPLETE_AFTER = 3600
    settings.SANDBOX_FAULTS = ""
    SandboxAccount.objects.ensure(KEY, "callback-secret-rules")
    return scaleapi.ScaleClient(KEY, api_instance_url=f"{live_server.url}/sandbox/v1")


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_takes_what_scale_takes_and_refuses_what_scale_refuses(sdk):
    task = sdk.create_task(
        TaskType.SegmentAnnotation,
        attachment="s3://fleet-frames/2024/05/0001.png",
        labels=["road", "car", "road"],
        instance_labels=["car"],  # the 2019 form, still sent by production code
        pipeline_stage="night",  # undocumented: Scale keeps such parameters
        callback_url=None,  # the SDK sends unset keyword arguments as null
        unique_id=None,
    )
    assert task.as_dict()["status"] == "pending"
    with pytest.raises(ScaleInvalidRequest, match="at most 5 tags"):
        sdk.create_task(TaskType.SegmentAnnotation, attachment="s3://b/1.png", labels=["road"], tags=list("abcdef"))
    video = sdk.create_task(
        TaskType.VideoPlaybackAnnotation,
        attachment="scaledata://5f1e0c6a9d2b7c0011a1b2c3/drive",  # no extension, as in Scale's own example
        attachment_type="video",
        geometries={"box": {"objects_to_annotate": ["car"]}, "polygon": {"objects_to_annotate": ["car"]}},
        with_labels=True,
    )
    assert video.as_dict()["type"] == "videoplaybackannotation"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1280, 375])
@pytest.mark.usefixtures("users", "template")
def test_the_dry_run_warnings_read_well_in_a_browser(page, live_server, width):
    from tests import support
    from tests.conftest import login_in_browser

    page.set_viewport_size({"width": width, "height": 900})
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/submit/")
    page.set_input_files("#id_file", files=[{"name": "rows.csv", "mimeType": "text/csv", "buffer": ROWS}])
    page.click("text=Check every row")
    page.wait_for_selector("#row-warnings")
    warnings = page.locator("#row-warnings").text_content()
    assert "'pipeline_stage' is not a documented parameter of segmentannotation" in warnings
    assert "ftp://example.org/0004.png" in warnings
    assert page.locator("#valid-count").text_content() == "4"
    assert page.locator("#row-errors").text_content().count("at most 5 tags") == 1
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), "scrolls sideways"
    support.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(support.ARTIFACTS / f"bulk-dry-run-warnings-{width}.png"), full_page=True)
    assert page.js_errors == []


def test_a_unique_id_longer_than_the_dashboard_stores_is_a_clear_error_not_a_crash(alice_client, users, template):
    # Scale documents no limit (so the rules only warn past 1,024); our task table holds 255.
    long_id = "u" * 256
    plan = bulk.plan(users.ws_a, template, f"attachment,unique_id\nhttps://e.org/a.png,{long_id}\n".encode(), "a.csv")
    assert [(e.row, e.path, e.message) for e in plan.errors] == [
        (1, "unique_id", "is longer than the 255 characters this dashboard stores")
    ]
    form = {"attachment": "s3://b/a.png", "labels_json": json.dumps(["car"]), "unique_id": long_id, "action": "submit"}
    response = alice_client.post("/compose/segmentannotation/", form)
    assert response.status_code == 200
    assert "Ensure this value has at most 255 characters (it has 256)." in response.content.decode()
    assert not Task.objects.exists()
