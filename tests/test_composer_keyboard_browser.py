"""The composer driven from the keyboard alone in real Chromium: what a person types stays typed."""

from __future__ import annotations

import json

import pytest

from tests.conftest import login_in_browser
from tests.test_composer_browser import js_errors, key

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def focused_key(page) -> str | None:
    return page.evaluate("() => document.activeElement && document.activeElement.getAttribute('data-key')")


def test_renaming_an_attribute_then_tabbing_to_its_question_keeps_focus_and_text(page, live_server, users):
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    page.locator("#labels-card").get_by_role("button", name="Add label", exact=True).click()
    page.keyboard.type("car")
    page.locator("#attributes-card").get_by_role("button", name="Add attribute").click()
    page.locator("#attributes-card").get_by_role("button", name="Add attribute").click()
    # The new attribute's id has the focus: rename it by typing over it.
    assert focused_key(page) == "a1:id"
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("occluded")
    page.keyboard.press("Tab")  # to its type
    assert focused_key(page) == "a1:type"
    page.keyboard.press("Tab")  # to its question
    assert focused_key(page) == "a1:desc"
    page.keyboard.type("Is it hidden?")
    assert key(page, "a1:desc").input_value() == "Is it hidden?"
    assert page.locator("#attribute-1 legend").first.text_content() == "Attribute 2: occluded"
    # The other attribute's condition picker already offers the new name.
    page.locator("#attribute-0").get_by_role("button", name="Only when another attribute has a value…").click()
    assert page.locator("#attribute-0 .condition select").first.input_value() == "occluded"
    page.wait_for_function("() => document.querySelector('#payload-json')?.textContent.includes('Is it hidden?')")
    page.wait_for_timeout(600)
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    attributes = json.loads(page.locator("#payload-json").text_content())["annotation_attributes"]
    assert list(attributes) == ["attribute_1", "occluded"]
    assert attributes["occluded"]["description"] == "Is it hidden?"
    assert js_errors(page) == []
