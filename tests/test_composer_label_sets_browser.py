"""Fast label sets in real Chromium: filter, drag, keyboard-only composing, raw JSON mode, and
one task-level label list for video geometries."""

from __future__ import annotations

import json

import pytest

from tests.conftest import login_in_browser
from tests.test_composer_browser import js_errors, key, save_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def settled_payload(page) -> dict:
    page.wait_for_timeout(600)  # let a last queued preview land
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    return json.loads(page.locator("#payload-json").text_content())


def wait_payload(page, check_js: str) -> dict:
    """Waits until the preview's payload satisfies `check_js` (a function of the payload)."""
    page.wait_for_function(
        f"() => {{ const p = document.querySelector('#payload-json'); if (!p) return false;"
        f" try {{ return ({check_js})(JSON.parse(p.textContent)); }} catch (e) {{ return false; }} }}"
    )
    return settled_payload(page)


def visible_names(page, scope: str) -> list[str]:
    return page.evaluate(
        "(scope) => Array.from(document.querySelectorAll(scope + ' input.label-name'))"
        ".filter(i => i.offsetParent !== null).map(i => i.value)",
        scope,
    )


def test_filtering_a_sixty_label_tree_shows_matches_with_their_ancestors(page, live_server, users):
    lines = ["vehicle", "  car", "    sedan", "    hatchback", "  truck", "animal", "  dog", "  cat"]
    lines += [f"thing {i}" for i in range(52)]
    assert len(lines) == 60
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    page.get_by_role("button", name="Paste a list of labels at once").click()
    page.get_by_label("Paste labels").fill("\n".join(lines))
    page.get_by_role("button", name="Add the pasted labels").click()
    assert page.locator("#labels-card input.label-name").count() == 60
    box = page.get_by_label("Filter labels")
    box.fill("back")
    status = page.locator("#labels-card .tree-filter-status")
    assert status.inner_text() == "1 label matches “back”"
    assert visible_names(page, "#labels-card") == ["vehicle", "car", "hatchback"]
    box.fill("CA")  # case does not matter; the display name counts too
    assert visible_names(page, "#labels-card") == ["vehicle", "car", "animal", "cat"]
    assert status.inner_text() == "2 labels match “CA”"
    box.fill("thing 4")
    assert visible_names(page, "#labels-card") == ["thing 4"] + [f"thing {i}" for i in range(40, 50)]
    box.fill("zebra")
    assert status.inner_text() == "No label matches “zebra”"
    assert visible_names(page, "#labels-card") == []
    # The filter survives a change to the tree, and clearing it shows everything again.
    page.get_by_role("button", name="Add label", exact=True).click()
    page.keyboard.type("zebra")
    assert visible_names(page, "#labels-card") == ["zebra"]
    box.fill("")
    assert len(visible_names(page, "#labels-card")) == 61
    box.fill("a")
    save_screenshot(page, "composer-label-filter")
    page.set_viewport_size({"width": 375, "height": 800})
    unfold(page, "#labels-card")
    page.locator("#labels-card .tree-filter").scroll_into_view_if_needed()
    assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
    save_screenshot(page, "composer-label-filter-phone", full_page=False)
    assert js_errors(page) == []


def unfold(page, card: str) -> None:
    """At phone width the composer folds its cards to their headings: open this one."""
    page.wait_for_function(f"() => document.querySelector('{card} .card-toggle')")
    if "folded" in (page.locator(card).get_attribute("class") or ""):
        page.locator(f"{card} .card-toggle").click()


def drop_on(page, source_key: str, target_key: str, where: str) -> None:
    """Drags a row's handle onto another row: its top edge, bottom edge or middle."""
    row = key(page, target_key).locator("xpath=..")
    height = row.bounding_box()["height"]
    y = {"before": 2, "after": height - 2, "inside": height / 2}[where]
    key(page, source_key).drag_to(row, target_position={"x": 60, "y": y})


