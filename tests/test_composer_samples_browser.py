"""The sandbox's sample media in the composer, in real Chromium: one click, a preview, a valid task."""

from __future__ import annotations

import pytest

from tests.conftest import login_in_browser
from tests.test_composer_browser import js_errors
from tests.test_composer_import_browser import settled_payload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_sandbox_workspace_fills_a_sample_image_and_previews_it(page, live_server, users, settings):
    settings.SITE_URL = live_server.url
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    page.get_by_role("button", name="Use a sample image").click()
    assert page.locator("#id_attachment").input_value() == f"{live_server.url}/sandbox/media/street-1.png"
    # The image really loads in the preview (the sandbox draws it: 640x400).
    page.wait_for_function("() => document.querySelector('#preview-image')?.naturalWidth === 640")
    assert settled_payload(page, "street-1.png")["attachment"] == f"{live_server.url}/sandbox/media/street-1.png"
    assert js_errors(page) == []


@pytest.mark.parametrize("task_type", ["videoannotation", "videoplaybackannotation"])
def test_a_sandbox_workspace_fills_a_sample_video_or_frames(page, live_server, users, settings, task_type):
    settings.SITE_URL = live_server.url
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/{task_type}/")
    page.get_by_role("button", name="Use a sample video").click()
    assert page.locator("#id_attachment").input_value() == f"{live_server.url}/sandbox/media/traffic.mp4"
    page.wait_for_function("() => document.querySelector('#preview-video')?.readyState >= 1")
    assert page.evaluate("() => document.querySelector('#preview-video').videoWidth") == 320
    page.get_by_role("button", name="Use sample frames").click()
    frames = page.locator("#id_attachments").input_value().splitlines()
    assert frames == [f"{live_server.url}/sandbox/media/street-{i}.png" for i in (1, 2, 3)]
    page.wait_for_function(
        "() => [...document.querySelectorAll('.filmstrip img')].filter(i => i.naturalWidth === 640).length === 3"
    )
    shown = settled_payload(page, "street-3.png")
    assert shown["attachments"] == frames
    # videoannotation takes a video or frames, not both: the frames replaced the video.
    assert ("attachment" in shown) == (task_type == "videoplaybackannotation")
    assert js_errors(page) == []


def test_a_workspace_sending_to_scale_is_offered_no_sandbox_media(page, live_server, users):
    users.ws_a.target = "scale"
    users.ws_a.save()
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    page.wait_for_selector("#media-preview")
    assert page.locator("#samples").count() == 0


def test_a_fresh_composer_shows_no_put_back_button_until_an_upload_replaced_something(page, live_server, users):
    # A button carrying the hidden attribute stayed visible: the stylesheet's
    # display rule for buttons overrode it, and the button did nothing.
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    assert page.locator("#upload-undo").count() == 1
    assert not page.locator("#upload-undo").is_visible()
    assert not page.get_by_role("button", name="Put back the previous attachment").is_visible()
