"""The composer with the URL forms Scale reads and the parameters it keeps: a storage URI
gets a placeholder instead of an error in the preview, and a task with an s3:// attachment
and an undocumented parameter is submitted with warnings, not refused."""

from __future__ import annotations

import json

import pytest

from annotator.tasks.models import Task
from tests.conftest import login_in_browser
from tests.support import ARTIFACTS


@pytest.fixture
def ws(users):
    users.ws_a.default_project = "default-project"
    users.ws_a.save()
    return users.ws_a


def test_an_s3_task_with_an_undocumented_parameter_is_submitted_with_warnings(alice_client, ws):
    form = {
        "callback_url": "https://hooks.example.org/scale",
        "attachment": "s3://fleet-frames/2024/05/0001.png",
        "labels_json": json.dumps(["road", "car"]),
        "extra_json": json.dumps({"pipeline_stage": "night", "layers": {"annotations": []}}),
    }
    page = alice_client.post("/compose/segmentannotation/", {**form, "action": "validate"}).content.decode()
    assert "&#x27;pipeline_stage&#x27; is not a documented parameter of segmentannotation" in page
    response = alice_client.post("/compose/segmentannotation/", {**form, "action": "submit"})
    assert response.status_code == 302
    sent = Task.objects.get().payload
    assert sent["attachment"] == "s3://fleet-frames/2024/05/0001.png"
    assert sent["pipeline_stage"] == "night" and sent["layers"] == {"annotations": []}  # unchanged


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1280, 375])
@pytest.mark.usefixtures("users")
def test_the_preview_shows_a_placeholder_for_storage_uris(page, live_server, width):
    page.set_viewport_size({"width": width, "height": 900})
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/videoplaybackannotation/")
    page.fill("#id_attachment", "scaledata://5f1e0c6a9d2b7c0011a1b2c3/drive")
    page.fill("#id_attachments", "s3://fleet-frames/0001.png\ngs://fleet-frames/0002.png")
    page.wait_for_function(
        "() => document.querySelectorAll('#media-preview .media-storage').length === 3", timeout=15000
    )
    notes = page.locator("#media-preview").text_content()
    assert "A file uploaded to Scale (scaledata://); no preview here." in notes
    assert "Scale reads s3:// with your bucket policy; no preview here." in notes
    assert "Scale reads gs:// with your bucket's permissions; no preview here." in notes
    assert "1 frame: Scale reads s3://" in notes and "1 frame: Scale reads gs://" in notes
    assert page.locator("#media-preview .media-error").count() == 0
    assert page.locator("#media-preview .filmstrip").count() == 0
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), "scrolls sideways"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#media-preview").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"composer-storage-preview-{width}.png"), full_page=False)
    assert page.js_errors == []
