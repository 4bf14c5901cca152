"""Acting on a task from its page in real Chromium: duplicate / edit as new, cancel with a
confirmation, resubmit an errored task as a new linked one; at desktop and phone width."""

from __future__ import annotations

import pytest

from annotator.tasks.models import Task
from tests import support
from tests.conftest import login_in_browser
from tests.test_task_page_browser import assert_fits_phone, compose, sandbox_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def status(page) -> str:
    return page.locator("#task-status").text_content()


def test_duplicate_then_cancel_with_a_confirmation(page, live_server, users, settings):
    worker = sandbox_worker(live_server, users, settings, complete_after="600")  # stays pending
    try:
        login_in_browser(page, live_server, "alice", "alice-password-1")
        compose(page, live_server)
        first = Task.objects.get()
        page.locator("#task-status", has_text="pending").wait_for(timeout=30000)

        # Duplicate / edit as new: the composer, filled with the payload, and a new unique_id once sent.
        page.click("#act-edit-as-new")
        page.wait_for_url("**/compose/segmentannotation/")
        page.wait_for_function("() => document.querySelector('#preview-valid')")
        preview = page.text_content("#preview")
        assert "street-1.png" in preview and first.unique_id not in preview
        assert page.input_value("#id_project") == "street"
        page.wait_for_function("() => !document.querySelector('.htmx-request')")
        page.click("#submit-button")
        page.wait_for_url("**/tasks/*/")
        copy = Task.objects.exclude(pk=first.pk).get()
        assert copy.unique_id != first.unique_id and copy.payload["labels"] == first.payload["labels"]

        # Cancel: a confirmation first; "No" changes nothing.
        page.goto(f"{live_server.url}/tasks/{first.code}/")
        page.click("#act-cancel")
        page.wait_for_url("**/cancel/")
        assert "cannot be undone" in page.text_content("main")
        assert_fits_phone(
            page, live_server, f"/tasks/{first.code}/cancel/", "task-cancel-confirm-phone", "#confirm-cancel"
        )
        page.click("#keep-task")
        assert status(page) == "pending"
        page.click("#act-cancel")
        page.wait_for_url("**/cancel/")
        page.click("#confirm-cancel")
        assert "Asked Scale to cancel" in page.text_content("body")
        page.locator("#task-status", has_text="canceled").wait_for(timeout=30000)  # live, no reload
        assert page.locator("#act-cancel").count() == 0
        page.screenshot(path=str(support.ARTIFACTS / "task-page-canceled.png"), full_page=True)
    finally:
        worker.stop()
    copy.refresh_from_db()
    assert copy.display_status == "pending"  # only the one asked for was cancelled
    assert page.js_errors == []


def test_an_errored_task_is_resubmitted_as_a_new_linked_task(page, live_server, users, settings):
    worker = sandbox_worker(live_server, users, settings, complete_after="1")
    try:
        login_in_browser(page, live_server, "alice", "alice-password-1")
        # The sandbox ends a task in error when its attachment URL says "sandbox-error".
        payload = {"attachment": f"{live_server.url}/sandbox/media/street-1.png?sandbox-error", "labels": ["road"]}
        compose(page, live_server, "segmentannotation", payload)
        old = Task.objects.get()
        page.locator("#task-status", has_text="error").wait_for(timeout=30000)
        page.locator("#act-resubmit").wait_for()  # offered once the task is final
        page.click("#act-resubmit")
        page.wait_for_url(lambda url: str(old.code) not in url)
        new = Task.objects.exclude(pk=old.pk).get()
        assert "Resubmitted as a new task" in page.text_content("body")
        assert new.unique_id != old.unique_id and new.resubmission_of_id == old.pk
        assert page.locator("#link-resubmission-of").get_attribute("href") == f"/tasks/{old.code}/"

        page.click("#link-resubmission-of")
        assert page.locator(".link-resubmitted-as").get_attribute("href") == f"/tasks/{new.code}/"
        assert page.locator("#act-resubmit").count() == 0  # done once; the link replaces the button
        page.screenshot(path=str(support.ARTIFACTS / "task-page-resubmitted.png"), full_page=True)
        assert_fits_phone(
            page, live_server, f"/tasks/{old.code}/", "task-page-resubmitted-phone", ".link-resubmitted-as"
        )
    finally:
        worker.stop()
    assert Task.objects.count() == 2
    assert page.js_errors == []


def test_cancelling_a_selection_in_the_table_asks_first(page, live_server, users):
    from tests.test_callbacks_receiver import make_task

    pending = make_task(users.ws_a, users.alice, unique_id="p-1", name="Shop front")
    make_task(users.ws_a, users.alice, unique_id="d-1", scale_status="completed", scale_task_id="e" * 24)
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/tasks/?tag=&sort=created_desc")
    page.check("#select-all")
    page.click("button[value=cancel]")
    page.wait_for_url("**/tasks/bulk/")
    assert page.locator("h1").text_content() == "Cancel 1 task at Scale?"
    assert "1 other selected task is not pending at Scale" in page.text_content("main")
    assert page.locator(".confirm-list li").all_text_contents()[0].startswith("Shop front")
    page.screenshot(path=str(support.ARTIFACTS / "tasks-bulk-cancel-confirm.png"), full_page=True)
    page.click("#keep-tasks")
    page.wait_for_url("**/tasks/*")
    pending.refresh_from_db()
    assert pending.display_status == "pending"
    assert page.js_errors == []
