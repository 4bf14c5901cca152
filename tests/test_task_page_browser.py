"""End to end in real Chromium: compose, the sandbox completes, the table updates live,
the result viewer draws the mask, and the email arrives."""

from __future__ import annotations

import json
import shutil

import pytest

from annotator.tasks.models import Task
from tests import support
from tests.conftest import login_in_browser

SCREENSHOTS = support.BASE_DIR / "docs" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def screenshot(page, name: str) -> None:
    support.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = support.ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    shutil.copy(path, SCREENSHOTS / f"{name}.png")


def compose(page, live_server, task_type: str = "segmentannotation", payload: dict | None = None) -> None:
    """Through the composer's import box: the shortest real path to a submitted task."""
    page.goto(f"{live_server.url}/compose/{task_type}/")
    payload = payload or {
        "attachment": f"{live_server.url}/sandbox/media/street-1.png",
        "labels": ["road", "sky", {"choice": "car", "instance_label": True}],
        "project": "street",
        "tags": ["browser"],
        "instruction": "Label every pixel.",
    }
    page.locator("summary", has_text="Import an existing Scale payload").click()
    page.fill("#import-json", json.dumps(payload))
    page.click("button[name=action][value=import]")  # "Fill the form from this payload"
    page.wait_for_load_state()
    page.wait_for_function("() => document.querySelector('#preview-valid')")
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    page.click("#submit-button")
    page.wait_for_url("**/tasks/*/")