def test_dragging_labels_reorders_and_nests_them(page, live_server, users):
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    page.get_by_role("button", name="Paste a list of labels at once").click()
    page.get_by_label("Paste labels").fill("vehicle\nroad\ncar\nsky")
    page.get_by_role("button", name="Add the pasted labels").click()
    wait_payload(page, "p => JSON.stringify(p.labels) === JSON.stringify(['vehicle', 'road', 'car', 'sky'])")
    # sky before vehicle.
    drop_on(page, "labels:3:drag", "labels:0:name", "before")
    wait_payload(page, "p => JSON.stringify(p.labels) === JSON.stringify(['sky', 'vehicle', 'road', 'car'])")
    # car into vehicle.
    drop_on(page, "labels:3:drag", "labels:1:name", "inside")
    shown = wait_payload(page, "p => p.labels.length === 3")
    assert shown["labels"] == ["sky", {"choice": "vehicle", "subchoices": ["car"]}, "road"]
    assert "car is now under vehicle." in page.locator("#labels-card .tree-status").inner_text()
    # road after car, inside vehicle; then sky after road.
    drop_on(page, "labels:2:drag", "labels:1.0:name", "after")
    drop_on(page, "labels:0:drag", "labels:1.1:name", "after")
    shown = wait_payload(page, "p => p.labels.length === 1")
    assert shown["labels"] == [{"choice": "vehicle", "subchoices": ["car", "road", "sky"]}]
    # A label cannot go into its own sub-label: nothing changes.
    drop_on(page, "labels:0:drag", "labels:0.1:name", "inside")
    assert settled_payload(page)["labels"] == [{"choice": "vehicle", "subchoices": ["car", "road", "sky"]}]
    # Dragged out again to the top level, before vehicle: the empty sub-list goes too.
    for i in range(3):
        drop_on(page, f"labels:{i}.0:drag", f"labels:{i}:name", "before")
        wait_payload(page, f"p => p.labels.length === {i + 2}")
    assert settled_payload(page)["labels"] == ["car", "road", "sky", "vehicle"]
    # One undo takes the last drag back.
    page.keyboard.press("Control+z")
    shown = wait_payload(page, "p => p.labels.length === 3")
    assert shown["labels"] == ["car", "road", {"choice": "vehicle", "subchoices": ["sky"]}]
    assert js_errors(page) == []


MOUSE_WATCH = """() => {
  window.__mouseEvents = [];
  for (const type of ['mousedown', 'mouseup', 'mousemove', 'pointerdown', 'pointerup', 'dblclick',
                      'contextmenu', 'wheel', 'dragstart', 'drop']) {
    document.addEventListener(type, e => window.__mouseEvents.push(type), true);
  }
  // A click from the keyboard (Enter/Space on a button) has detail 0; a mouse click has 1+.
  document.addEventListener('click', e => { if (e.detail > 0) window.__mouseEvents.push('click'); }, true);
}"""


