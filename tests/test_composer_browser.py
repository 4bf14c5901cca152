"""The composer end to end in real Chromium: builders, previews, payload preview, submit."""

from __future__ import annotations

import json
import shutil

import pytest

from annotator import scale_rules
from tests.conftest import login_in_browser
from tests.support import ARTIFACTS, BASE_DIR

SCREENSHOTS = BASE_DIR / "docs" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def js_errors(page) -> list[str]:
    """Script errors and CSP violations. A preview image on a host that does not resolve here
    (example.org: no internet) logs a failed load; the preview then says so, which is the point."""
    return [e for e in page.js_errors if e != "Failed to load resource: net::ERR_NAME_NOT_RESOLVED"]


def key(page, data_key: str):
    return page.locator(f'[data-key="{data_key}"]')


def add_label_tree(page, scope: str, prefix: str, add_label: str) -> None:
    """vehicle > car > sedan (three deep) plus a sibling leaf at the top: road / bus."""
    root = page.locator(scope)
    root.get_by_role("button", name=add_label, exact=True).first.click()
    key(page, f"{prefix}:0:name").fill("vehicle")
    key(page, f"{prefix}:0:sub").click()
    key(page, f"{prefix}:0.0:name").fill("car")
    key(page, f"{prefix}:0.0:sub").click()
    key(page, f"{prefix}:0.0.0:name").fill("sedan")
    key(page, f"{prefix}:0.0.0:display").fill("Sedan car")
    root.get_by_role("button", name=add_label, exact=True).first.click()
    key(page, f"{prefix}:1:name").fill("road" if prefix == "labels" else f"{prefix}-other")


def add_category_attribute(page, n: int, name: str, question: str, choices: tuple[str, ...]) -> None:
    """Attribute number `n` (0-based): a category attribute with its choices, typed in the builder."""
    page.locator("#attributes-card").get_by_role("button", name="Add attribute").click()
    key(page, f"a{n}:id").fill(name)
    key(page, f"a{n}:id").dispatch_event("change")
    key(page, f"a{n}:desc").fill(question)
    for i, choice in enumerate(choices):
        page.locator(f"#attribute-{n}").get_by_role("button", name="Add choice").click()
        key(page, f"a{n}c:{i}:name").fill(choice)


def add_attributes(page, leaf: str) -> None:
    """color (category) and shade, asked only for `leaf` and only when color is red."""
    add_category_attribute(page, 0, "color", "What colour is it?", ("red", "blue"))
    add_category_attribute(page, 1, "shade", "How dark?", ("light", "dark"))
    key(page, f"a1:lc:{leaf}").check()
    page.locator("#attribute-1").get_by_role("button", name="Only when another attribute has a value…").click()
    key(page, "a1:g0:color:red").check()


def add_metadata_and_tags(page) -> None:
    page.get_by_role("button", name="Add metadata key and value").click()
    page.locator("input.meta-key").last.fill("camera")
    page.locator("input.meta-value").last.fill("front-left")
    for tag in ("street", "day"):
        page.fill("#chip-input-tag", tag)
        page.press("#chip-input-tag", "Enter")


def preview_payload(page, must_contain: str) -> dict:
    page.wait_for_function(
        "([text]) => { const p = document.querySelector('#payload-json');"
        " return p && p.textContent.includes(text) && document.querySelector('#preview-valid'); }",
        arg=[must_contain],
    )
    page.wait_for_timeout(600)  # let a last queued preview land
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    return json.loads(page.locator("#payload-json").text_content())


