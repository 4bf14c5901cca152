"""The composer's attachment upload: a local file goes through the workspace's Scale file
upload (here the sandbox, over real HTTP, offline) and its scaledata:// URL becomes the
attachment; in real Chromium, dropped on the drop zone, at desktop and phone width."""

from __future__ import annotations

import base64
import io
import json
import shutil

import pytest
from PIL import Image

from tests import support
from tests.conftest import login_in_browser

KEY = "test_composer_upload_key"
PROJECT = "street-segmentation"
UPLOAD = "/compose/upload/"
SCREENSHOTS = support.BASE_DIR / "docs" / "screenshots"


def png(width: int = 96, height: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def sandbox_ws(users, live_server, settings, tmp_path):
    settings.SITE_URL = live_server.url
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SANDBOX_COMPLETE_AFTER = 3600
    settings.SANDBOX_FAULTS = ""
    ws = users.ws_a
    ws.target = ws.Target.SANDBOX
    ws.set_api_key(KEY)
    ws.save()
    support.sandbox_account(KEY, ws.callback_auth_key, projects=("street-segmentation",))
    return ws


@pytest.mark.django_db(transaction=True)
def test_an_uploaded_image_becomes_a_scaledata_attachment_the_sandbox_serves(sandbox_ws, alice_client, live_server):
    import requests

    from annotator.sandbox import files
    from annotator.sandbox.models import SandboxFile

    image = png()
    upload = io.BytesIO(image)
    upload.name = "street corner.png"
    answer = alice_client.post(UPLOAD, {"file": upload, "project": "street-segmentation"})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["attachment_url"].startswith("scaledata://")
    assert (body["name"], body["size"], body["mime_type"]) == ("street corner.png", len(image), "image/png")
    stored = SandboxFile.objects.get()
    assert stored.attachment_url == body["attachment_url"]
    assert stored.project_names == ["street-segmentation"]
    served = requests.get(files.http_url(stored, live_server.url), timeout=30)
    assert served.content == image


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.txt", b"hello", "notes.txt is not an image or an MP4, WebM or Ogg video"),
        ("clip.avi", b"RIFF....AVI ", "clip.avi is not an image or an MP4, WebM or Ogg video"),
    ],
)
def test_what_scale_cannot_label_is_refused_with_a_reason(sandbox_ws, alice_client, name, content, message):
    from annotator.sandbox.models import SandboxFile

    upload = io.BytesIO(content)
    upload.name = name
    answer = alice_client.post(UPLOAD, {"file": upload})
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert not SandboxFile.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_scales_refusal_and_missing_pieces_are_explained(sandbox_ws, alice_client):
    from django.test import Client

    from annotator.sandbox.models import SandboxFile

    assert alice_client.post(UPLOAD, {}).json()["error"] == "Choose an image or a video file to upload."
    upload = io.BytesIO(png())
    upload.name = "a.png"
    refused = alice_client.post(UPLOAD, {"file": upload, "project": "no-such-project"})
    assert refused.status_code == 400
    assert refused.json()["error"].startswith(
        'Scale refused the upload: project_name: no project named "no-such-project"'
    )
    sandbox_ws.set_api_key("")
    sandbox_ws.save()
    upload.seek(0)
    assert "no Scale API key yet" in alice_client.post(UPLOAD, {"file": upload}).json()["error"]
    assert not SandboxFile.objects.exists()
    # Signed-out visitors are sent to sign in; GET is not an upload.
    assert Client().post(UPLOAD, {}).status_code == 302
    assert alice_client.get(UPLOAD).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_scale_is_a_502_with_a_reason(sandbox_ws, alice_client, settings):
    settings.SITE_URL = "http://127.0.0.1:9"  # nothing listens there
    upload = io.BytesIO(png())
    upload.name = "a.png"
    answer = alice_client.post(UPLOAD, {"file": upload})
    assert answer.status_code == 502
    assert "Scale could not take the file just now" in answer.json()["error"]


def _drop(page, name: str, data: bytes, mime: str) -> None:
    """A real drop event on the drop zone, carrying a File, as a person dragging it would."""
    page.evaluate(
        """([name, b64, mime]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: mime}));
            const zone = document.getElementById("upload-drop");
            zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true, cancelable: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }""",
        [name, base64.b64encode(data).decode(), mime],
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1280, 375])
def test_a_dropped_image_fills_the_attachment_and_the_task_is_submitted(page, sandbox_ws, live_server, width):
    from annotator.sandbox.models import SandboxFile
    from annotator.tasks.models import Task

    page.set_viewport_size({"width": width, "height": 900})
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    existing = {"attachment": "https://assets.example.com/old.png", "labels": ["road", "sky"], "project": PROJECT}
    page.locator("summary", has_text="Import an existing Scale payload").click()
    page.fill("#import-json", json.dumps(existing))
    page.get_by_role("button", name="Fill the form from this payload").click()
    page.wait_for_load_state()
    page.wait_for_function("() => document.getElementById('id_attachment').value.endsWith('old.png')")

    _drop(page, "street.png", png(), "image/png")
    page.wait_for_function("() => document.getElementById('id_attachment').value.startsWith('scaledata://')")
    stored = SandboxFile.objects.get()
    assert page.input_value("#id_attachment") == stored.attachment_url
    assert "Uploaded street.png" in page.inner_text("#upload-status")
    assert page.locator("#upload-preview img").count() == 1

    # Undo puts the replaced URL back; the upload is then used again by choosing the file.
    page.click("#upload-undo")
    assert page.input_value("#id_attachment") == "https://assets.example.com/old.png"
    page.set_input_files("#upload-file", {"name": "street.png", "mimeType": "image/png", "buffer": png()})
    page.wait_for_function("() => document.getElementById('id_attachment').value.startsWith('scaledata://')")
    attachment = page.input_value("#id_attachment")

    # A file Scale cannot label: the reason shows, the attachment stays.
    _drop(page, "notes.txt", b"hello", "text/plain")
    page.wait_for_function("() => document.getElementById('upload-status').textContent.includes('notes.txt is not')")
    assert page.input_value("#id_attachment") == attachment

    support.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = support.ARTIFACTS / f"composer-upload-{width}.png"
    page.locator("#upload-drop").scroll_into_view_if_needed()
    page.screenshot(path=str(shot), full_page=False)
    if width == 375:
        shutil.copy(shot, SCREENSHOTS / "composer-upload-phone.png")

    page.wait_for_function("() => document.querySelector('#preview-valid')")
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    page.click("#submit-button")
    page.wait_for_url("**/tasks/*/")
    task = Task.objects.get()
    assert task.payload["attachment"] == attachment