def test_a_task_completes_live_shows_its_mask_and_emails_its_submitter(page, live_server, users, settings, smtp_server):

    settings.SITE_URL = live_server.url
    settings.SANDBOX_FAULTS = ""
    ws = users.ws_a
    ws.set_api_key("browser-test-key")
    ws.save()
    support.sandbox_account("browser-test-key", ws.callback_auth_key, projects=("street",))
    worker = support.Worker(
        concurrency=3,
        SITE_URL=live_server.url,
        SANDBOX_COMPLETE_AFTER="4",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_server.port),
        EMAIL_USE_TLS="false",
    ).start()
    try:
        login_in_browser(page, live_server, "alice", "alice-password-1")
        compose(page, live_server)
        task = Task.objects.get()

        # The table, opened while the task is still pending at Scale.
        page.goto(f"{live_server.url}/tasks/")
        badge = page.locator(f"#st-{task.code} .badge")
        assert badge.text_content() in ("queued", "submitting", "pending", "submitted")
        page.check(f"#row-{task.code} input.pick")
        page.focus("#f-q")
        page.evaluate("window.__sameDocument = true")
        badge.filter(has_text="completed").wait_for(timeout=30000)
        # Updated by polling, not by a reload: the page, the selection and the focus survived.
        assert page.evaluate("window.__sameDocument") is True
        assert page.is_checked(f"#row-{task.code} input.pick")
        assert page.evaluate("document.activeElement.id") == "f-q"
        assert page.locator("#selected-count").text_content() == "1 selected"
        screenshot(page, "tasks-status-table")

        # The task page: the viewer draws the copied mask with a legend.
        page.goto(f"{live_server.url}/tasks/{task.code}/")
        page.wait_for_selector("#result-viewer[data-drawn='1']", timeout=30000)
        painted = page.evaluate(
            """() => { const c = document.querySelector('#rv-mask');
                 const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                 let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
        )
        assert painted > 1000
        legend = page.locator("#rv-legend label")
        assert legend.count() >= 3 and legend.first.is_visible()
        # The sandbox's result says it is made up (a new user took it for a labeller's work).
        assert "Drawn by the built-in sandbox, not by a labeller" in page.locator("#sandbox-result").inner_text()
        # A per-label toggle hides that label's pixels.
        legend.first.locator("input").uncheck()
        fewer = page.evaluate(
            """() => { const c = document.querySelector('#rv-mask');
                 const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                 let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
        )
        assert fewer < painted
        legend.first.locator("input").check()
        assert "Callback" in page.locator(".timeline").text_content()
        screenshot(page, "task-page-result")

        support.wait_until(lambda: len(smtp_server.messages) >= 1, timeout=30, message="the email")
        message = smtp_server.messages[0]
        assert message["To"] == "alice@example.org" and message["Subject"].startswith("Completed:")
        assert any(p.get("Content-ID") == "<result-thumbnail>" for p in message.walk())

        phone = page.context.browser.new_context(viewport={"width": 375, "height": 800})
        p2 = phone.new_page()
        login_in_browser(p2, live_server, "alice", "alice-password-1")
        p2.goto(f"{live_server.url}/tasks/")
        too_wide = p2.evaluate(
            """() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 376)
                 .map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 5)"""
        )
        assert p2.evaluate("document.documentElement.scrollWidth") <= 375, too_wide
        screenshot(p2, "tasks-status-table-phone")
        phone.close()
    finally:
        worker.stop()
    assert page.js_errors == []


def open_video_result(
    page, live_server, users, media_root, *, task_type: str, payload: dict, annotations: list | dict
) -> None:
    """A completed video task whose annotations file is already copied, open in the viewer."""
    from annotator.tasks.models import ResultFile
    from tests.test_callbacks_receiver import make_task

    task = make_task(
        users.ws_a,
        users.alice,
        task_type=task_type,
        payload=payload,
        scale_status="completed",
        response={"annotations": {"url": "https://x/a.json"}},
    )
    folder = media_root / "results" / task.code.hex
    folder.mkdir(parents=True)
    (folder / "annotations.json").write_text(json.dumps(annotations))
    ResultFile.objects.create(
        task=task,
        name="annotations",
        source_url="https://x/a.json",
        path=f"results/{task.code.hex}/annotations.json",
        content_type="application/json",
    )
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/tasks/{task.code}/")
    page.wait_for_selector("#result-viewer[data-drawn='1']")


def test_the_video_viewer_draws_boxes_per_frame_with_a_scrubber(page, live_server, users, settings, tmp_path):
    from tests.test_callbacks_receiver import fixture

    settings.MEDIA_ROOT = tmp_path
    frames = [f"{live_server.url}/sandbox/media/street-{n}.png" for n in (1, 2)]
    payload = {"attachments": frames, "frame_rate": 2}
    annotations = fixture("videoannotation-annotations-file.json")
    open_video_result(
        page, live_server, users, tmp_path, task_type="videoannotation", payload=payload, annotations=annotations
    )
    assert page.locator("#rv-frame-no").text_content() == "frame 0 / 1"
    assert page.locator("#rv-tracks li").count() == 2  # one colour per track (uuid)
    boxes = """() => { const c = document.querySelector('#rv-boxes');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
    page.wait_for_function(f"({boxes})() > 100")
    page.locator("#rv-scrub").fill("1")
    assert page.locator("#rv-frame-no").text_content() == "frame 1 / 1"
    assert page.get_attribute("#rv-frame", "src") == frames[1]
    page.click("#rv-play")
    assert page.locator("#rv-play").text_content() in ("Pause", "Play")
    assert page.js_errors == []


@pytest.mark.parametrize("name", ["traffic.mp4", "traffic.webm"])
def test_the_video_viewer_plays_the_video_with_its_boxes_in_step(page, live_server, users, settings, tmp_path, *, name):
    """The <video> path: a videoplaybackannotation over the sandbox's H.264 (mp4) and VP8 (webm) clips."""
    from annotator.sandbox.media import VIDEO_FPS, VIDEO_SECONDS, VIDEO_SIZE

    settings.MEDIA_ROOT = tmp_path
    count = VIDEO_FPS * VIDEO_SECONDS
    # One car track moving 2 px a frame: frame n's box has its left edge at x = 10 + 2n.
    # Scale's playback file: tracks keyed by uuid, each frame with its video frame key and time.
    frames = {
        "track-car": {"label": "car", "geometry": "box", "frames": [
            {"key": n, "timestamp": n / VIDEO_FPS, "left": 10 + 2 * n, "top": 100, "width": 60, "height": 40,
             "attributes": {}}
            for n in range(count)
        ]}
    }  # fmt: skip
    payload = {"attachment": f"{live_server.url}/sandbox/media/{name}", "frame_rate": VIDEO_FPS}
    open_video_result(
        page, live_server, users, tmp_path, task_type="videoplaybackannotation", payload=payload, annotations=frames
    )
    video = "document.querySelector('#rv-video')"
    # Arrow functions, not bare expressions: the page's CSP forbids eval.
    page.wait_for_function(f"() => {video}.readyState >= 2", timeout=15000)  # the browser decoded a frame
    assert page.evaluate(f"() => {video}.error") is None
    # The boxes' canvas takes the video's own size, so Scale's pixel coordinates line up.
    size = "() => [document.querySelector('#rv-boxes').width, document.querySelector('#rv-boxes').height]"
    assert page.evaluate(size) == [*VIDEO_SIZE]
    assert page.locator("#rv-frame-no").text_content() == f"frame 0 / {count - 1}"
    alpha = """([x, y]) => document.querySelector('#rv-boxes').getContext('2d').getImageData(x, y, 1, 1).data[3]"""
    assert page.evaluate(alpha, [10, 120]) > 0  # frame 0's box

    # Scrubbing seeks the video to the frame's time and draws that frame's box.
    page.locator("#rv-scrub").fill("50")
    page.wait_for_function(f"() => Math.abs({video}.currentTime - {50 / VIDEO_FPS}) < 0.01")
    assert page.locator("#rv-frame-no").text_content() == f"frame 50 / {count - 1}"
    assert page.evaluate(alpha, [110, 120]) > 0 and page.evaluate(alpha, [10, 120]) == 0

    # Play: the video runs, the frame number and the box follow it, and it stops at the end.
    page.evaluate("""() => { window.framesSeen = new Set();
        new MutationObserver(() => window.framesSeen.add(document.querySelector('#result-viewer').dataset.frame))
            .observe(document.querySelector('#result-viewer'), {attributes: true}); }""")
    page.click("#rv-play")
    assert page.locator("#rv-play").text_content() == "Pause"
    page.wait_for_function("() => Number(document.querySelector('#result-viewer').dataset.frame) > 55")
    page.wait_for_function(f"() => {video}.ended", timeout=15000)
    assert page.locator("#rv-play").text_content() == "Play"
    last = int(page.get_attribute("#result-viewer", "data-frame"))
    assert count - 3 <= last <= count - 1
    assert page.evaluate(alpha, [10 + 2 * last, 120]) > 0
    # Boxes follow the picture frame by frame, not only at the ~4 timeupdate events a second.
    assert page.evaluate("() => window.framesSeen.size") > 10
    assert page.js_errors == []


def _hue(css_rgb: str) -> float:
    import colorsys
    import re

    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", css_rgb)[:3])
    return colorsys.rgb_to_hsv(r, g, b)[0] * 360


def test_two_tracks_get_clearly_different_colours(page, live_server, users, settings, tmp_path):
    """Colours came from a hash of each uuid, so two tracks could share one green (seen on a sandbox
    playback task: "car 1" and "pedestrian 1" alike). Tracks now take hues in turn, far apart."""
    settings.MEDIA_ROOT = tmp_path
    box = {"top": 50, "width": 60, "height": 40, "attributes": {}}
    # "track-a" and "track-b" hash to hues one degree apart.
    tracks = {
        uuid: {"label": label, "geometry": "box", "frames": [
            {"key": n, "timestamp": n / 2, "left": left, **box} for n in range(2)
        ]}
        for uuid, label, left in (("track-a", "car", 10), ("track-b", "pedestrian", 200))
    }  # fmt: skip
    payload = {"attachment": f"{live_server.url}/sandbox/media/traffic.mp4", "frame_rate": 2}
    open_video_result(
        page, live_server, users, tmp_path, task_type="videoplaybackannotation", payload=payload, annotations=tracks
    )
    swatches = page.locator("#rv-tracks li .swatch")
    assert swatches.count() == 2
    hues = [_hue(swatches.nth(i).evaluate("e => getComputedStyle(e).backgroundColor")) for i in range(2)]
    gap = abs(hues[0] - hues[1])
    assert min(gap, 360 - gap) >= 60, hues
    # The boxes are drawn in the legend's colours.
    pixel = """([x, y]) => Array.from(
        document.querySelector('#rv-boxes').getContext('2d').getImageData(x, y, 1, 1).data)"""
    page.wait_for_function(f"() => ({pixel})([10, 70])[3] > 0")
    drawn = [_hue("rgb({}, {}, {})".format(*page.evaluate(pixel, [x, 70])[:3])) for x in (10, 200)]
    assert all(abs(d - h) < 10 or abs(d - h) > 350 for d, h in zip(drawn, hues, strict=True)), (drawn, hues)
    assert page.js_errors == []


def sandbox_worker(live_server, users, settings, complete_after: str = "2", **env: str) -> support.Worker:
    """Workspace A on the sandbox, and a real worker that submits, completes and calls back."""
    settings.SITE_URL = live_server.url
    settings.SANDBOX_FAULTS = ""
    settings.SANDBOX_COMPLETE_AFTER = float(complete_after)  # read where the task is created (the web process)
    ws = users.ws_a
    ws.set_api_key("browser-test-key")
    ws.save()
    # As at Scale, the project compose() names exists.
    support.sandbox_account("browser-test-key", ws.callback_auth_key, projects=("street",))
    return support.Worker(concurrency=3, SITE_URL=live_server.url, SANDBOX_COMPLETE_AFTER=complete_after, **env).start()


BOX_ALPHA = """([x, y]) => document.querySelector('#rv-boxes').getContext('2d').getImageData(x, y, 1, 1).data[3]"""


def test_a_playback_task_completed_by_the_sandbox_draws_its_tracks(page, live_server, users, settings):
    """Scale's playback file is an object of tracks keyed by uuid, not an array of frames:
    the viewer used to read it as nothing ("frame 0 / 0", no boxes, no legend)."""
    worker = sandbox_worker(live_server, users, settings)
    try:
        login_in_browser(page, live_server, "alice", "alice-password-1")
        payload = {
            "attachment": f"{live_server.url}/sandbox/media/traffic.mp4",
            "attachment_type": "video",
            "frame_rate": 5,
            "geometries": {"box": {"objects_to_annotate": ["car", "pedestrian"]}},
            "instruction": "Box every car and pedestrian.",
        }
        compose(page, live_server, "videoplaybackannotation", payload)
        # The task page polls until the result is copied, then the viewer draws it.
        page.wait_for_selector("#result-viewer[data-drawn='1']", timeout=60000)
    finally:
        worker.stop()
    task = Task.objects.get()
    assert task.display_status == "completed"
    annotations_url = page.evaluate("() => JSON.parse(document.getElementById('viewer-data').textContent).annotations")
    tracks = page.evaluate("(u) => fetch(u).then(r => r.json())", annotations_url)
    assert isinstance(tracks, dict) and len(tracks) == 2  # the sandbox answers as Scale does

    # The legend names each track by its label and number.
    legend = page.locator("#rv-tracks li")
    assert sorted(legend.all_text_contents()) == [" car 1", " pedestrian 1"]
    frames = len(next(iter(tracks.values()))["frames"])
    assert page.locator("#rv-frame-no").text_content() == f"frame 0 / {frames - 1}"
    page.wait_for_function("() => document.querySelector('#rv-video').readyState >= 2", timeout=15000)

    # Scrub to the last frame: each track's box is drawn where the file puts it.
    page.locator("#rv-scrub").fill(str(frames - 1))
    assert page.locator("#rv-frame-no").text_content() == f"frame {frames - 1} / {frames - 1}"
    for track in tracks.values():
        box = track["frames"][-1]
        left, top, height = round(box["left"]), round(box["top"]), box["height"]
        assert page.evaluate(BOX_ALPHA, [left, round(top + height / 2)]) > 0, track["label"]
    page.locator("#rv-scrub").fill("0")
    for track in tracks.values():
        box = track["frames"][0]
        assert page.evaluate(BOX_ALPHA, [round(box["left"]), round(box["top"] + box["height"] / 2)]) > 0
    page.screenshot(path=str(support.ARTIFACTS / "task-page-playback-result.png"), full_page=True)
    assert page.js_errors == []
    assert_fits_phone(
        page, live_server, f"/tasks/{task.code}/", "task-page-playback-result-phone", "#result-viewer[data-drawn='1']"
    )


def assert_fits_phone(page, live_server, path: str, name: str, ready: str = "body") -> None:
    """The page at 375 px wide: nothing sticks out sideways (a screenshot is kept to look at)."""
    phone = page.context.browser.new_context(viewport={"width": 375, "height": 800})
    try:
        p2 = phone.new_page()
        login_in_browser(p2, live_server, "alice", "alice-password-1")
        p2.goto(f"{live_server.url}{path}")
        support.ARTIFACTS.mkdir(parents=True, exist_ok=True)
        try:
            p2.wait_for_selector(ready)
        finally:
            p2.screenshot(path=str(support.ARTIFACTS / f"{name}.png"), full_page=True)
        too_wide = p2.evaluate(
            """() => [...document.querySelectorAll('body *')]
                 .filter(e => e.getBoundingClientRect().right > 376
                              || (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible'))
                 .map(e => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`
                           + `/${e.scrollWidth}`).slice(0, 8)"""
        )
        assert p2.evaluate("document.documentElement.scrollWidth") <= 375, too_wide
    finally:
        phone.close()


def test_a_video_result_shows_attribute_values_and_events(page, live_server, users, settings):
    """videoannotation through the sandbox: each object's attributes on the current frame,
    the events file copied and listed, and an event jumps to its start."""
    worker = sandbox_worker(live_server, users, settings)
    try:
        login_in_browser(page, live_server, "alice", "alice-password-1")
        payload = {
            "attachment_type": "image",
            "attachments": [f"{live_server.url}/sandbox/media/street-{n}.png" for n in (1, 2, 3)],
            "geometries": {"box": {"objects_to_annotate": ["car", "pedestrian"]}},
            "annotation_attributes": {
                "occluded": {"type": "category", "description": "Is it hidden?", "choices": ["no", "partly"]}
            },
            "events_to_annotate": ["Lane change"],
        }
        compose(page, live_server, "videoannotation", payload)
        page.wait_for_selector("#result-viewer[data-drawn='1']", timeout=60000)
    finally:
        worker.stop()
    assert sorted(page.locator("#rv-tracks li").all_text_contents()) == [" car 1", " pedestrian 1"]
    attrs = page.locator("#rv-attrs li").all_text_contents()
    assert "car 1 — occluded: no" in " | ".join(attrs) and "pedestrian 1 — occluded: partly" in " | ".join(attrs)
    event = page.locator("#rv-events li", has_text="Lane change")
    assert event.text_content().strip() == "Lane change · 0.0\u20131.0 s"
    assert event.get_attribute("aria-current") == "true"  # under way at frame 0
    page.locator("#rv-scrub").fill("2")
    assert page.locator("#rv-frame-no").text_content() == "frame 2 / 2"
    assert event.get_attribute("aria-current") is None
    event.locator("button").click()
    assert page.locator("#rv-frame-no").text_content() == "frame 0 / 2"
    assert event.get_attribute("aria-current") == "true"
    page.screenshot(path=str(support.ARTIFACTS / "task-page-video-attributes.png"), full_page=True)
    assert page.js_errors == []
    task = Task.objects.get()
    assert_fits_phone(page, live_server, f"/tasks/{task.code}/", "task-page-video-attributes-phone", "#rv-events li")


def test_the_mask_viewer_names_the_label_under_the_pointer_and_toggles_all(
    page, live_server, users, settings, tmp_path
):
    from PIL import Image

    from annotator.tasks.models import ResultFile
    from tests.test_callbacks_receiver import make_task

    settings.MEDIA_ROOT = tmp_path
    mapping = {"road": {"index": 1, "color": "#ff0000"}, "car": [{"index": 2, "color": "#0000ff"}]}
    task = make_task(
        users.ws_a,
        users.alice,
        payload={"attachment": f"{live_server.url}/sandbox/media/street-1.png", "labels": ["road", "car"]},
        scale_status="completed",
        response={"labelMapping": mapping, "annotations": {}},
    )
    mask = Image.new("L", (200, 100), 0)
    mask.paste(1, (0, 0, 100, 100))  # left half road
    mask.paste(2, (100, 0, 150, 100))  # then one car; the last quarter unlabeled
    folder = tmp_path / "results" / task.code.hex
    folder.mkdir(parents=True)
    mask.save(folder / "mask.png")
    ResultFile.objects.create(
        task=task, name="mask", path=f"results/{task.code.hex}/mask.png", content_type="image/png"
    )
    login_in_browser(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/tasks/{task.code}/")
    page.wait_for_selector("#result-viewer[data-drawn='1']")

    # The photo under the mask loads on its own: measure once it has, or the stage moves after.
    page.wait_for_function("() => [...document.querySelectorAll('#result-viewer img')].every(i => i.complete)")
    # The review card sits above the result now: a pointer can only be over what is on screen.
    page.locator("#rv-mask").scroll_into_view_if_needed()
    for fraction, name in ((0.25, "road"), (0.6, "car #1"), (0.9, "unlabeled")):
        box = page.locator("#rv-mask").bounding_box()
        page.mouse.move(box["x"] + box["width"] * fraction, box["y"] + box["height"] / 2)
        page.wait_for_function("(n) => document.querySelector('#rv-hover').textContent === n", arg=name, timeout=5000)

    painted = """() => { const c = document.querySelector('#rv-mask');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
    assert page.evaluate(painted) == 150 * 100
    page.click("button[data-toggle-all=off]")
    assert page.evaluate(painted) == 0
    assert not any(page.locator("#rv-legend input").evaluate_all("els => els.map(e => e.checked)"))
    page.locator("#rv-legend input[data-index='2']").check()
    assert page.evaluate(painted) == 50 * 100
    page.click("button[data-toggle-all=on]")
    assert page.evaluate(painted) == 150 * 100
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    page.screenshot(path=str(support.ARTIFACTS / "task-page-mask-hover.png"), full_page=True)
    assert page.js_errors == []
    assert_fits_phone(
        page, live_server, f"/tasks/{task.code}/", "task-page-mask-phone", "#result-viewer[data-drawn='1']"
    )
