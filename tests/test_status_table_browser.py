"""The status table in real Chromium while tasks are submitted from another page:
new rows slide in on top with no reload, and what the user was doing survives."""

from __future__ import annotations

import pytest

from annotator.tasks.models import Task
from tests import support
from tests.conftest import login_in_browser
from tests.test_callbacks_receiver import make_task
from tests.test_task_page_browser import assert_fits_phone, compose, sandbox_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROW_TOP = "(id) => document.getElementById(id).getBoundingClientRect().top"


def test_a_task_submitted_from_another_page_appears_live_and_follows_its_status(page, live_server, users, settings):
    older = [
        make_task(users.ws_a, users.alice, unique_id=f"older-{n:02d}", scale_task_id=f"{n + 1:024x}") for n in range(30)
    ]
    worker = sandbox_worker(live_server, users, settings)
    try:
        login_in_browser(page, live_server, "alice", "alice-password-1")
        page.goto(f"{live_server.url}/tasks/")
        page.evaluate("window.__sameDocument = true")
        # The user is busy: a row picked, a search half typed, the table scrolled.
        picked = older[-5]  # newest first: the fifth row
        page.check(f"#row-{picked.code} input.pick")
        page.fill("#f-q", "older-1")
        page.evaluate("window.scrollTo(0, 700)")
        # The row at the top of what the user sees.
        anchor = page.evaluate(
            "() => [...document.querySelectorAll('#task-rows tr')].find(r => r.getBoundingClientRect().top >= 0).id"
        )
        anchor_top = page.evaluate(ROW_TOP, anchor)

        other = page.context.new_page()
        other_errors: list[str] = []
        other.on("console", lambda m: other_errors.append(m.text) if m.type == "error" else None)
        compose(other, live_server)
        new = Task.objects.exclude(pk__in=[t.pk for t in older]).get()

        row = page.locator(f"#row-{new.code}")
        row.wait_for(timeout=20000)  # no reload: the poll brought it
        assert page.evaluate("window.__sameDocument") is True
        assert page.evaluate("document.querySelector('#task-rows tr').id") == f"row-{new.code}"
        assert new.unique_id[:30] in row.text_content()
        # Then its status follows it live, like the rows that were there.
        page.locator(f"#st-{new.code} .badge", has_text="completed").wait_for(timeout=60000)

        assert page.is_checked(f"#row-{picked.code} input.pick")
        assert page.locator("#selected-count").text_content() == "1 selected"
        assert page.evaluate("document.activeElement.id") == "f-q" and page.input_value("#f-q") == "older-1"
        # A row slid in above what the user looks at, and it did not push it down (the
        # browser keeps the scroll anchored; a wider column may re-wrap a few pixels).
        inserted = page.evaluate(
            "(id) => document.getElementById(id).getBoundingClientRect().height", f"row-{new.code}"
        )
        assert abs(page.evaluate(ROW_TOP, anchor) - anchor_top) < inserted / 2
        assert page.locator("#task-rows tr").count() == 31
        other.close()
    finally:
        worker.stop()
    support.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(support.ARTIFACTS / "tasks-live-new-row.png"), full_page=True)
    assert page.js_errors == [] and other_errors == []


def test_the_first_task_appears_in_an_empty_table(page, live_server, users, settings):
    settings.SITE_URL = live_server.url
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/tasks/")
    assert page.locator("#task-empty").is_visible()
    other = page.context.new_page()
    compose(other, live_server)
    task = Task.objects.get()
    page.locator(f"#row-{task.code}").wait_for(timeout=20000)
    assert page.locator("#task-empty").is_hidden() and page.locator("#task-table").is_visible()
    assert page.locator("#selected-count").text_content() == "0 selected"
    page.check(f"#row-{task.code} input.pick")  # a row that arrived live is a row like any other
    assert page.locator("#selected-count").text_content() == "1 selected"
    assert page.is_enabled("button[value=cancel]")
    assert_fits_phone(page, live_server, "/tasks/", "tasks-one-row-phone", f"#row-{task.code}")
    assert page.js_errors == []


def test_tasks_are_recognisable_by_name_and_thumbnail(page, live_server, users, settings):
    worker = sandbox_worker(live_server, users, settings)
    try:
        login_in_browser(page, live_server, "alice", "alice-password-1")
        compose(page, live_server)  # street-1.png, and no name given: the file name stands for it
        task = Task.objects.get()
        assert page.title().startswith("street-1.png · Segmentation task")
        assert page.locator("h1.task-title").text_content() == "street-1.png"

        page.click("details.rename summary")
        page.fill("#task-name", "Corner of 5th")
        with page.expect_navigation():  # the form posts and the page comes back; waiting on the old page races it
            page.keyboard.press("Enter")
        assert "Named “Corner of 5th”." in page.text_content("body")
        assert (
            page.title().startswith("Corner of 5th") and page.locator("h1.task-title").text_content() == "Corner of 5th"
        )

        page.goto(f"{live_server.url}/tasks/")
        row = page.locator(f"#row-{task.code}")
        assert row.locator(".task-name").text_content() == "Corner of 5th"
        assert task.unique_id[:30] in row.text_content()
        # The thumbnail is drawn by the worker after the first look; the row asks again by itself.
        thumb = f"#row-{task.code} img[data-thumb]"
        page.wait_for_function("(s) => document.querySelector(s).naturalWidth > 1", arg=thumb, timeout=40000)
        page.screenshot(path=str(support.ARTIFACTS / "tasks-thumbnails.png"))
        assert_fits_phone(page, live_server, "/tasks/", "tasks-thumbnails-phone", thumb)
    finally:
        worker.stop()
    assert page.js_errors == []
