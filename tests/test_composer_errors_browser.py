"""Problems where the eye is, in real Chromium: next to their field, announced, reachable from the summary."""

from __future__ import annotations

import pytest

from tests.conftest import login_in_browser
from tests.test_composer_browser import js_errors, key

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def settle(page) -> None:
    page.wait_for_selector("#payload-json")
    page.wait_for_timeout(700)
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def focused(page) -> dict:
    return page.evaluate("() => ({id: document.activeElement.id, key: document.activeElement.dataset.key || null})")


def test_a_blank_form_does_not_shout_and_a_touched_field_shows_its_problem_at_the_field(page, live_server, users):
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/videoannotation/")
    settle(page)
    # Nothing is "required" in red before the person has touched anything.
    assert page.locator("#compose-form .issues p").count() == 0
    assert page.locator("#preview-errors").count() == 0
    assert "required" not in page.locator("main").inner_text()
    todo = page.locator("#preview-todo").inner_text()
    assert "Still to fill in" in todo and "Attachment URL" in todo and "Geometries" in todo

    page.fill("#id_attachment", "https://example.org/clip.avi")
    page.wait_for_function("() => document.querySelector('#issues-attachment p.error')")
    settle(page)
    attachment = page.locator("#id_attachment")
    assert attachment.get_attribute("aria-invalid") == "true"
    assert "issues-attachment" in attachment.get_attribute("aria-describedby").split()
    assert "mp4, webm or ogg" in page.locator("#issues-attachment").inner_text()
    assert "has-error" in page.locator("#field-attachment").get_attribute("class")
    # Still quiet about the geometries, which nobody touched yet.
    assert page.locator("#issues-geometries_json p").count() == 0

    # A geometry's problem sits next to the limit it is about, and the summary link lands there.
    page.check("#geometry-polygon-on")
    key(page, "g:polygon:min_vertices").fill("10")
    key(page, "g:polygon:max_vertices").fill("3")
    page.wait_for_function(
        "() => document.querySelector('#preview-errors a[data-path=\"geometries.polygon.max_vertices\"]')"
    )
    settle(page)
    limit = key(page, "g:polygon:max_vertices")
    assert limit.get_attribute("aria-invalid") == "true"
    local = page.locator("#geometry-polygon .local-issues")
    assert "must be at least min_vertices" in local.inner_text()
    page.locator("#id_instruction").focus()
    page.locator("#preview-errors a", has_text="must be at least min_vertices").click()
    assert focused(page)["key"] == "g:polygon:max_vertices"
    page.locator("#preview-errors a", has_text="mp4, webm or ogg").click()
    assert focused(page)["id"] == "id_attachment"
    # Fixing the value clears the mark.
    limit.fill("12")
    page.wait_for_function(
        "() => !document.querySelector('[data-key=\"g:polygon:max_vertices\"]').hasAttribute('aria-invalid')"
    )
    assert js_errors(page) == []


def test_after_validate_every_problem_is_listed_as_links_to_its_field(page, live_server, users):
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    page.select_option("#id_priority", "10")
    page.click("#validate-button")
    page.wait_for_load_state()
    summary = page.locator("#validate-errors")
    assert "problems to fix" in summary.inner_text()
    assert summary.locator("a.issue-link").count() >= 2
    # Validate shows what was waiting: the attachment and labels are now marked.
    assert page.locator("#id_attachment").get_attribute("aria-invalid") == "true"
    assert page.locator("#issues-labels_json p.error").count() == 1
    summary.locator("a", has_text="labels").click()
    # No label yet: the focus lands on the builder's "+ Add label", the first thing to do there.
    assert page.evaluate("() => document.activeElement.closest('#labels-card') && document.activeElement.textContent")
    assert page.evaluate("() => document.activeElement.textContent") == "+ Add label"
    # Fixed in place: once the preview says Valid, the refused submit's summary goes (it would
    # contradict it; found walking the composer as a new user).
    page.keyboard.press("Enter")
    page.keyboard.type("car")
    page.fill("#id_attachment", "https://example.org/street.png")
    page.locator("#preview-valid").wait_for()
    assert page.locator("#validate-errors").count() == 0
    assert js_errors(page) == []


