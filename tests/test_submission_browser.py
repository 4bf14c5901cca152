"""Bulk submission in Chromium at phone width: paste, dry run, confirm, watch it finish."""

from __future__ import annotations

import pytest

from annotator.tasks.models import SubmissionGroup, Task
from tests import test_submission_bulk as bulk_tests
from tests import test_submission_reliability as reliability
from tests.conftest import login_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
sandbox_ws = reliability.sandbox_ws  # the fixtures, shared
template = bulk_tests.template
PHONE = {"width": 375, "height": 740}
FITS = "() => document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_a_bulk_upload_on_a_phone_dry_runs_confirms_and_follows_the_group_to_done(
    page, live_server, sandbox_ws, template
):
    worker = reliability.submitting_worker(live_server, concurrency=4).start()
    try:
        page.set_viewport_size(PHONE)
        login_in_browser(page, live_server, "alice", "alice-password-1")
        page.goto(f"{live_server.url}/submit/")
        assert page.evaluate(FITS), "the upload page scrolls sideways at 375 px"
        urls = [f"{live_server.url}/sandbox/media/street-{n}.png" for n in (1, 2, 3)]
        page.fill("#id_urls", "\n".join([*urls, "s3://fleet-frames/street-4.png"]))
        page.fill("#id_name", "Phone upload")
        page.click("text=Check every row")

        # The dry run: the s3:// row is ready too (Scale reads buckets); nothing created yet.
        page.wait_for_selector("#dry-run-title")
        assert page.locator("#valid-count").text_content() == "4"
        assert Task.objects.count() == 0
        assert page.evaluate(FITS), "the dry run scrolls sideways at 375 px"
        page.click("text=Submit 4 tasks")

        # The group page polls with htmx until every row is at the sandbox, without a reload.
        page.wait_for_url("**/submit/groups/*/")
        page.evaluate("() => { window.notReloaded = true; }")
        page.wait_for_function(
            "() => document.querySelector('#progress h2').textContent.trim() === 'Done'", timeout=30000
        )
        assert page.evaluate("() => window.notReloaded") is True
        assert page.get_attribute("#progress progress", "value") == "4"
        assert page.locator("[data-count='submitted']").text_content() == "4"
        assert page.locator("[data-count='failed']").text_content() == "0"
        assert page.evaluate(FITS), "the progress page scrolls sideways at 375 px"
    finally:
        worker.stop()
    group = SubmissionGroup.objects.get()
    assert group.name == "Phone upload" and group.total == 4
    assert Task.objects.filter(group=group, state=Task.State.SUBMITTED).count() == 4
    assert page.js_errors == []
