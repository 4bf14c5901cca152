"""The Library as a place to work, and the composer and status table at phone width, in real Chromium."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import support
from tests.conftest import login_in_browser
from tests.test_callbacks_receiver import make_task
from tests.test_composer_browser import save_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
FITS = "() => document.documentElement.scrollWidth <= window.innerWidth"
PHONE = {"width": 375, "height": 740}
PAYLOAD = {"labels": ["car", "road"], "instruction": "Paint every car."}


def shot(page, name: str, *, full_page: bool = True) -> None:
    support.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(support.ARTIFACTS / f"{name}.png"), full_page=full_page)


def streets_template(users):
    from annotator.composer.models import TaskTemplate

    template = TaskTemplate.objects.create(
        workspace=users.ws_a, name="Streets", task_type="segmentannotation", payload=PAYLOAD, created_by=users.alice
    )
    template.keep_version(users.alice, "saved from the composer")
    return template


def test_edit_a_template_see_its_versions_restore_one_and_start_a_task_from_it(page, live_server, users):
    from annotator.composer.models import TemplateUse
    from annotator.tasks.models import Task

    template = streets_template(users)
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/library/")
    page.get_by_role("link", name="Edit Streets").click()
    page.wait_for_selector("#editing-item")
    assert "Editing the template “Streets”" in page.locator("#editing-item").inner_text()
    shot(page, "library-edit-template", full_page=False)
    page.fill("#id_instruction", "Paint every bus.")
    with page.expect_navigation():
        page.click("#save-item-button")
    assert "as version 2" in page.locator(".msg-success").inner_text()
    assert "0 tasks made from it" in page.locator(f"#template-{template.code}").inner_text()

    page.get_by_role("link", name="2 versions").click()
    page.wait_for_selector("#version-2")
    assert "current" in page.locator("#version-2").inner_text()
    assert "instruction" in page.locator("#version-2").inner_text()  # what changed
    assert "alice" in page.locator("#version-1").inner_text()
    save_screenshot(page, "library-versions")
    with page.expect_navigation():
        page.get_by_role("button", name="Restore version 1").click()
    assert "Restored version 1 of “Streets” as version 3" in page.locator(".msg-success").inner_text()
    assert page.locator("#versions tbody tr").count() == 3
    page.set_viewport_size(PHONE)
    assert page.evaluate(FITS), "the versions scroll sideways at 375 px"
    shot(page, "library-versions-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("link", name="New task from it").click()
    page.wait_for_selector("#id_attachment")
    assert page.locator("#id_instruction").input_value() == "Paint every car."
    page.fill("#id_attachment", f"{live_server.url}/sandbox/media/street-1.png")
    with page.expect_navigation():
        page.click("#submit-button")
    task = Task.objects.get()
    assert task.payload["instruction"] == "Paint every car." and task.payload["labels"] == ["car", "road"]
    assert TemplateUse.objects.get(task=task).version == 3

    page.goto(f"{live_server.url}/compose/library/")
    assert "1 task made from it" in page.locator(f"#template-{template.code}").inner_text()
    save_screenshot(page, "library")

    # A delete can be undone for a while: the template comes back with its versions and its count.
    with page.expect_navigation():
        page.get_by_role("button", name="Delete Streets").click()
    assert page.locator(f"#template-{template.code}").count() == 0
    assert "Deleted the template “Streets”" in page.locator(".undo-bar").inner_text()
    with page.expect_navigation():
        page.locator(".undo-bar").get_by_role("button", name="Undo").click()
    assert "Put back the template “Streets”" in page.locator(".msg-success").inner_text()
    assert "1 task made from it · 3 versions" in page.locator(f"#template-{template.code}").inner_text()
    assert page.locator(".undo-bar").count() == 0
    page.set_viewport_size(PHONE)
    page.reload()
    assert page.evaluate(FITS), "the library scrolls sideways at 375 px"
    save_screenshot(page, "library-phone")
    assert page.js_errors == []


def test_export_from_one_workspace_and_import_into_another_with_a_name_clash(page, browser, live_server, users):
    from annotator.composer.models import LabelSet, TaskTemplate

    streets_template(users)
    LabelSet.objects.create(workspace=users.ws_a, name="Street labels", labels=["car", "road"])
    TaskTemplate.objects.create(workspace=users.ws_b, name="Streets", task_type="videoannotation", payload={"x": 1})
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/library/")
    assert "The same labels as 1 template: Streets" in page.locator("body").inner_text()
    with page.expect_download() as info:
        page.click("#export-all")
    exported = Path(info.value.path()).read_bytes()
    assert {item["name"] for item in json.loads(exported)["items"]} == {"Streets", "Street labels"}

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    other = context.new_page()
    other_errors: list[str] = []
    other.on("pageerror", lambda e: other_errors.append(str(e)))
    try:
        login_in_browser(other, live_server, "charlie", "charlie-password-1")
        other.goto(f"{live_server.url}/compose/library/")
        other.click("#import-link")
        other.set_viewport_size(PHONE)
        assert other.evaluate(FITS), "the import form scrolls sideways at 375 px"
        other.set_viewport_size({"width": 1280, "height": 900})
        other.set_input_files("#import-file", {"name": "lib.json", "mimeType": "application/json", "buffer": exported})
        with other.expect_navigation():
            other.get_by_role("button", name="Check what would be imported").click()
        plan = other.locator("#import-plan").inner_text()
        assert "Template “Streets” as “Streets (2)” (the name is taken here)" in plan
        assert "Label set “Street labels”" in plan
        assert TaskTemplate.objects.filter(workspace=users.ws_b).count() == 1  # the dry run changed nothing
        save_screenshot(other, "library-import-dry-run")
        other.set_viewport_size(PHONE)
        assert other.evaluate(FITS), "the dry run scrolls sideways at 375 px"
        shot(other, "library-import-dry-run-phone")
        with other.expect_navigation():
            other.click("#import-confirm")
        assert "“Streets” → “Streets (2)”" in other.locator(".msg-success").inner_text()
        assert TaskTemplate.objects.get(workspace=users.ws_b, name="Streets").payload == {"x": 1}
        assert TaskTemplate.objects.get(workspace=users.ws_b, name="Streets (2)").payload == PAYLOAD
        assert LabelSet.objects.get(workspace=users.ws_b).labels == ["car", "road"]
    finally:
        context.close()
    assert page.js_errors == [] and other_errors == []


def test_the_phone_composer_folds_its_cards_and_submits_from_the_bottom_bar(browser, live_server, users):
    from annotator.tasks.models import Task

    context = browser.new_context(viewport=PHONE, device_scale_factor=2)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        login_in_browser(page, live_server, "alice", "alice-password-1")
        page.goto(f"{live_server.url}/compose/segmentannotation/")
        bar = page.locator("#phone-bar")
        bar.wait_for()
        box = bar.bounding_box()
        assert box["y"] + box["height"] == pytest.approx(PHONE["height"], abs=1)  # at the bottom of the screen
        # The basics, what to annotate and the labels are open; the rest fold to their headings.
        assert page.locator("#id_attachment").is_visible()
        assert "folded" not in page.locator("#labels-card").get_attribute("class")
        assert page.locator("#labels-card .card-toggle").get_attribute("aria-expanded") == "true"
        assert "folded" in page.locator("#attributes-card").get_attribute("class")
        assert page.locator("#attributes-card .card-toggle").get_attribute("aria-expanded") == "false"
        page.wait_for_function("() => document.getElementById('phone-problems').textContent.includes('to fill in')")
        shot(page, "composer-phone-folded", full_page=False)

        page.fill("#id_attachment", f"{live_server.url}/sandbox/media/street-1.png")
        page.fill("#id_callback_url", "not a url")
        page.wait_for_function("() => /problem/.test(document.getElementById('phone-problems').textContent)")
        page.fill("#id_callback_url", "https://hooks.example.org/scale")
        page.locator("#labels-card").get_by_role("button", name="Add label").click()
        page.locator("#labels-card input.label-name").first.fill("car")
        page.wait_for_function("() => document.getElementById('phone-problems').textContent.includes('Valid')")
        assert page.evaluate(FITS), "the composer scrolls sideways at 375 px"
        save_screenshot(page, "composer-phone-bar", full_page=False)
        with page.expect_navigation():
            page.click("#phone-submit")
        task = Task.objects.get()
        assert task.payload["labels"] == ["car"] and task.payload["attachment"].endswith("street-1.png")

        # A problem in a folded card opens it: after an import, and from a problem link.
        page.goto(f"{live_server.url}/compose/videoannotation/")
        page.locator("summary", has_text="Import an existing Scale payload").click()
        tags = ["a", "b", "c", "d", "e", "f"]
        page.fill(
            "#import-json", json.dumps({"attachment": f"{live_server.url}/sandbox/media/traffic.mp4", "tags": tags})
        )
        with page.expect_navigation():
            page.get_by_role("button", name="Fill the form from this payload").click()
        card = page.locator("#compose-form > section.card", has=page.locator("#id_tags_json"))
        assert "folded" not in card.get_attribute("class")
        assert "folded" in page.locator("#links-card").get_attribute("class")
        page.wait_for_function("() => /problem/.test(document.getElementById('phone-problems').textContent)")
        card.locator(".card-toggle").click()
        assert "folded" in card.get_attribute("class")
        # The next preview (its problem still there) leaves the card as the person folded it.
        page.evaluate(
            "() => { window.__settled = 0; document.addEventListener('htmx:afterSettle', () => window.__settled++); }"
        )
        page.fill("#id_project", "traffic")
        page.wait_for_function("() => window.__settled > 0")
        assert "folded" in card.get_attribute("class")
        page.locator("#preview-errors a.issue-link[data-field='tags_json']").click()
        assert "folded" not in card.get_attribute("class")
    finally:
        context.close()
    assert errors == []


def test_the_status_table_at_phone_width_keeps_its_filters_behind_a_button(page, live_server, users):
    for i in range(3):
        make_task(users.ws_a, users.alice, unique_id=f"street-{i}", scale_task_id=f"{i:024x}", project="streets")
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/tasks/")
    assert page.locator("#task-filters").is_visible() and page.locator("#filters-button").is_hidden()
    shot(page, "tasks-desktop")

    page.set_viewport_size(PHONE)
    assert page.locator("#task-filters").is_hidden() and page.locator("#filters-button").is_visible()
    assert page.locator("#task-rows tr").first.bounding_box()["height"] < 200  # compact rows
    assert page.evaluate(FITS), "the task table scrolls sideways at 375 px"
    shot(page, "tasks-phone")
    page.click("#filters-button")
    assert page.locator("#filters-button").get_attribute("aria-expanded") == "true"
    assert page.locator("#task-filters").is_visible()
    page.fill("#f-q", "street-1")
    with page.expect_navigation():
        page.locator("#task-filters").get_by_role("button", name="Apply").click()
    assert page.locator("#task-rows tr").count() == 1
    assert page.locator("#filters-button").inner_text() == "Filters (on)"
    shot(page, "tasks-phone-filtered")
    assert page.js_errors == []
