"""The export flow in real Chromium, as a person clicks it, at desktop and phone width."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest
from pycocotools.coco import COCO

from annotator.tasks.models import ResultFile
from tests import support
from tests.conftest import login_in_browser
from tests.exports_support import segmentation_record
from tests.test_callbacks_receiver import make_task

SCREENSHOTS = support.BASE_DIR / "docs" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def screenshot(page, name: str) -> None:
    support.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = support.ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    shutil.copy(path, SCREENSHOTS / f"{name}.png")


def completed_segmentation_tasks(users, settings, count: int) -> None:
    """Completed tasks whose result copies are sandbox-drawn masks in our storage."""
    media = Path(settings.MEDIA_ROOT)
    params = {"attachment": "https://example.org/street-160x100.png", "labels": ["road", "sky",
              {"choice": "car", "instance_label": True}], "project": "street"}  # fmt: skip
    for n in range(count):
        record = segmentation_record(media / "exports-test", params, task_id=f"65a0c0ffee0000000000{n:04x}")
        task = make_task(users.ws_a, users.alice, unique_id=f"street-{n}", scale_task_id=record.scale_task_id,
                         scale_status="completed", response=record.response, payload=params)  # fmt: skip
        ResultFile.objects.create(task=task, name="indexedImage", source_url="https://r/i",
                                  path=str(record.files["indexedImage"].relative_to(media)))  # fmt: skip


def no_overflow(page) -> None:
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 376)
             .map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 5)"""
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 375, wide


@pytest.mark.parametrize("width", [1280, 375])
def test_export_from_the_filtered_table_with_progress_and_a_download_that_stays(
    browser, live_server, users, settings, width
):
    settings.SITE_URL = live_server.url
    completed_segmentation_tasks(users, settings, 3)
    make_task(users.ws_a, users.alice, unique_id="elsewhere", scale_status="completed",
              payload={"attachment": "https://x/a.png", "labels": ["a"], "project": "other"})  # fmt: skip
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    worker = support.Worker(concurrency=2, SITE_URL=live_server.url).start()
    suffix = "" if width > 400 else "-phone"
    try:
        login_in_browser(page, live_server, "alice", "alice-password-1")
        page.goto(f"{live_server.url}/tasks/")
        if page.locator("#filters-button").is_visible():  # at phone width the filters fold behind it
            page.click("#filters-button")
        page.fill("#f-project", "street")
        page.get_by_role("button", name="Apply").click()
        page.wait_for_url(lambda url: "project=street" in url)
        page.click("#export-results")
        page.wait_for_url("**/exports/new/?project=street")
        assert page.locator("[data-count=total]").text_content() == "3"
        assert page.locator("input[name=format][value=coco]").is_checked()
        page.check("input[name=format][value=coco_panoptic]")
        if width < 400:
            no_overflow(page)
        screenshot(page, f"export-new{suffix}")
        page.click("#export-start")
        page.wait_for_url("**/exports/*/")
        page.evaluate("window.__sameDocument = true")
        link = page.locator("#export-download")
        link.wait_for(timeout=60000)
        # Swapped in by polling, not by a reload: the link appears on the page the person is on.
        assert page.evaluate("window.__sameDocument") is True
        assert "3 tasks" in page.locator("#export-progress").text_content()
        if width < 400:
            no_overflow(page)
        screenshot(page, f"export-ready{suffix}")
        with page.expect_download() as info:
            link.click()
        data = Path(info.value.path()).read_bytes()
        page.reload()
        assert page.locator("#export-download").is_visible()  # the link stays on the page
    finally:
        worker.stop()
        context.close()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        coco_json = zf.read("coco/annotations/instances_default.json")
    assert any(n.startswith("coco_panoptic/") for n in names)
    path = support.ARTIFACTS / f"export-{width}.json"
    path.write_bytes(coco_json)
    coco = COCO(str(path))
    assert len(coco.getImgIds()) == 3
    assert errors == []


@pytest.mark.parametrize("width", [1280, 375])
def test_a_bulk_run_page_counts_at_scale_and_leads_to_its_tasks_and_export(browser, live_server, users, width):
    from annotator.tasks.models import SubmissionGroup

    group = SubmissionGroup.objects.create(workspace=users.ws_a, created_by=users.alice, name="Shelves run", total=3)
    for n, status in enumerate(["completed", "completed", "pending"]):
        make_task(users.ws_a, users.alice, group=group, unique_id=f"shelf-{n}", scale_status=status,
                  scale_task_id=f"{n + 1:024x}", submitted_at=None)  # fmt: skip
    make_task(users.ws_a, users.alice, unique_id="not-in-the-run", scale_status="completed")
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    suffix = "" if width > 400 else "-phone"
    try:
        login_in_browser(page, live_server, "alice", "alice-password-1")
        page.goto(f"{live_server.url}/submit/groups/{group.code}/")
        assert page.locator("#scale-counts [data-count=completed]").text_content() == "2"
        assert page.locator("#scale-counts [data-count=pending]").text_content() == "1"
        if width < 400:
            no_overflow(page)
        screenshot(page, f"bulk-run-at-scale{suffix}")
        page.click("#run-tasks")
        page.wait_for_url(f"**/tasks/?run={group.code}")
        assert page.locator("#task-rows tr").count() == 3
        assert page.locator("#run-filter").is_visible()
        page.go_back()
        page.click("#run-export")
        page.wait_for_url(f"**/exports/new/?run={group.code}")
        assert page.locator("[data-count=total]").text_content() == "3"
        assert "Shelves run" in page.locator("#export-selection").text_content()
        # The choice of email, by keyboard: one summary (default) or each task.
        page.go_back()
        page.check("input[name=email][value=each]")
        page.get_by_role("button", name="Save").click()
        page.wait_for_load_state()
        assert "for each task" in page.locator("#messages").text_content()
    finally:
        context.close()
