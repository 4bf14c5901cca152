"""The task page: timeline, payload, response, live refresh, result files for members only."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from annotator.tasks.models import ResultFile, SubmissionAttempt
from tests.test_callbacks_receiver import fixture, make_task
from tests.test_callbacks_transitions import deliver


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_it_shows_the_timeline_payload_and_response(alice_client, users):
    task = make_task(users.ws_a, users.alice, payload={"attachment": "https://x/street.png", "labels": ["road"]})
    SubmissionAttempt.objects.create(
        task=task, started_at=timezone.now(), duration_ms=87, status_code=503, outcome="temporary", error="Busy"
    )
    SubmissionAttempt.objects.create(
        task=task, started_at=timezone.now(), duration_ms=120, status_code=200, outcome="created"
    )
    deliver(users.ws_a, fixture("callback-segmentannotation-completed.json"))
    page = alice_client.get(f"/tasks/{task.code}/").content.decode()
    assert "HTTP 503" in page and "87 ms" in page and "Busy" in page and "HTTP 200" in page
    assert "Callback: completed (pending → completed)" in page
    assert "<summary>Raw body</summary>" in page and "street-segmentation-2026-05-02" in page  # the raw body
    assert "pending → completed" in page
    assert "https://x/street.png" in page  # the payload sent
    assert "labelMapping" in page  # the response received


def test_the_live_part_keeps_polling_until_the_task_is_final(alice_client, users):
    task = make_task(users.ws_a, users.alice)
    live = alice_client.get(f"/tasks/{task.code}/?live=1", HTTP_HX_REQUEST="true")
    assert live.status_code == 200 and 'hx-trigger="every 3s"' in live.content.decode()
    deliver(
        users.ws_a,
        fixture("callback-task-error.json")
        | {
            "task_id": task.scale_task_id,
            "task": {**fixture("callback-task-error.json")["task"], "task_id": task.scale_task_id},
        },
    )
    final = alice_client.get(f"/tasks/{task.code}/?live=1", HTTP_HX_REQUEST="true")
    assert final.status_code == 286  # htmx swaps it in and stops polling
    page = final.content.decode()
    assert "hx-trigger" not in page and "status-error" in page and "could not be downloaded" in page


def test_a_completed_task_keeps_polling_until_its_results_are_copied(alice_client, users):
    task = make_task(users.ws_a, users.alice)
    deliver(users.ws_a, fixture("callback-segmentannotation-completed.json"))
    assert alice_client.get(f"/tasks/{task.code}/?live=1", HTTP_HX_REQUEST="true").status_code == 200
    ResultFile.objects.create(task=task, name="indexedImage", source_url="x", path="", error="gone")
    assert alice_client.get(f"/tasks/{task.code}/?live=1", HTTP_HX_REQUEST="true").status_code == 286


def test_another_workspace_cannot_see_the_page_or_the_files(client, users, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    task = make_task(users.ws_a, users.alice)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "m.png").write_bytes(b"\x89PNG fake")
    ResultFile.objects.create(task=task, name="mask", source_url="x", path="results/m.png", content_type="image/png")
    client.force_login(users.charlie)
    assert client.get(f"/tasks/{task.code}/").status_code == 404
    assert client.get(f"/tasks/{task.code}/results/mask").status_code == 404
    client.force_login(users.bob)
    response = client.get(f"/tasks/{task.code}/results/mask")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"\x89PNG fake"
    assert response["Content-Type"] == "image/png" and response["X-Content-Type-Options"] == "nosniff"
    assert client.get(f"/tasks/{task.code}/results/nothing").status_code == 404


def test_the_viewer_gets_the_mask_and_a_legend_from_label_mapping(alice_client, users, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    task = make_task(users.ws_a, users.alice)
    deliver(users.ws_a, fixture("callback-segmentannotation-completed.json"))
    ResultFile.objects.create(task=task, name="mask", source_url="x", path="results/x/mask.png")
    page = alice_client.get(f"/tasks/{task.code}/").content.decode()
    start = page.index('<script id="viewer-data" type="application/json">') + len(
        '<script id="viewer-data" type="application/json">'
    )
    data = json.loads(page[start : page.index("</script>", start)])
    assert data["kind"] == "segmentation"
    assert data["mask"] == f"/tasks/{task.code}/results/mask"
    assert [(label["name"], label["index"]) for label in data["labels"]] == [
        ("road", 1),
        ("vegetation", 2),
        ("sky", 3),
        ("car #1", 4),
        ("car #2", 5),
    ]
    assert page.count('type="checkbox" checked data-index=') == 5  # one toggle per label


def test_times_under_a_minute_read_just_now_and_labels_are_not_repeated():
    from datetime import timedelta

    from django.utils import timezone

    from annotator.tasks.templatetags.when import ago

    assert ago(timezone.now() - timedelta(seconds=5)) == "just now"  # timesince said "0 minutes ago"
    assert ago(timezone.now() - timedelta(minutes=3)) == "3\xa0minutes ago"  # Django keeps the two together
    assert ago(None) == ""


@pytest.mark.django_db
def test_the_composed_step_reads_once(users):
    from annotator.submission import pipeline
    from annotator.tasks.views import timeline

    task = pipeline.create_task(users.ws_a, users.alice, "segmentannotation", {"attachment": "https://e.org/a.png"})
    composed = [i for i in timeline(task) if i["kind"] == "composed"]
    assert [(i["label"], i["message"]) for i in composed] == [("Composed", "")]  # was "Composed Composed"