def test_a_missing_choices_problem_sits_under_choices_not_under_the_attribute_id(page, live_server, users):
    # Found walking the composer as a new user: "choices is required" was shown under, and
    # marked, the attribute's id field.
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    settle(page)
    page.locator("#attributes-card").get_by_role("button", name="Add attribute").click()
    page.keyboard.type("occluded")
    page.click("#validate-button")
    page.wait_for_load_state()
    settle(page)
    attribute = page.locator("#attribute-0")
    local = attribute.locator("[data-choices] .local-issues")
    local.wait_for()
    assert "is required for a category attribute" in local.inner_text()
    assert attribute.locator("input.attr-id").get_attribute("aria-invalid") is None
    marked = attribute.locator("[data-choices] [aria-invalid=true]")
    assert marked.count() == 1 and "issues-attributes_json" in marked.get_attribute("aria-describedby")
    assert js_errors(page) == []


def test_on_a_phone_the_sample_video_alone_warns_that_the_project_must_define_geometries(
    browser, live_server, users, settings
):
    """A new user's first video task: the sample video, nothing else. Scale takes the omitted
    geometries from the workspace's project, which must define them; the bar says so at once."""
    settings.SITE_URL = live_server.url
    users.ws_a.default_project = "street"
    users.ws_a.save()
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        login_in_browser(page, live_server, "alice", "alice-password-1")
        page.goto(f"{live_server.url}/compose/videoplaybackannotation/")
        page.get_by_role("button", name="Use a sample video").click()
        bar = "document.getElementById('phone-problems').textContent"
        page.wait_for_function(f"() => /Valid, \\d+ warning/.test({bar})")
        assert "params of project" in page.locator("#preview-warnings").inner_text()
        assert page.locator("#preview-errors").count() == 0  # a warning: Scale decides
    finally:
        context.close()


def sample_image_in_a_project_without_labels(page, live_server, users, settings) -> None:
    """The composer with the sandbox's sample image, no labels, in a workspace whose project
    (at the sandbox, over HTTP) defines none."""
    from tests import support

    settings.SITE_URL = live_server.url
    ws = users.ws_a
    ws.set_api_key("browser-project-key")
    ws.default_project = "street"
    ws.save()
    support.sandbox_account("browser-project-key", ws.callback_auth_key, projects=("street",))
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    page.get_by_role("button", name="Use a sample image").click()


def test_the_page_asks_scale_about_the_project_and_the_warning_says_it_will_be_refused(page, live_server, users,
                                                                                      settings):  # fmt: skip
    """Found walking the composer as a new user: with labels left out, the preview said Valid and
    the sandbox then refused the task, the project defining no labels. The page now asks the
    project (here the sandbox, over HTTP) and says so before anything is sent."""
    sample_image_in_a_project_without_labels(page, live_server, users, settings)
    refusals = page.locator("#preview-refusals")
    refusals.wait_for()
    assert 'project "street" does not define it either' in refusals.inner_text()
    assert page.locator("#preview-valid").count() == 0  # not "Valid" while Scale would refuse it
    assert "its params (version 0) define nothing but its instruction." in page.locator("#media-checks").inner_text()
    assert js_errors(page) == []


def test_on_a_phone_the_bar_says_scale_will_refuse_when_the_project_lacks_the_labels(browser, live_server, users,
                                                                                    settings):  # fmt: skip
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        sample_image_in_a_project_without_labels(page, live_server, users, settings)
        page.wait_for_function("() => document.getElementById('phone-problems').textContent === '✗ Scale will refuse'")
        assert "bad" in page.locator("#phone-problems").get_attribute("class")
        # Labels given: the project is not asked any more, and the bar says Valid.
        page.locator("#labels-card").get_by_role("button", name="Add label").click()
        page.keyboard.type("car")
        page.wait_for_function("() => document.getElementById('phone-problems').textContent.startsWith('✓ Valid')")
    finally:
        context.close()
