"""Workspace settings in real Chromium, as an owner clicks through them."""

from __future__ import annotations

import pytest

from tests import support
from tests.conftest import login_in_browser
from tests.test_workspace_settings import SCALE_KEY, on_scale

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def field_error(page, name: str) -> str:
    return page.locator(f".field.has-error:has(#id_{name}) .error").text_content()


def no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


@pytest.mark.parametrize("width", [1280, 375])
def test_an_owner_cannot_save_a_workspace_that_cannot_work_and_can_reset_the_sandbox_key(
    browser, live_server, users, settings, width
):
    settings.SITE_URL = live_server.url
    on_scale(users.ws_a)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        login_in_browser(page, live_server, "alice", "alice-password-1")
        page.goto(f"{live_server.url}/workspace/")
        assert "live_…1d0c" in page.text_content("main")

        # Scale API with the stored key removed: refused, said next to the key field.
        page.check("#id_clear_api_key")
        page.click("button:has-text('Save settings')")
        assert "Scale API cannot work without a key" in field_error(page, "api_key")
        assert "Workspace settings saved." not in page.text_content("body")
        no_sideways_scroll(page)
        support.ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(support.ARTIFACTS / f"settings-refused-{width}.png"), full_page=True)
        users.ws_a.refresh_from_db()
        assert users.ws_a.get_api_key() == SCALE_KEY

        # A loopback base URL: refused with a clear message, even with a key.
        page.fill("#id_api_base_url", "http://127.0.0.1:22/v1")
        page.fill("#id_api_key", SCALE_KEY)
        page.click("button:has-text('Save settings')")
        assert "Scale API must be a public address" in field_error(page, "api_base_url")
        users.ws_a.refresh_from_db()
        assert users.ws_a.api_base_url == ""

        # Back to the sandbox: saved, and the workspace has a sandbox key of its own.
        page.fill("#id_api_base_url", "")
        page.select_option("#id_target", "sandbox")
        page.click("button:has-text('Save settings')")
        assert "Workspace settings saved." in page.text_content("body")
        users.ws_a.refresh_from_db()
        first = users.ws_a.api_key_hint
        assert first.startswith("test_") and first in page.text_content("main")

        # Reset it from Settings.
        page.click("button:has-text('Reset the sandbox key')")
        assert "The sandbox key is reset" in page.text_content("body")
        users.ws_a.refresh_from_db()
        assert users.ws_a.api_key_hint != first and users.ws_a.api_key_hint in page.text_content("main")
        no_sideways_scroll(page)
        page.screenshot(path=str(support.ARTIFACTS / f"settings-sandbox-reset-{width}.png"), full_page=True)
    finally:
        context.close()
    assert errors == []
