"""Pasting payloads into the composer's import box in real Chromium."""

from __future__ import annotations

import json

import pytest

from annotator.composer.importing import parse_pasted
from tests.conftest import login_in_browser
from tests.test_composer_browser import js_errors, key
from tests.test_composer_import import DOCS_EXAMPLE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def settled_payload(page, must_contain: str) -> dict:
    page.wait_for_function(
        "([t]) => document.querySelector('#payload-json')?.textContent.includes(t)", arg=[must_contain]
    )
    page.wait_for_timeout(600)
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    return json.loads(page.locator("#payload-json").text_content())


def import_text(page, text: str) -> None:
    if page.locator("details.import-box").get_attribute("open") is None:
        page.locator("summary", has_text="Import an existing Scale payload").click()
    page.fill("#import-json", text)
    page.get_by_role("button", name="Fill the form from this payload").click()
    page.wait_for_load_state()


def test_a_paste_that_cannot_be_read_stays_in_its_box_with_where_it_failed(page, live_server, users):
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    page.fill("#id_project", "typed before the import")
    broken = DOCS_EXAMPLE.replace('"labels": ["car", "road",],', '"labels": ["car", "road",,],')
    import_text(page, broken)
    error = page.locator("#import-error").text_content()
    assert "line 6" in error and "Nothing was changed" in error
    assert page.locator("#import-json").input_value() == broken  # nothing the user pasted is lost
    assert page.locator("#import-json").get_attribute("aria-invalid") == "true"
    assert page.locator("#id_project").input_value() == "typed before the import"
    # The caret waits where the text goes wrong.
    assert page.evaluate("() => document.activeElement.id") == "import-json"
    caret_line = page.evaluate(
        "() => { const t = document.activeElement; return t.value.slice(0, t.selectionStart).split('\\n').length; }"
    )
    assert caret_line == 6
    assert js_errors(page) == []


def test_the_python_dict_of_scales_docs_imports_and_is_sent_as_written(page, live_server, users):
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    import_text(page, DOCS_EXAMPLE)
    assert "Imported all 8 parameters" in page.locator(".messages, main").first.text_content()
    assert key(page, "labels:1:name").input_value() == "road"
    assert page.locator("#id_allow_unlabeled").input_value() == "false"
    assert json.loads(page.locator("#id_extra_json").input_value()) == {"batch": None}
    shown = settled_payload(page, "tag2")
    assert shown == parse_pasted(DOCS_EXAMPLE)
    assert js_errors(page) == []


def test_an_imported_payload_is_previewed_and_submitted_character_for_character(page, live_server, users, settings):
    from annotator.tasks.models import Task

    settings.SITE_URL = live_server.url
    payload = {
        "instruction": "    code block: four spaces\n\n  Label *every* car.  \n",
        "attachment": "https://e.org/clip",  # no extension: Scale's own example sends one
        "with_labels": True,
        "geometries": {"box": {"objects_to_annotate": ["car", {"choice": "bus", "subchoices": []}], "min_width": 5.0}},
        "frame_rate": 5.0,
        "project": None,
        "metadata": {"source": "pipeline-7", "empty": ""},
        "tags": [],
        "legacy_option": {"kept": [1, 2.5, None]},
    }
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/videoplaybackannotation/")
    import_text(page, json.dumps(payload, indent=4))
    assert page.locator("#id_instruction").input_value() == payload["instruction"]
    assert page.locator("#id_frame_rate").input_value() == "5.0"
    kept = json.loads(page.locator("#id_extra_json").input_value())
    assert list(kept) == ["with_labels", "geometries", "project", "tags", "legacy_option"]
    settled_payload(page, "legacy_option")
    assert page.locator("#payload-json").text_content() == json.dumps(payload, indent=2, ensure_ascii=False)
    page.click("#submit-button")
    page.wait_for_load_state()
    page.wait_for_function("() => document.querySelector('.msg-success')")
    sent = Task.objects.get().payload
    # Submit adds only what makes it safe to send: the stable unique_id and this workspace's webhook.
    assert {k: v for k, v in sent.items() if k not in ("unique_id", "callback_url")} == payload
    assert json.dumps([k for k in sent if k in payload]) == json.dumps(list(payload))
    assert js_errors(page) == []
