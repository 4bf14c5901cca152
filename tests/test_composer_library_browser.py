"""Flows that cross the composer and the Library, in real Chromium, in the order a person clicks."""

from __future__ import annotations

import json

import pytest

from tests.conftest import login_in_browser
from tests.test_composer_browser import (
    add_attributes,
    add_label_tree,
    add_metadata_and_tags,
    compose_video,
    js_errors,
    key,
    preview_payload,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PER_TASK = ("attachment", "attachments", "unique_id")


def compose_segmentation(page, live_server) -> dict:
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    page.fill("#id_attachment", f"{live_server.url}/sandbox/media/street-1.png")
    page.fill("#id_instruction", "    indented code block\n\nPaint **every** car.")
    page.fill("#id_unique_id", "library-roundtrip-1")
    add_label_tree(page, "#labels-card", "labels", "Add label")
    key(page, "labels:0.0.0:inst").check()
    page.select_option("#id_allow_unlabeled", "true")
    add_attributes(page, "sedan")
    add_metadata_and_tags(page)
    return preview_payload(page, '"day"')


def save_template(page, name: str) -> None:
    page.locator("summary", has_text="Save to the library").click()
    page.fill("#library-name", name)
    page.get_by_role("button", name="Save whole form as template").click()
    page.wait_for_load_state()
    assert f"“{name}” saved to the library" in page.locator(".msg-success").text_content()


def open_from_library(page, live_server, name: str) -> None:
    page.goto(f"{live_server.url}/compose/library/")
    page.locator("tr", has_text=name).get_by_role("link", name="New task from it").click()
    page.wait_for_load_state()


@pytest.mark.parametrize("task_type", ["segmentannotation", "videoannotation", "videoplaybackannotation"])
def test_a_template_reopened_from_the_library_fills_the_builders_and_submits_the_same_payload(
    page, live_server, users, settings, task_type
):
    from annotator.tasks.models import Task

    settings.SITE_URL = live_server.url
    login_in_browser(page, live_server, "alice", "alice-password-1")
    original = compose_segmentation(page, live_server) if task_type == "segmentannotation" else (
        compose_video(page, live_server, task_type)
    )  # fmt: skip
    save_template(page, f"Round trip {task_type}")
    open_from_library(page, live_server, f"Round trip {task_type}")

    # No problem is reported for what the composer itself produced, and the builders show it.
    assert page.locator("#validate-errors, #form-errors").count() == 0
    if task_type == "segmentannotation":
        assert key(page, "labels:0:name").input_value() == "vehicle"
        assert key(page, "labels:0.0.0:display").input_value() == "Sedan car"
        assert key(page, "labels:0.0.0:inst").is_checked()
        assert page.locator("#id_instruction").input_value() == original["instruction"]
    else:
        assert page.locator("#geometry-polygon-on").is_checked() and page.locator("#geometry-cuboid-on").is_checked()
        assert key(page, "task-labels:0.0.0:name").input_value() == "sedan"
        assert key(page, "g:cuboid:camera_height").input_value() == "1.5"
        assert page.locator("#links-card .chip", has_text="overtake").count() == 1
    assert key(page, "a1:id").input_value() == "shade"
    assert key(page, "a1:lc:sedan").is_checked()
    assert page.locator("input.meta-key").first.input_value() == "camera"

    # The preview is the original payload without what a template never keeps (and so not valid
    # yet: the attachment is missing).
    without = {k: v for k, v in original.items() if k not in PER_TASK}
    page.wait_for_function("() => document.querySelector('#payload-json')?.textContent.includes('\"day\"')")
    page.wait_for_timeout(600)
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    assert json.loads(page.locator("#payload-json").text_content()) == without
    # Untouched, the missing attachment is only listed as still to fill in.
    assert page.locator("#preview-errors").count() == 0
    assert "Attachment URL" in page.locator("#preview-todo").inner_text()

    # Put the per-task fields back and submit: the task is exactly the first composition.
    page.fill("#id_attachment", original["attachment"])
    page.fill("#id_unique_id", original["unique_id"])
    page.click("#submit-button")
    page.wait_for_load_state()
    page.wait_for_function("() => document.querySelector('.msg-success')")
    assert Task.objects.get().payload == original
    assert js_errors(page) == []
