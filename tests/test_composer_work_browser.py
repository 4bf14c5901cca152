"""Never lose work, in real Chromium: undo/redo, a draft kept on the server, a warning before leaving."""

from __future__ import annotations

import json

import pytest

from tests.conftest import login_in_browser
from tests.test_composer_browser import js_errors, key

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def labels_shown(page) -> list[str]:
    return [node.input_value() for node in page.locator("#labels-card input.label-name").all()]


def payload_labels(page, expected: list[str]) -> None:
    page.wait_for_function(
        "([want]) => { const p = document.querySelector('#payload-json');"
        " if (!p) return false; const labels = JSON.parse(p.textContent).labels || [];"
        " return JSON.stringify(labels) === JSON.stringify(want); }",
        arg=[expected],
    )


def test_undo_and_redo_a_removed_label_with_the_keyboard_and_the_buttons(page, live_server, users):
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    for i, name in enumerate(("car", "road", "sky")):
        page.locator("#labels-card").get_by_role("button", name="Add label", exact=True).click()
        key(page, f"labels:{i}:name").type(name)
    payload_labels(page, ["car", "road", "sky"])
    page.get_by_role("button", name="Remove road").click()
    assert labels_shown(page) == ["car", "sky"]
    payload_labels(page, ["car", "sky"])

    page.locator("h1").click()  # the focus is nowhere in particular
    page.keyboard.press("Control+z")
    assert labels_shown(page) == ["car", "road", "sky"]
    payload_labels(page, ["car", "road", "sky"])
    page.keyboard.press("Control+Shift+z")
    assert labels_shown(page) == ["car", "sky"]
    page.get_by_role("button", name="Undo").click()
    assert labels_shown(page) == ["car", "road", "sky"]
    # The restored builder still works, and an edit after an undo clears what could be redone.
    key(page, "labels:1:name").fill("street")
    page.wait_for_function("() => document.querySelector('#redo-button').disabled")
    payload_labels(page, ["car", "street", "sky"])
    assert page.locator("#redo-button").is_disabled()
    assert js_errors(page) == []


def test_the_draft_is_kept_on_the_server_restored_on_return_and_can_be_discarded(page, live_server, users):
    from annotator.composer.models import Draft

    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    page.fill("#id_instruction", "    indented\nLabel the street.")
    page.locator("#labels-card").get_by_role("button", name="Add label", exact=True).click()
    key(page, "labels:0:name").type("car")
    page.wait_for_function("() => document.querySelector('#draft-status').textContent.includes('Draft saved')")
    draft = Draft.objects.get(user=users.alice, task_type="segmentannotation")
    assert json.loads(draft.data["labels_json"]) == ["car"]

    page.goto(f"{live_server.url}/tasks/")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    restored = page.locator("#draft-restored").inner_text()
    assert "Restored your draft from" in restored
    assert page.locator("#id_instruction").input_value() == "    indented\nLabel the street."
    assert key(page, "labels:0:name").input_value() == "car"
    # Another task type has its own (empty) draft.
    page.goto(f"{live_server.url}/compose/videoannotation/")
    assert page.locator("#draft-restored").count() == 0

    page.goto(f"{live_server.url}/compose/segmentannotation/")
    page.get_by_role("button", name="Discard it").click()
    page.wait_for_load_state()
    assert page.locator("#draft-restored").count() == 0
    assert page.locator("#id_instruction").input_value() == ""
    assert not Draft.objects.filter(user=users.alice).exists()
    assert js_errors(page) == []


def test_leaving_with_changes_not_yet_kept_asks_first(page, live_server, users):
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    page.wait_for_selector("#payload-json")
    dialogs = []

    def answer(dialog):
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", answer)
    page.locator("#id_instruction").type("half a thought")
    page.get_by_role("link", name="Tasks").first.click()
    page.wait_for_timeout(500)
    assert dialogs == ["beforeunload"]
    assert page.url.endswith("/compose/segmentannotation/")
    assert page.locator("#id_instruction").input_value() == "half a thought"
    # Submitting is not leaving: no question then.
    page.click("#validate-button")
    page.wait_for_load_state()
    assert dialogs == ["beforeunload"]