def tab_to(page, selector: str, *, limit: int = 300, backwards: bool = False) -> None:
    """Presses Tab until the focus is on `selector`: how a keyboard user gets there."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
    raise AssertionError(f"Tab never reached {selector}")


def focused_key(page) -> str | None:
    return page.evaluate("() => document.activeElement && document.activeElement.getAttribute('data-key')")


def test_a_segmentation_task_composed_with_the_keyboard_alone(page, live_server, users, settings):
    from annotator.tasks.models import Task

    settings.SITE_URL = live_server.url
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    page.wait_for_selector("#payload-json")
    page.evaluate(MOUSE_WATCH)
    tab_to(page, "#id_attachment")
    page.keyboard.type(f"{live_server.url}/sandbox/media/street-1.png")
    tab_to(page, '#labels-card button[aria-label="Add label"]')
    page.keyboard.press("Enter")
    assert focused_key(page) == "labels:0:name"
    page.keyboard.type("vehicle")
    # Tab on the first label (nothing above it) is not taken: the focus moves on as usual.
    page.keyboard.press("Tab")
    assert focused_key(page) == "labels:0:display"
    page.keyboard.press("Shift+Tab")
    assert focused_key(page) == "labels:0:name"
    page.keyboard.press("Enter")  # a sibling after it, focused
    assert focused_key(page) == "labels:1:name"
    page.keyboard.type("car")
    page.keyboard.press("Tab")  # under vehicle
    assert focused_key(page) == "labels:0.0:name"
    page.keyboard.press("Enter")
    assert focused_key(page) == "labels:0.1:name"
    page.keyboard.type("truck")
    page.keyboard.press("Enter")
    page.keyboard.type("road")
    page.keyboard.press("Shift+Tab")  # back out to the top, after vehicle
    assert focused_key(page) == "labels:1:name"
    assert "road is now after vehicle." in page.locator("#labels-card .tree-status").inner_text()
    # Shift+Tab on a top-level label is not taken either: the focus moves back, nothing moves.
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("() => document.activeElement.getAttribute('aria-label')") == "Remove truck"
    shown = wait_payload(page, "p => p.labels && p.labels.length === 2 && p.labels[1] === 'road'")
    assert shown["labels"] == [{"choice": "vehicle", "subchoices": ["car", "truck"]}, "road"]

    tab_to(page, '#attributes-card button[aria-label="Add attribute"]')
    page.keyboard.press("Enter")
    assert focused_key(page) == "a0:id"
    page.keyboard.press("Control+a")
    page.keyboard.type("occluded")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert focused_key(page) == "a0:desc"
    page.keyboard.type("Is it hidden?")
    tab_to(page, '#attribute-0 button[aria-label="Add choice"]')
    page.keyboard.press("Enter")
    page.keyboard.type("yes")
    page.keyboard.press("Enter")
    page.keyboard.type("no")
    page.keyboard.press("Escape")  # done writing: Tab now moves on instead of nesting "no"
    wait_payload(
        page,
        "p => p.annotation_attributes && p.annotation_attributes.occluded"
        " && (p.annotation_attributes.occluded.choices || []).length === 2",
    )
    # Tabbing on through the labels and choices changes nothing.
    tab_to(page, "#submit-button")
    assert page.evaluate("() => window.__mouseEvents") == []
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('.msg-success')")
    task = Task.objects.get()
    assert task.payload["labels"] == [{"choice": "vehicle", "subchoices": ["car", "truck"]}, "road"]
    assert task.payload["annotation_attributes"] == {
        "occluded": {"type": "category", "description": "Is it hidden?", "choices": ["yes", "no"]}
    }
    assert js_errors(page) == []


def test_raw_json_mode_round_trips_and_keeps_invalid_text(page, live_server, users):
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    page.locator("#labels-card").get_by_role("button", name="Add label", exact=True).click()
    page.keyboard.type("car")
    wait_payload(page, "p => JSON.stringify(p.labels) === '[\"car\"]'")
    page.get_by_role("button", name="Edit as JSON: labels").click()
    area = page.locator("#json-id_labels_json")
    assert json.loads(area.input_value()) == ["car"]
    assert page.locator("#labels-card .builder").is_hidden()
    area.fill('["car", {"choice": "vehicle", "subchoices": ["bus", {"choice": "van", "display": "Van"}]}]')
    wanted = ["car", {"choice": "vehicle", "subchoices": ["bus", {"choice": "van", "display": "Van"}]}]
    shown = wait_payload(page, "p => p.labels.length === 2")
    assert shown["labels"] == wanted
    # Invalid JSON: said at the box, the text kept, the labels unchanged.
    broken = '["car", {"choice": "vehicle", '
    area.fill(broken)
    error = page.locator("#json-error-id_labels_json")
    assert "Not valid JSON" in error.inner_text()
    assert area.get_attribute("aria-invalid") == "true"
    assert settled_payload(page)["labels"] == wanted
    page.get_by_role("button", name="Back to the editor: labels").click()  # back to the editor: refused
    assert area.input_value() == broken and area.is_visible()
    assert "Fix it to go back to the editor" in error.inner_text()
    area.fill(json.dumps([*wanted, "sky"]))
    assert error.is_hidden()
    wait_payload(page, "p => p.labels.length === 3")
    page.get_by_role("button", name="Back to the editor: labels").click()
    assert key(page, "labels:1.1:name").input_value() == "van"
    assert key(page, "labels:1.1:display").input_value() == "Van"
    assert key(page, "labels:2:name").input_value() == "sky"
    # Undo works across the switch: back to what the JSON box had before "sky", then to "car" alone.
    page.locator("h1").click()
    page.keyboard.press("Control+z")
    page.wait_for_function("() => document.querySelectorAll('#labels-card input.label-name').length === 4")
    assert settled_payload(page)["labels"] == wanted
    page.keyboard.press("Control+z")
    page.wait_for_function("() => document.querySelectorAll('#labels-card input.label-name').length === 1")
    # Undo while in JSON mode shows the restored value in the box.
    page.get_by_role("button", name="Edit as JSON: labels").click()
    assert json.loads(area.input_value()) == ["car"]
    page.locator("h1").click()
    page.keyboard.press("Control+Shift+z")
    page.wait_for_function("() => document.querySelector('#json-id_labels_json').value.includes('vehicle')")
    assert json.loads(area.input_value()) == wanted
    # Inside the box, Ctrl+Z is the browser's own undo of the text, and reaches the field too.
    area.press("End")
    page.keyboard.press("Control+End")
    page.keyboard.press("Backspace")
    page.keyboard.type(', "sky"]')
    wait_payload(page, "p => p.labels.length === 3")

    def parsed() -> object:
        try:
            return json.loads(area.input_value())
        except ValueError:
            return None

    for _ in range(20):  # the browser decides how much typing one undo step takes back
        page.keyboard.press("Control+z")
        if parsed() == wanted:
            break
    assert parsed() == wanted
    wait_payload(page, "p => p.labels.length === 2")
    # Attributes and metadata have the same switch.
    page.get_by_role("button", name="Edit as JSON: attributes").click()
    page.locator("#json-id_attributes_json").fill('{"size": {"type": "number", "description": "How big?", "min": 0}}')
    page.get_by_role("button", name="Edit as JSON: metadata").click()
    page.locator("#json-id_metadata_json").fill('{"camera": "front", "n": 2}')
    shown = wait_payload(page, "p => p.annotation_attributes && p.metadata")
    assert shown["annotation_attributes"] == {"size": {"type": "number", "description": "How big?", "min": 0}}
    assert shown["metadata"] == {"camera": "front", "n": 2}
    page.get_by_role("button", name="Back to the editor: attributes").click()
    assert key(page, "a0:id").input_value() == "size"
    assert key(page, "a0:min").input_value() == "0"
    assert js_errors(page) == []


IMPORTED = {
    "attachment": "https://example.org/traffic.mp4",
    "attachment_type": "video",
    "frame_rate": 5,
    "geometries": {
        "box": {"objects_to_annotate": ["car", "truck", {"choice": "bus", "display": "Bus"}], "min_width": 5},
        "polygon": {"objects_to_annotate": ["car", {"choice": "bus", "display": "Bus"}]},
        # Another order than the task list: this one keeps its own list, exactly.
        "line": {"objects_to_annotate": ["truck", "car"]},
        "point": {"objects_to_annotate": ["pedestrian"]},
    },
}


@pytest.mark.parametrize("task_type", ["videoannotation", "videoplaybackannotation"])
def test_video_geometries_pick_from_one_task_label_list(page, live_server, users, task_type):
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/{task_type}/")
    page.locator("details.import-box summary").click()
    page.fill("#import-json", json.dumps(IMPORTED))
    page.get_by_role("button", name="Fill the form from this payload").click()
    page.wait_for_load_state()
    shown = wait_payload(page, "p => !!p.geometries")
    assert shown["geometries"] == IMPORTED["geometries"]  # nothing lost, nothing reordered
    assert [key(page, f"task-labels:{i}:name").input_value() for i in range(4)] == ["car", "truck", "bus", "pedestrian"]
    picks = {
        kind: [key(page, f"g:{kind}:pick:{i}").is_checked() for i in range(4)] for kind in ("box", "polygon", "point")
    }
    assert picks == {
        "box": [True, True, True, False],
        "polygon": [True, False, True, False],
        "point": [False, False, False, True],
    }
    assert "has its own list" in page.locator("#geometry-line").inner_text()
    assert key(page, "g-line:0:name").input_value() == "truck"

    # A rename in the task list reaches every geometry that offers the label.
    key(page, "task-labels:0:name").fill("sedan")
    shown = wait_payload(page, "p => p.geometries.box.objects_to_annotate[0] === 'sedan'")
    assert shown["geometries"]["polygon"]["objects_to_annotate"] == ["sedan", {"choice": "bus", "display": "Bus"}]
    assert shown["geometries"]["line"] == {"objects_to_annotate": ["truck", "car"]}
    # A new label goes to geometries that offered every label; the others keep their choice.
    page.locator("#geometries-card .task-labels").get_by_role("button", name="Add label", exact=True).click()
    page.keyboard.type("cyclist")
    shown = wait_payload(
        page,
        "p => p.geometries.point.objects_to_annotate.length === 1"
        " && JSON.stringify(p.geometries.box).includes('cyclist') === false",
    )
    assert shown["geometries"]["box"]["objects_to_annotate"] == ["sedan", "truck", {"choice": "bus", "display": "Bus"}]
    key(page, "g:point:pick:4").check()
    key(page, "g:polygon:pick:2").uncheck()
    shown = wait_payload(page, "p => p.geometries.point.objects_to_annotate.length === 2")
    assert shown["geometries"]["point"]["objects_to_annotate"] == ["pedestrian", "cyclist"]
    assert shown["geometries"]["polygon"]["objects_to_annotate"] == ["sedan"]
    # A newly switched-on geometry offers every label.
    page.check("#geometry-ellipse-on")
    shown = wait_payload(page, "p => p.geometries.ellipse && p.geometries.ellipse.objects_to_annotate")
    assert shown["geometries"]["ellipse"]["objects_to_annotate"] == [
        "sedan", "truck", {"choice": "bus", "display": "Bus"}, "pedestrian", "cyclist"
    ]  # fmt: skip
    # The line joins the task list on request: its labels are ticked there, its objects unchanged.
    page.get_by_role("button", name="Use the task's label list for line").click()
    page.wait_for_selector("#geometry-line .geometry-picks")
    assert key(page, "task-labels:5:name").input_value() == "car"  # renamed away above, so added back
    assert [key(page, f"g:line:pick:{i}").is_checked() for i in range(6)] == [False, True, False, False, False, True]
    shown = settled_payload(page)
    assert shown["geometries"]["line"] == {"objects_to_annotate": ["truck", "car"]}
    # The geometries' JSON mode shows exactly what is sent.
    page.get_by_role("button", name="Edit as JSON: geometries").click()
    assert json.loads(page.locator("#json-id_geometries_json").input_value()) == shown["geometries"]
    page.get_by_role("button", name="Back to the editor: geometries").click()
    page.set_viewport_size({"width": 375, "height": 800})
    unfold(page, "#geometries-card")
    page.locator("#geometries-card").scroll_into_view_if_needed()
    assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
    if task_type == "videoannotation":  # the playback composer's builder is the same
        page.set_viewport_size({"width": 1280, "height": 900})
        save_screenshot(page, "composer-task-labels")
        page.set_viewport_size({"width": 375, "height": 800})
        unfold(page, "#geometries-card")
        page.locator("#geometries-card .task-labels").scroll_into_view_if_needed()
        save_screenshot(page, "composer-task-labels-phone", full_page=False)
    assert js_errors(page) == []


def test_a_habitual_tab_after_a_label_added_with_the_button_moves_on_and_nests_nothing(page, live_server, users):
    """A new user's walk: "road", "+ Add", "car", Tab (to move on) sent car nested under road."""
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/compose/segmentannotation/")
    page.wait_for_selector("#payload-json")
    add = page.locator('#labels-card button[aria-label="Add label"]')
    add.click()
    page.keyboard.type("road")
    add.click()
    assert focused_key(page) == "labels:1:name"
    page.keyboard.type("car")
    page.keyboard.press("Tab")
    assert focused_key(page) == "labels:1:display"  # moved on, as Tab does in a form
    shown = wait_payload(page, "p => p.labels && p.labels.length === 2 && p.labels[1] === 'car'")
    assert shown["labels"] == ["road", "car"]
    # The outliner's flow still nests: Enter makes the next label, Tab puts it under the one above.
    page.locator('[data-key="labels:1:name"]').focus()
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.keyboard.type("truck")
    page.keyboard.press("Tab")
    assert focused_key(page) == "labels:1.0:name"
    shown = wait_payload(page, "p => p.labels && p.labels.length === 2 && typeof p.labels[1] === 'object'")
    assert shown["labels"] == ["road", {"choice": "car", "subchoices": ["truck"]}]
    assert js_errors(page) == []
