"""Long label sets in real Chromium: paste many labels at once, indentation making sub-labels."""

from __future__ import annotations

import json

import pytest

from tests.conftest import login_in_browser
from tests.test_composer_browser import js_errors, key

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_pasting_sixty_indented_labels_builds_the_tree_and_warns_past_fifty(page, live_server, users):
    # 52 top-level labels; the first has 6 sub-labels, one of which has 2 of its own: 60 lines.
    lines = ["vehicle"] + [f"  car-{i}" for i in range(5)] + ["  truck", "\ttrailer", "\tcab"]
    lines += [f"- label {i}" for i in range(51)]
    assert len(lines) == 60
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    page.get_by_role("button", name="Paste a list of labels at once").click()
    page.get_by_label("Paste labels").fill("\n".join(lines) + "\n\n")
    page.get_by_role("button", name="Add the pasted labels").click()
    assert "Added 60 labels. Scale takes at most 50 top-level labels; this list has 52." in (
        page.locator("#labels-card .tree-status").inner_text()
    )
    assert key(page, "labels:0:name").input_value() == "vehicle"
    assert key(page, "labels:0.5:name").input_value() == "truck"
    assert key(page, "labels:0.5.1:name").input_value() == "cab"
    assert key(page, "labels:51:name").input_value() == "label 50"
    # htmx swaps the badge and settles its classes a moment later: wait for the settled one.
    page.wait_for_function(
        "() => { const b = document.querySelector('#label-count');"
        " return b?.dataset.count === '52' && b.classList.contains('status-error'); }"
    )
    assert page.locator("#label-count").inner_text() == "52 of 50 labels"
    page.wait_for_function("() => document.querySelector('#payload-json')?.textContent.includes('label 50')")
    page.wait_for_timeout(600)
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    labels = json.loads(page.locator("#payload-json").text_content())["labels"]
    assert labels[0] == {
        "choice": "vehicle",
        "subchoices": [
            "car-0",
            "car-1",
            "car-2",
            "car-3",
            "car-4",
            {"choice": "truck", "subchoices": ["trailer", "cab"]},
        ],
    }
    assert labels[1:] == [f"label {i}" for i in range(51)]
    # The limit is named next to the labels (a warning or an error: the rules module decides).
    assert "at most 50 labels" in page.locator("#issues-labels_json").inner_text()
    # One undo takes the whole paste back.
    page.locator("h1").click()
    page.keyboard.press("Control+z")
    assert page.locator("#labels-card input.label-name").count() == 0
    assert js_errors(page) == []
