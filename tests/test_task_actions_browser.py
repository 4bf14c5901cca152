"""Acting on a task from its page in real Chromium: duplicate / edit as new, cancel with a
confirmation, resubmit an errored task as a new linked one, review (accept / reject with a
comment) a completed one, from its page and for a selection in the table; each at desktop
and at phone width (375 px), where nothing may scroll sideways."""

from __future__ import annotations

import re

import pytest

from annotator.tasks.models import Task
from tests import support
from tests.conftest import login_in_browser
from tests.test_task_page_browser import compose, sandbox_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 800}}


@pytest.fixture(params=list(VIEWPORTS))
def width(request, page) -> str:
    """The test runs as a user clicks at this width: desktop, then phone."""
    page.set_viewport_size(VIEWPORTS[request.param])
    return request.param


def status(page) -> str:
    return page.locator("#task-status").text_content()


def look(page, name: str) -> None:
    """A screenshot to look at; at phone width, nothing on the page may stick out sideways."""
    support.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"]
    page.screenshot(path=str(support.ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    assert page.js_errors == [], name  # no script error or CSP violation on the way here
    if width > 375:
        return
    too_wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
             .filter(e => e.getBoundingClientRect().right > 376
                          || (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible'))
             .map(e => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`
                       + `/${e.scrollWidth}`)
             .slice(0, 8)"""
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 375, too_wide


def test_duplicate_then_cancel_with_a_confirmation(page, width, live_server, users, settings):
    worker = sandbox_worker(live_server, users, settings, complete_after="600")  # stays pending
    try:
        login_in_browser(page, live_server, "alice", "alice-password-1")
        compose(page, live_server)
        first = Task.objects.get()
        page.locator("#task-status", has_text="pending").wait_for(timeout=30000)
        look(page, "task-page-pending")

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
        look(page, "task-cancel-confirm")
        page.click("#keep-task")
        assert status(page) == "pending"
        page.click("#act-cancel")
        page.wait_for_url("**/cancel/")
        page.click("#confirm-cancel")
        assert "Asked Scale to cancel" in page.text_content("body")
        page.locator("#task-status", has_text="canceled").wait_for(timeout=30000)  # live, no reload
        assert page.locator("#act-cancel").count() == 0
        look(page, "task-page-canceled")
    finally:
        worker.stop()
    copy.refresh_from_db()
    assert copy.display_status == "pending"  # only the one asked for was cancelled
    assert page.js_errors == []


def test_an_errored_task_is_resubmitted_as_a_new_linked_task(page, width, live_server, users, settings):
    worker = sandbox_worker(live_server, users, settings, complete_after="1")
    try:
        login_in_browser(page, live_server, "alice", "alice-password-1")
        # The sandbox ends a task in error when its attachment URL says "sandbox-error".
        payload = {"attachment": f"{live_server.url}/sandbox/media/street-1.png?sandbox-error", "labels": ["road"]}
        compose(page, live_server, "segmentannotation", payload)
        old = Task.objects.get()
        page.locator("#task-status", has_text="error").wait_for(timeout=30000)
        page.locator("#act-resubmit").wait_for()  # offered once the task is final
        assert page.locator("#review").count() == 0  # only a completed task is reviewed
        look(page, "task-page-errored")
        page.click("#act-resubmit")
        page.wait_for_url(lambda url: str(old.code) not in url)
        new = Task.objects.exclude(pk=old.pk).get()
        assert "Resubmitted as a new task" in page.text_content("body")
        assert new.unique_id != old.unique_id and new.resubmission_of_id == old.pk
        assert page.locator("#link-resubmission-of").get_attribute("href") == f"/tasks/{old.code}/"

        page.click("#link-resubmission-of")
        assert page.locator(".link-resubmitted-as").get_attribute("href") == f"/tasks/{new.code}/"
        assert page.locator("#act-resubmit").count() == 0  # done once; the link replaces the button
        look(page, "task-page-resubmitted")
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


def test_a_completed_task_is_reviewed_from_its_page_and_from_the_table(page, width, live_server, users, settings):
    """Reject with a comment (asked for once when empty), shown as queued while no worker runs,
    then Scale's answer live; then accept a selection from the table after its comment page."""
    from annotator.sandbox.models import SandboxTask

    worker = sandbox_worker(live_server, users, settings, complete_after="1")
    try:
        login_in_browser(page, live_server, "alice", "alice-password-1")
        compose(page, live_server)
        task = Task.objects.get()
        page.locator("#task-status", has_text="completed").wait_for(timeout=30000)
        page.locator("#review-form").wait_for()
        look(page, "task-page-review-form")
    finally:
        worker.stop()  # Scale's side is unreachable for a while: the review must wait, not be lost

    # Reject with no comment: asked for one first, nothing sent.
    page.click("#act-reject")
    assert page.locator("#review-ask-comment").is_visible()
    assert page.evaluate("() => document.activeElement.id") == "review-comment"
    task.refresh_from_db()
    assert task.review_state == ""
    page.fill("#review-comment", "The car on the left is labelled as road.")
    page.click("#act-reject")
    page.wait_for_url(f"**/tasks/{task.code}/#review")
    page.locator("#review-queued").wait_for()
    assert "Review queued: rejected" in page.text_content("#review-queued")
    assert "Review queued: rejected" in page.text_content("#messages")
    assert page.locator("#review-form").count() == 0
    look(page, "task-page-review-queued")

    worker = sandbox_worker(live_server, users, settings, complete_after="1")
    try:
        # Scale's answer arrives on the page without a reload.
        page.locator("#review-status", has_text="rejected").wait_for(timeout=30000)
        assert "The car on the left is labelled as road." in page.text_content("#review-result")
        assert page.locator("#review-queued").count() == 0
        assert page.locator(".tl-review", has_text="Rejected by alice").count() == 1
        # Scale's answer, or its audit callback if that came back first (reviews.py): one of them.
        settled = re.compile("Review sent to Scale: rejected|Scale reports the review: rejected")
        assert page.locator(".tl-review", has_text=settled).count() == 1
        look(page, "task-page-reviewed")

        # From the table: accept the selection, after a page that asks for a comment.
        page.goto(f"{live_server.url}/tasks/")
        page.check(f"input.pick[value='{task.code}']")  # the header's select-all is hidden on a phone
        page.click("button[value=accept]")
        page.wait_for_url("**/tasks/bulk/")
        assert page.locator("h1").text_content() == "Accept 1 task at Scale?"
        look(page, "tasks-bulk-review-confirm")
        page.fill("#review-comment", "Fixed after rework.")
        page.click("#act-accept")
        page.wait_for_url("**/tasks/*")
        assert "Review queued for 1 task: accepted" in page.text_content("#messages")
        row = page.locator(f"#st-{task.code}")
        row.locator(".badge", has_text="accepted").wait_for(timeout=30000)  # live, no reload
        look(page, "tasks-reviewed")
    finally:
        worker.stop()
    audits = SandboxTask.objects.get(task_id=task.scale_task_id).audits
    assert [(a["audit_result"], a.get("comments")) for a in audits] == [
        ("rejected", "The car on the left is labelled as road."),
        ("accepted", "Fixed after rework."),
    ]
    task.refresh_from_db()
    assert (task.review_state, task.review_status, task.review_comment) == ("sent", "accepted", "Fixed after rework.")
    assert page.js_errors == []
