"""Media checks and the labeller's view in real Chromium, against the sandbox's real MP4."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import login_in_browser
from tests.support import ARTIFACTS, BASE_DIR

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = BASE_DIR / "docs" / "screenshots"


@pytest.fixture(autouse=True)
def _media_ready(settings):
    # The sandbox draws its media on first request (the clip takes seconds to encode on a busy
    # machine): made before the page asks, and a roomy budget, so the checks measure the files.
    from annotator.sandbox import media

    media.ensure_all()
    settings.MEDIA_CHECK_TIMEOUT = 30


def payload(site: str) -> dict:
    return {
        # The sandbox's clip is 3 s long; the task asks for 1 s + 5 s of it.
        "attachment": f"{site}/sandbox/media/traffic.mp4",
        "attachment_type": "video",
        "geometries": {
            "box": {
                "objects_to_annotate": [
                    {
                        "choice": "vehicle",
                        "display": "Vehicle",
                        "subchoices": [{"choice": "car", "display": "Car"}, "truck"],
                    },
                    "person",
                ],
                "min_width": 5,
                "min_height": 5,
            },
            "polygon": {"objects_to_annotate": ["road"], "min_vertices": 3, "max_vertices": 12},
        },
        "annotation_attributes": {
            "moving": {
                "type": "category",
                "description": "Is it moving?",
                "choices": ["yes", "no"],
                "conditions": {"label_condition": {"label": ["car", "truck"]}},
            },
            "speed": {
                "type": "number",
                "description": "How fast (km/h)?",
                "min": 0,
                "max": 200,
                "conditions": {
                    "label_condition": {"label": ["car", "truck"]},
                    "attribute_conditions": [{"moving": "yes"}],
                },
            },
            "occluded": {"type": "category", "description": "Is it occluded?", "choices": ["yes", "no"]},
        },
        "start_time": 1,
        "duration_time": 5,
    }


def shot(locator, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(path))
    shutil.copy(path, SCREENSHOTS / f"{name}.png")


def visible_questions(page) -> list[str]:
    return page.evaluate(
        "() => [...document.querySelectorAll('#labeller-view .question')].filter(q => !q.hidden)"
        ".map(q => q.querySelector('.question-text').textContent)"
    )


def open_composer(page, live_server) -> None:
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/videoannotation/")
    page.locator("summary", has_text="Import an existing Scale payload").click()
    page.fill("#import-json", json.dumps(payload(live_server.url)))
    page.get_by_role("button", name="Fill the form from this payload").click()
    page.wait_for_load_state()


def unfold(page, inside: str) -> None:
    """At phone width the composer folds cards to their headings: open the one holding `inside`."""
    card = page.locator("section.card", has=page.locator(inside))
    if "folded" in (card.get_attribute("class") or ""):
        card.locator(".card-toggle").click()


def wait_for_the_warning(page) -> None:
    # The browser asks for the media check off the typing path, then the preview warns at the field.
    page.wait_for_function(
        "() => document.querySelector('#issues-duration_time')?.textContent.includes('passes the end of the video')",
        timeout=60_000,
    )


@pytest.mark.parametrize("width", [1280, 375])
def test_a_too_long_window_is_warned_at_its_field_and_a_label_shows_its_questions(
    browser, live_server, users, settings, width
):
    settings.SITE_URL = live_server.url
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    open_composer(page, live_server)
    wait_for_the_warning(page)
    unfold(page, "#id_duration_time")
    unfold(page, "#labeller-view")
    warning = page.locator("#issues-duration_time p.warning")
    text = " ".join(warning.inner_text().split())
    assert text.startswith("Warning: start_time + duration_time = 6 s passes the end of the video")
    assert "3.00 s long (annotators would get 2.00 s)" in text
    assert warning.is_visible()
    assert "3.00 s, 320x240, 25 fps" in page.locator("#media-checks").inner_text()
    # In the problems list too, as a warning that links to the field; the task stays valid.
    assert page.locator("#preview-warnings a[data-field='duration_time']").count() == 1
    assert page.locator("#preview-valid").count() == 1

    view = page.locator("#labeller-view")
    assert view.get_by_text("Box").first.is_visible()
    assert "at least 5 x 5 px" in view.inner_text() and "3 to 12 vertices" in view.inner_text()
    assert [b.inner_text() for b in view.locator(".palette-label").all()] == ["Car", "truck", "person", "road"]
    assert "Vehicle" in view.locator(".palette-group-name").inner_text()
    assert visible_questions(page) == ["Is it moving?", "How fast (km/h)?", "Is it occluded?"]

    view.get_by_role("button", name="Car").click()
    assert view.get_by_role("button", name="Car").get_attribute("aria-pressed") == "true"
    assert visible_questions(page) == ["Is it moving?", "How fast (km/h)?", "Is it occluded?"]
    speed = view.locator(".question[data-attribute='speed'] .question-condition")
    assert speed.inner_text() == "— asked only if moving is yes"
    assert "labelled “Car” is asked 3 of 3 questions" in page.locator("#labeller-hint").inner_text()

    view.get_by_role("button", name="person").click()
    assert visible_questions(page) == ["Is it occluded?"]
    assert "asked 1 of 3" in page.locator("#labeller-hint").inner_text()

    # The labeller's media: the video itself.
    page.wait_for_function("() => document.querySelector('#labeller-media video')?.readyState >= 1", timeout=30_000)
    # Another preview (typing elsewhere) keeps the chosen label and its questions.
    page.fill("#id_duration_time", "1.5")
    page.wait_for_function(
        "() => !document.querySelector('#issues-duration_time')?.textContent.includes('passes the end')"
    )
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    assert visible_questions(page) == ["Is it occluded?"]
    page.fill("#id_duration_time", "5")
    wait_for_the_warning(page)

    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    view.get_by_role("button", name="Car").click()
    assert speed.inner_text() == "— asked only if moving is yes"
    suffix = "" if width > 400 else "-phone"
    shot(page.locator("#labeller-card"), f"composer-labeller{suffix}")
    shot(page.locator("#field-duration_time").locator(".."), f"composer-media-warning{suffix}")
    page.locator("#media-checks").scroll_into_view_if_needed()
    page.locator("#media-checks").screenshot(path=str(ARTIFACTS / f"composer-media-checks{suffix}.png"))
    context.close()
    assert errors == []


def test_frames_are_checked_one_by_one_and_the_first_is_what_the_labeller_sees(page, live_server, users, settings):
    settings.SITE_URL = live_server.url
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/videoannotation/")
    page.get_by_role("button", name="Use sample frames").click()
    # Each frame's size is read (640x400 all three: no warning), and the first frame is the stage.
    page.wait_for_function("() => document.querySelectorAll('#media-checks li.checked').length === 3", timeout=60_000)
    assert page.locator("#media-checks li.checked").first.inner_text().endswith("640x400")
    page.wait_for_function("() => document.querySelector('#labeller-media img')?.naturalWidth === 640")
    assert "Frame 1 of 3" in page.locator("#labeller-media").inner_text()
    assert page.locator("#issues-attachments p").count() == 0


def test_a_segmentation_task_paints_with_its_label_tree(page, live_server, users, settings):
    settings.SITE_URL = live_server.url
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    page.locator("summary", has_text="Import an existing Scale payload").click()
    page.fill(
        "#import-json",
        json.dumps(
            {
                "attachment": f"{live_server.url}/sandbox/media/street-1.png",
                "labels": ["road", {"choice": "vehicle", "display": "Vehicles", "subchoices": ["car", "bus"],
                                    "instance_label": True}],  # asked of instances only (§1.1)
                "annotation_attributes": {
                    "parked": {"description": "Parked?", "choices": ["yes", "no"],
                               "conditions": {"label_condition": {"label": ["car", "bus"]}}},
                },
            }
        ),
    )  # fmt: skip
    page.get_by_role("button", name="Fill the form from this payload").click()
    page.wait_for_load_state()
    view = page.locator("#labeller-view")
    page.wait_for_function("() => document.querySelector('#labeller-view .palette-label')")
    assert "Paint" in view.inner_text()
    view.get_by_role("button", name="road").click()
    assert visible_questions(page) == []
    assert page.locator("#labeller-none").is_visible()
    view.get_by_role("button", name="bus").click()
    assert visible_questions(page) == ["Parked?"]
    page.wait_for_function("() => document.querySelector('#labeller-media img')?.naturalWidth === 640")
    page.wait_for_function("() => document.querySelector('#media-checks li.checked')", timeout=60_000)