def save_screenshot(page, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if full_page:
        page.evaluate("() => window.scrollTo(0, 0)")  # the sticky preview then sits beside the top of the form
    page.screenshot(path=str(path), full_page=full_page)
    shutil.copy(path, SCREENSHOTS / f"{name}.png")


def submit_and_check(page, task_type: str, shown: dict) -> None:
    from annotator.tasks.models import Task

    page.click("#submit-button")
    page.wait_for_load_state()
    page.wait_for_function("() => document.querySelector('.msg-success')")
    task = Task.objects.get()
    assert task.task_type == task_type and task.state == Task.State.QUEUED
    assert scale_rules.validate(task_type, task.payload) == []
    assert task.payload == shown


def test_it_composes_a_segmentation_task_through_the_builders(page, live_server, users, settings):
    settings.SITE_URL = live_server.url
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    page.fill("#id_attachment", f"{live_server.url}/sandbox/media/street-1.png")
    page.fill("#id_context_attachments", f"{live_server.url}/sandbox/media/street-2.png")
    page.fill("#id_instruction", '# Label the street\n\nPaint **every** car. <img src=x onerror="alert(1)">')
    page.fill("#id_unique_id", "browser-segmentation-1")
    add_label_tree(page, "#labels-card", "labels", "Add label")
    key(page, "labels:0.0.0:inst").check()
    add_attributes(page, "sedan")
    add_metadata_and_tags(page)

    shown = preview_payload(page, '"day"')
    assert shown["labels"] == [
        {"choice": "vehicle", "subchoices": [{"choice": "car", "subchoices": [
            {"choice": "sedan", "display": "Sedan car", "instance_label": True}]}]},
        "road",
    ]  # fmt: skip
    assert shown["annotation_attributes"]["shade"]["conditions"] == {
        "label_condition": {"label": ["sedan"]},
        "attribute_conditions": [{"color": "red"}],
    }
    assert shown["metadata"] == {"camera": "front-left"} and shown["tags"] == ["street", "day"]
    assert page.locator("#label-count").text_content() == "2 of 50 labels"
    assert page.locator("#instruction-preview h1").text_content() == "Label the street"
    assert page.locator("#instruction-preview img").count() == 0
    page.wait_for_selector("#preview-image, .media-main .media-error")
    assert page.locator(".thumbs img, .thumbs .media-error").count() == 1
    # The matrix: shade only for sedans, and only if the colour is red.
    matrix = page.locator("table.when-asked")
    assert matrix.locator("tr", has_text="shade").locator("td").all_text_contents() == ["if…", "—"]
    python = page.locator("#python-snippet").text_content()
    assert "TaskType.SegmentAnnotation" in python
    save_screenshot(page, "composer-segmentannotation")
    submit_and_check(page, "segmentannotation", shown)
    assert dialogs == [] and js_errors(page) == []


def compose_video(page, live_server, task_type: str) -> dict:
    page.goto(f"{live_server.url}/compose/{task_type}/")
    page.fill("#id_attachment", f"{live_server.url}/sandbox/media/traffic.mp4")
    page.fill("#id_instruction", "Track every **vehicle** while it is visible.")
    page.fill("#id_unique_id", f"browser-{task_type}-1")
    page.fill("#id_frame_rate", "5")
    page.check("#geometry-polygon-on")
    # One label list for the task; each geometry ticks the labels it offers (all by default).
    add_label_tree(page, "#geometries-card .task-labels", "task-labels", "Add label")
    page.locator("#geometries-card .task-labels").get_by_role("button", name="Add label", exact=True).click()
    key(page, "task-labels:2:name").fill("truck")
    key(page, "g:polygon:pick:2").uncheck()
    key(page, "g:polygon:min_vertices").fill("3")
    key(page, "g:polygon:max_vertices").fill("12")
    page.check("#geometry-cuboid-on")
    assert key(page, "g:cuboid:pick:0").is_checked()
    key(page, "g:cuboid:pick:0").uncheck()
    key(page, "g:cuboid:pick:1").uncheck()
    for field, value in (("fx", "1000"), ("fy", "1000"), ("cx", "640"), ("cy", "360"), ("skew", "0")):
        key(page, f"g:cuboid:camera_intrinsics.{field}").fill(value)
    for field, value in (("w", "1"), ("x", "0"), ("y", "0"), ("z", "0")):
        key(page, f"g:cuboid:camera_rotation_quaternion.{field}").fill(value)
    key(page, "g:cuboid:camera_height").fill("1.5")
    add_attributes(page, "sedan")
    page.fill("#chip-input-event", "overtake")
    page.press("#chip-input-event", "Enter")
    add_metadata_and_tags(page)
    shown = preview_payload(page, '"day"')
    assert shown["geometries"]["polygon"] == {
        "objects_to_annotate": [
            {"choice": "vehicle", "subchoices": [{"choice": "car", "subchoices": [
                {"choice": "sedan", "display": "Sedan car"}]}]},
            "task-labels-other",
        ],
        "min_vertices": 3,
        "max_vertices": 12,
    }  # fmt: skip
    assert shown["geometries"]["cuboid"] == {
        "objects_to_annotate": ["truck"],
        "camera_intrinsics": {"fx": 1000, "fy": 1000, "cx": 640, "cy": 360, "skew": 0},
        "camera_rotation_quaternion": {"w": 1, "x": 0, "y": 0, "z": 0},
        "camera_height": 1.5,
    }
    assert shown["events_to_annotate"] == ["overtake"] and shown["frame_rate"] == 5
    page.wait_for_selector("#preview-video, .media-main .media-error")
    return shown


@pytest.mark.parametrize("task_type", ["videoannotation", "videoplaybackannotation"])
def test_it_composes_a_video_task_through_the_builders(page, live_server, users, settings, task_type):
    settings.SITE_URL = live_server.url
    login_in_browser(page, live_server, "alice", "alice-password-1")
    shown = compose_video(page, live_server, task_type)
    sdk = "VideoAnnotation" if task_type == "videoannotation" else "VideoPlaybackAnnotation"
    assert f"TaskType.{sdk}" in page.locator("#python-snippet").text_content()
    save_screenshot(page, f"composer-{task_type}")
    submit_and_check(page, task_type, shown)
    assert js_errors(page) == []


def test_rule_errors_show_next_to_the_builders_live_and_block_submit(page, live_server, users):
    from annotator.tasks.models import Task

    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/videoannotation/")
    page.fill("#id_attachment", "https://example.org/clip.avi")
    page.check("#geometry-polygon-on")
    key(page, "g:polygon:min_vertices").fill("10")
    key(page, "g:polygon:max_vertices").fill("3")
    page.wait_for_function(
        "() => document.querySelector('#issues-geometries_json')?.textContent.includes('must be at least min_vertices')"
    )
    assert "video must be an mp4, webm or ogg file" in page.locator("#issues-attachment").text_content()
    page.click("#submit-button")
    page.wait_for_load_state()
    assert "problems to fix; nothing was created" in page.locator("#validate-errors").text_content()
    # The builders come back with what was typed.
    assert key(page, "g:polygon:max_vertices").input_value() == "3"
    assert Task.objects.count() == 0
    # Tags are capped visibly at five.
    for tag in "abcde":
        page.fill("#chip-input-tag", tag)
        page.press("#chip-input-tag", "Enter")
    assert page.locator("#chip-input-tag").is_disabled()
    assert "5 of 5 tags: remove one to add another" in page.locator(".chip-count").text_content()
    assert js_errors(page) == []


def test_import_fills_the_builders(page, live_server, users):
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/videoannotation/")
    payload = {
        "attachments": ["https://example.org/f1.png", "https://example.org/f2.png"],
        "geometries": {"box": {"objects_to_annotate": ["car"], "can_rotate": True}},
        "tags": ["x"],
        "unknown_thing": 1,
    }
    page.locator("summary", has_text="Import an existing Scale payload").click()
    page.fill("#import-json", json.dumps(payload))
    page.get_by_role("button", name="Fill the form from this payload").click()
    page.wait_for_load_state()
    assert "unknown_thing" in page.locator("#import-kept").text_content()
    assert json.loads(page.locator("#id_extra_json").input_value()) == {"unknown_thing": 1}
    assert page.locator("#geometry-box-on").is_checked()
    assert key(page, "task-labels:0:name").input_value() == "car"
    assert key(page, "g:box:pick:0").is_checked()
    assert page.locator(".filmstrip figure").count() == 2
    page.wait_for_function("() => document.querySelector('#payload-json')?.textContent.includes('f2.png')")
    page.wait_for_timeout(600)
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    assert json.loads(page.locator("#payload-json").text_content()) == payload  # all of it, unknown key included


def test_the_composer_fits_a_phone_screen(browser, live_server, users):
    context = browser.new_context(viewport={"width": 375, "height": 800}, device_scale_factor=2)
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/videoannotation/")
    # At phone width the cards fold to their headings: open the two this test fills.
    page.locator("#geometries-card .card-toggle").click()
    page.locator("#attributes-card .card-toggle").click()
    page.check("#geometry-cuboid-on")
    page.check("#geometry-point-on")
    page.locator("#attributes-card").get_by_role("button", name="Add attribute").click()
    page.wait_for_selector("#payload-json")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    page.evaluate("() => document.querySelector('#geometries-card').scrollIntoView()")
    save_screenshot(page, "composer-phone", full_page=False)
    context.close()
    assert errors == []


def test_the_prelabel_previews_draw_the_mask_and_the_boxes(page, live_server, users, settings):
    import io
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from PIL import Image

    mask = Image.new("L", (64, 40), 0)
    mask.paste(1, (0, 0, 32, 40))  # left half is label index 1
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    png = buffer.getvalue()

    class MaskHost(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *args):
            pass

    # The mask host plays a public one: the operator trusts it (FETCH_TRUSTED_URLS).
    server = ThreadingHTTPServer(("127.0.0.1", 0), MaskHost)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.FETCH_TRUSTED_URLS = [f"http://127.0.0.1:{server.server_port}/"]
    try:
        login_in_browser(page, live_server, "alice", "alice-password-1")
        page.goto(f"{live_server.url}/compose/segmentannotation/")
        page.fill("#id_attachment", f"{live_server.url}/sandbox/media/street-1.png")
        page.locator("#labels-card").get_by_role("button", name="Add label", exact=True).click()
        key(page, "labels:0:name").fill("car")
        hypothesis = {
            "labelMapping": {"car": {"index": 1, "color": "#ff0000"}},
            "annotations": {"combined": {"indexedImage": f"http://127.0.0.1:{server.server_port}/mask.png"}},
        }
        page.fill("#id_hypothesis_json", json.dumps(hypothesis))
        page.wait_for_function(
            "() => document.querySelector('#hypothesis-preview')?.textContent.includes('Mask 64\\u00d740 drawn')"
        )
        assert "car (index 1)" in page.locator("#hypothesis-preview .legend").text_content()
        # The left half is tinted red by the mask, the right half keeps the street's colours.
        left, right = page.evaluate(
            "() => { const c = document.querySelector('#hypothesis-preview canvas').getContext('2d');"
            " return [Array.from(c.getImageData(5, 20, 1, 1).data), Array.from(c.getImageData(60, 20, 1, 1).data)]; }"
        )
        assert left[0] > 150 and left[0] > left[1] + 60
        assert not (right[0] > 150 and right[0] > right[1] + 60)
        shown = preview_payload(page, "indexedImage")
        assert shown["hypothesis"] == hypothesis

        page.goto(f"{live_server.url}/compose/videoplaybackannotation/")
        page.fill("#id_attachment", f"{live_server.url}/sandbox/media/traffic.mp4")
        page.check("#geometry-box-on")
        base = {"annotations": [{"left": 10, "top": 20, "width": 60, "height": 40, "label": "car", "uuid": "a"}]}
        page.fill("#id_base_annotations_json", json.dumps(base))
        page.select_option("#id_can_edit_base_annotations", "false")
        page.wait_for_function("() => document.querySelector('#base-preview')?.textContent.includes('1 box drawn')")
        shown = preview_payload(page, "can_edit_base_annotations")
        assert shown["base_annotations"] == base and shown["can_edit_base_annotations"] is False
        assert js_errors(page) == []
    finally:
        server.shutdown()
        server.server_close()


def test_library_items_are_applied_into_the_open_composer(page, live_server, users):
    from annotator.composer.models import AttributeSet, LabelSet

    LabelSet.objects.create(workspace=users.ws_a, name="Street labels", labels=["car", {"choice": "person"}])
    AttributeSet.objects.create(
        workspace=users.ws_a,
        name="Occlusion",
        attributes={"occluded": {"type": "category", "description": "Occluded?", "choices": ["yes", "no"]}},
    )
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    labels_menu = page.locator("#labels-card .library-row")
    labels_menu.locator("select").select_option(label="Street labels")
    labels_menu.get_by_role("button", name="Apply the chosen library item").click()
    attributes_menu = page.locator("#attributes-card .library-row")
    attributes_menu.locator("select").select_option(label="Occlusion")
    attributes_menu.get_by_role("button", name="Apply the chosen library item").click()
    assert key(page, "labels:1:name").input_value() == "person"
    page.fill("#id_attachment", "https://example.org/a.png")
    page.wait_for_function("() => document.querySelector('#payload-json')?.textContent.includes('occluded')")
    page.wait_for_timeout(600)
    shown = json.loads(page.locator("#payload-json").text_content())
    assert shown["labels"] == ["car", {"choice": "person"}]  # exactly the saved set
    assert shown["annotation_attributes"]["occluded"]["choices"] == ["yes", "no"]
    assert js_errors(page) == []
