from __future__ import annotations

import pytest

from tests import support
from tests.conftest import login_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_login_page_renders_and_signs_in_in_chromium(page, live_server, users):
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.locator("h1").inner_text() == "Sign in"
    support.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(support.ARTIFACTS / "login.png"), full_page=True)
    login_in_browser(page, live_server, "alice", "alice-password-1")
    assert page.locator("h1").inner_text() == "Team A"
    assert page.js_errors == [], page.js_errors


def test_the_layout_works_at_phone_width(browser, live_server, users):
    context = browser.new_context(viewport={"width": 375, "height": 740})
    page = context.new_page()
    login_in_browser(page, live_server, "alice", "alice-password-1")
    # No horizontal scrolling, and the menu opens from the toggle.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert not page.locator("nav.nav").is_visible()
    page.click("label.nav-toggle-label")
    assert page.locator("nav.nav a", has_text="Settings").is_visible()
    page.screenshot(path=str(support.ARTIFACTS / "home-phone.png"), full_page=True)
    context.close()
