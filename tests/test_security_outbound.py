"""Outbound requests and served files (issue 11): what a hostile upstream or value cannot do.

The hostile upstream is a real HTTP server on loopback (HostileServer below): slow headers one
byte a second, a slow body, SVG, huge bodies, redirect chains and redirects to loopback.
"""

from __future__ import annotations

import ast
import io
import json
import logging
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from annotator import fetch_quota, fetcher, scale_rules
from annotator.composer.compose import curl_snippet, python_snippet
from annotator.fetcher import FetchError, fetch
from tests.hostile import IMAGES, HostileServer
from tests.test_fetcher import Listener

SEED = Path(__file__).parent / "fixtures" / "scale" / "seed_examples"

# --- Snippets: every value quoted (issue 11, low 15) ---------------------------------------

SHELL_ATTACKS = [
    "'$(touch {marker})'",
    "$(touch {marker})",
    "`touch {marker}`",
    '"; touch {marker}; echo "',
    "';touch {marker};'",
    "\\'$(touch {marker})\\'",
]

FAKE_CURL = """#!/bin/sh
# Records what it was given instead of sending anything.
for arg in "$@"; do printf '%s\\0' "$arg"; done > "$OUT/args"
cat > "$OUT/stdin"
"""


def _run_in_a_real_shell(snippet: str, tmp_path: Path) -> tuple[list[str], str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    curl = bin_dir / "curl"
    curl.write_text(FAKE_CURL)
    curl.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SCALE_API_KEY": "live_key", "OUT": str(tmp_path), "HOME": str(tmp_path)}
    subprocess.run(["bash", "-c", snippet], env=env, check=True, timeout=30, cwd=tmp_path)
    args = (tmp_path / "args").read_bytes().split(b"\0")[:-1]
    return [a.decode() for a in args], (tmp_path / "stdin").read_text()


@pytest.mark.parametrize("attack", SHELL_ATTACKS)
def test_the_curl_snippet_runs_only_curl_whatever_the_base_url_and_payload_hold(attack, tmp_path):
    marker = tmp_path / "pwned"
    value = attack.format(marker=marker)
    base_url = f"https://scale.example.org/{value}/v1"
    payload = json.loads((SEED / "segmentannotation.corrected.json").read_text())["payload"]
    payload = scale_rules.build_payload("segmentannotation", payload)
    payload["instruction"] = f"{value}\nEOF\ntouch {marker}\n"
    payload["metadata"] = {value: value, "EOF": "EOF"}
    snippet = curl_snippet("segmentannotation", payload, base_url)

    args, stdin = _run_in_a_real_shell(snippet, tmp_path)

    assert not marker.exists(), snippet
    assert f"{base_url}/task/segmentannotation" in args  # one argument, exactly as configured
    assert args[args.index("-u") + 1] == "live_key:"  # the key variable is still expanded
    assert json.loads(stdin) == payload  # the body arrives byte for byte


@pytest.mark.parametrize("attack", SHELL_ATTACKS)
def test_the_python_snippet_holds_every_value_as_a_literal(attack, tmp_path):
    marker = tmp_path / "pwned"
    value = attack.format(marker=marker)
    base_url = f"https://scale.example.org/{value}\"); import os; os.system('touch {marker}'); (\"/v1"
    payload = {"attachment": "https://example.org/a.png", "metadata": {value: value}, "instruction": value}
    snippet = python_snippet("segmentannotation", payload, base_url)
    tree = ast.parse(snippet)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    client = next(c for c in calls if getattr(c.func, "attr", "") == "ScaleClient")
    instance = next(k.value for k in client.keywords if k.arg == "api_instance_url")
    assert ast.literal_eval(instance) == base_url.rstrip("/")
    literal = next(n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "payload")
    assert ast.literal_eval(literal) == payload
    assert not marker.exists() and os.path.exists(tmp_path)


# --- The hostile upstream ---------------------------------------------------------------------


@pytest.fixture
def hostile():
    server = HostileServer()
    yield server
    server.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def trusted(server: HostileServer) -> list[str]:
    return [server.url + "/"]


# The slow routes would hold a call for minutes (one byte a second, 140 bytes of headers); a
# deadline of a few seconds ends it. The margin is for this shared, loaded 2-core machine.
MARGIN = 5.0


def assert_cut_off(started: float, deadline: float) -> None:
    elapsed = time.monotonic() - started
    assert elapsed < deadline + MARGIN, f"{elapsed:.1f} s for a {deadline} s deadline"


# --- One deadline per fetch (issue 11, high 2) -----------------------------------------------


@pytest.mark.parametrize("path", ["/slow-headers", "/slow-body"])
def test_one_deadline_covers_a_server_that_answers_one_byte_at_a_time(hostile, path):
    started = time.monotonic()
    with pytest.raises(FetchError, match="did not answer within 2 seconds"):
        fetch(hostile.url + path, timeout=2, trusted=trusted(hostile))
    assert_cut_off(started, 2)  # was 25 s for 5 s: the timeout restarted at every byte


def test_the_deadline_covers_name_resolution(monkeypatch):
    def slow_dns(host, port, *args, **kwargs):
        time.sleep(12)  # a resolver that hangs; DNS is the one part that cannot run here
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    monkeypatch.setattr(socket, "getaddrinfo", slow_dns)
    started = time.monotonic()
    with pytest.raises(FetchError, match="did not answer within 1 seconds"):
        fetch("http://slow-dns.example/", timeout=1)
    assert_cut_off(started, 1)


def test_the_deadline_is_one_budget_for_a_whole_redirect_chain(hostile):
    # Each hop used to get the full timeout again.
    started = time.monotonic()
    with pytest.raises(FetchError, match="Too many redirects"):
        fetch(hostile.url + "/redirect/0", timeout=2, trusted=trusted(hostile))
    assert hostile.requested("/redirect/4") == 0  # three redirects followed, then stopped
    assert_cut_off(started, 2)


@pytest.mark.parametrize("path", ["/huge", "/huge-declared"])
def test_huge_bodies_stop_at_the_cap(hostile, path):
    started = time.monotonic()
    with pytest.raises(fetcher.TooLarge, match="larger than the 1 MB limit"):
        fetch(hostile.url + path, max_bytes=1024 * 1024, timeout=10, trusted=trusted(hostile))
    assert_cut_off(started, 0)


def test_a_trusted_host_that_redirects_to_loopback_reaches_nothing(hostile, listener):
    with pytest.raises(FetchError, match="private, local or reserved"):
        fetch(f"{hostile.url}/to-loopback?port={listener.port}", trusted=trusted(hostile))
    time.sleep(0.05)
    assert listener.connections == 0


def test_trusted_prefixes_hold_their_path_and_do_not_climb(hostile):
    prefix = [hostile.url + "/sandbox/"]
    for path in ("/png", "/sandbox/../png", "/sandbox/%2e%2e/png", "/sandbox/..%2fpng", "/sandbox//png"):
        with pytest.raises(FetchError, match="private, local or reserved"):
            fetch(hostile.url + path, trusted=prefix)
    assert hostile.connections == 0


# --- Errors shown to people are generic (issue 11, medium 5) ---------------------------------


@pytest.mark.parametrize("path", ["/banner", "/reason"])
def test_errors_never_echo_an_upstreams_banner(hostile, path, caplog):
    with caplog.at_level(logging.WARNING, logger="annotator.fetcher"), pytest.raises(FetchError) as failed:
        fetch(hostile.url + path, trusted=trusted(hostile))
    assert "SSH" not in failed.value.message and "OpenSSH" not in str(failed.value)
    assert failed.value.message in (
        "127.0.0.1 did not answer with valid HTTP.",
        "The server answered HTTP 500 Internal Server Error.",
    )
    if path == "/banner":  # the detail is kept for the operator, in the log
        assert "SSH-2.0-OpenSSH" in failed.value.detail and "SSH-2.0-OpenSSH" in caplog.text


# --- The image proxy serves only pixels it decoded (issue 11, high 1) ------------------------

PROXY = "/compose/media/"


@pytest.fixture
def proxy_host(settings, hostile):
    # The hostile server plays a public host: only the operator's list can make it reachable.
    settings.FETCH_TRUSTED_URLS = trusted(hostile)
    return hostile


def _proxy(client, url: str):
    return client.get(PROXY, {"url": url})


def _inert(response) -> None:
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/png", "/jpeg", "/gif", "/webp"])
def test_the_proxy_reencodes_raster_images_as_png_keeping_the_pixels(alice_client, proxy_host, path):
    response = _proxy(alice_client, proxy_host.url + path)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'inline; filename="image.png"'
    _inert(response)
    assert response.content != IMAGES[path][0] and b"<script" not in response.content  # pixels, not bytes
    img = Image.open(io.BytesIO(response.content))
    assert img.format == "PNG" and img.size == (64, 40)
    left, right = img.convert("L").getpixel((5, 5)), img.convert("L").getpixel((60, 5))
    assert left in (1, 2) and right in (0, 1) and left > right  # mask indices survive (JPEG: nearly)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/svg", "not a PNG, JPEG, WebP or GIF"),
        ("/svg-as-png", "not a PNG, JPEG, WebP or GIF"),
        ("/html-as-png", "not a PNG, JPEG, WebP or GIF"),
        ("/js", "not a PNG, JPEG, WebP or GIF"),
        ("/bomb", "than the 40,000,000-pixel limit"),
    ],
)
def test_the_proxy_refuses_anything_but_a_raster_image(alice_client, proxy_host, path, message):
    response = _proxy(alice_client, proxy_host.url + path)
    assert response.status_code == 415
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert message in response.content.decode()
    assert b"<svg" not in response.content and b"script" not in response.content
    _inert(response)


def test_the_proxy_does_not_trust_a_workspaces_loopback_api_base_url(client, users, listener):
    # Issue 11, medium 5: the owner points "Scale API" at a loopback port; a member then asked
    # the proxy for internal services on that host.
    users.ws_a.target = "scale"
    users.ws_a.api_base_url = f"http://127.0.0.1:{listener.port}/v1"
    users.ws_a.save()
    client.force_login(users.bob)
    response = _proxy(client, f"http://127.0.0.1:{listener.port}/v1/anything.png")
    assert response.status_code == 502
    assert "private, local or reserved address" in response.content.decode()
    _inert(response)
    time.sleep(0.05)
    assert listener.connections == 0


def test_the_proxy_still_reaches_the_built_in_sandboxs_own_files(alice_client, settings, live_server):
    settings.SITE_URL = live_server.url
    response = _proxy(alice_client, f"{live_server.url}/sandbox/media/street-1.png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (640, 400)


@pytest.mark.parametrize("path", ["/banner", "/reason"])
def test_proxy_errors_are_generic(alice_client, proxy_host, path):
    response = _proxy(alice_client, proxy_host.url + path)
    assert response.status_code == 502
    assert "SSH" not in response.content.decode()


def test_a_slow_upstream_holds_the_proxy_no_longer_than_its_timeout(alice_client, proxy_host, settings):
    settings.MEDIA_PROXY_TIMEOUT = 2
    started = time.monotonic()
    response = _proxy(alice_client, proxy_host.url + "/slow-headers")
    assert_cut_off(started, 2)
    assert response.status_code == 502
    assert response.content.decode() == "The server did not answer within 2 seconds."


def test_the_proxy_limits_each_person_per_minute_with_a_clear_429(client, users, proxy_host, settings):
    settings.MEDIA_PROXY_PER_MINUTE = 3
    client.force_login(users.bob)
    statuses = [_proxy(client, proxy_host.url + "/png").status_code for _ in range(4)]
    if statuses[:3] != [200, 200, 200]:  # a minute boundary fell inside the loop: the count restarted
        statuses = [_proxy(client, proxy_host.url + "/png").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = _proxy(client, proxy_host.url + "/png")
    assert refused.status_code == 429
    assert "Too many images fetched: at most 3 a minute" in refused.content.decode()
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert proxy_host.requested("/png") <= 6  # refused calls reach nobody
    client.force_login(users.alice)  # someone else is not held back
    assert _proxy(client, proxy_host.url + "/png").status_code == 200


def test_the_proxy_limits_each_person_to_a_few_fetches_at_once(client, users, proxy_host, settings):
    settings.MEDIA_PROXY_CONCURRENT = 2
    client.force_login(users.bob)
    with fetch_quota.proxy_slot(users.bob.pk), fetch_quota.proxy_slot(users.bob.pk):  # two fetches in flight
        refused = _proxy(client, proxy_host.url + "/png")
        assert refused.status_code == 429
        assert "at once (at most 2)" in refused.content.decode()
        assert proxy_host.requested("/png") == 0
        other = _proxy(client.__class__(), proxy_host.url + "/png")  # signed out: to the sign-in page
        assert other.status_code == 302
    assert _proxy(client, proxy_host.url + "/png").status_code == 200  # the slots were given back


# --- Result copies: only images and JSON, bounded per task (issue 11, high 1 and 2, medium 10) ---


def _segmentation_task(users, response: dict):
    from tests.test_callbacks_receiver import make_task

    task = make_task(users.ws_a, users.alice, payload={"attachment": "https://x.example/a.png", "labels": ["a"]})
    task.attachment = ""  # only the URLs the test lists
    task.response = response
    task.save()
    return task


@pytest.fixture
def result_store(settings, tmp_path, proxy_host):
    settings.MEDIA_ROOT = tmp_path
    return proxy_host


def _stored_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


def test_result_copies_keep_only_images_and_json_as_the_bytes_say(users, result_store, alice_client):
    from annotator.tasks import results
    from annotator.tasks.models import ResultFile

    host = result_store.url
    task = _segmentation_task(
        users,
        {
            "annotations": {
                "combined": {"indexedImage": f"{host}/png"},
                "labeled": {
                    "road": f"{host}/jpeg",
                    "car": f"{host}/svg",
                    "sign": f"{host}/js",
                    "sky": f"{host}/html-as-png",
                    "tree": f"{host}/svg-as-png",
                    "bomb": f"{host}/bomb",
                },
            }
        },
    )
    results.copy_results(task)
    rows = {r.name: r for r in ResultFile.objects.filter(task=task)}
    assert (rows["indexedImage"].content_type, rows["labeled:road"].content_type) == ("image/png", "image/jpeg")
    assert rows["labeled:road"].path.endswith(".jpg")
    for name in ("labeled:car", "labeled:sign", "labeled:sky", "labeled:tree"):
        assert rows[name].path == "" and "not a PNG, JPEG, WebP or GIF" in rows[name].error
    assert rows["labeled:bomb"].path == "" and "pixel limit" in rows["labeled:bomb"].error
    # Served as what we decided, inert.
    got = alice_client.get(f"/tasks/{task.code}/results/labeled:road")
    assert got["Content-Type"] == "image/jpeg"
    assert got["Content-Disposition"].startswith('inline; filename="labeled_road')
    _inert(got)
    assert alice_client.get(f"/tasks/{task.code}/results/labeled:sign").status_code == 404


def test_a_video_annotations_file_must_be_json(users, result_store, alice_client):
    from annotator.tasks import results
    from annotator.tasks.models import ResultFile
    from tests.test_callbacks_receiver import make_task

    for path, kept in (("/js", False), ("/png", False), ("/json", True)):
        task = make_task(users.ws_a, users.alice, task_type="videoannotation", unique_id=f"v{path}")
        task.response = {"annotations": {"url": result_store.url + path}}
        task.save()
        results.copy_results(task)
        row = ResultFile.objects.get(task=task, name="annotations")
        assert bool(row.path) is kept, row.error
        if kept:
            got = alice_client.get(f"/tasks/{task.code}/results/annotations")
            assert got["Content-Type"] == "application/json"
            _inert(got)
        else:
            assert row.error == "The annotations file is not JSON."


def test_a_copy_made_before_the_type_rule_is_served_as_an_inert_download(users, settings, tmp_path, alice_client):
    from annotator.tasks.models import ResultFile

    settings.MEDIA_ROOT = tmp_path
    task = _segmentation_task(users, {})
    folder = tmp_path / "results" / task.code.hex
    folder.mkdir(parents=True)
    (folder / "labeled_evil.js").write_bytes(b"window.__pwned = 'script';")
    ResultFile.objects.create(
        task=task, name="labeled:evil", source_url="x", path=f"results/{task.code.hex}/labeled_evil.js",
        content_type="application/javascript",
    )  # fmt: skip
    got = alice_client.get(f"/tasks/{task.code}/results/labeled:evil")
    assert got.status_code == 200
    assert got["Content-Type"] == "application/octet-stream"
    assert got["Content-Disposition"] == 'attachment; filename="labeled_evil.bin"'
    _inert(got)


def test_one_callback_cannot_fill_the_disk_bytes_are_capped_per_task(users, result_store, settings, tmp_path):
    # Issue 11, medium 10: 40 `labeled` URLs of ~9.4 MB each wrote 378 MB. Scaled down here.
    from annotator.tasks import results
    from annotator.tasks.models import ResultFile

    settings.RESULT_MAX_BYTES = 1024 * 1024
    labeled = {f"label{n}": f"{result_store.url}/sized?bytes={300_000}&n={n}" for n in range(40)}
    task = _segmentation_task(
        users, {"annotations": {"combined": {"indexedImage": f"{result_store.url}/png"}, "labeled": labeled}}
    )
    results.copy_results(task)
    rows = list(ResultFile.objects.filter(task=task))
    kept = [r for r in rows if r.path]
    assert _stored_bytes(tmp_path / "results") <= 1024 * 1024 + 10_000  # + the normalised mask
    assert sum(r.size for r in kept if r.name != "mask") <= 1024 * 1024
    assert len(kept) >= 3  # the mask and the first labels fit
    over = [r for r in rows if not r.path]
    assert over and all("passed 1 MB (RESULT_MAX_BYTES)" in r.error for r in over)
    assert result_store.requested("/sized") <= 5  # no fetch once the budget is spent


def test_one_callback_cannot_list_a_hundred_thousand_files(users, result_store, settings):
    from annotator.tasks import results
    from annotator.tasks.models import ResultFile

    settings.RESULT_MAX_FILES = 5
    labeled = {f"label{n}": f"{result_store.url}/png?n={n}" for n in range(2000)}
    task = _segmentation_task(
        users, {"annotations": {"combined": {"indexedImage": f"{result_store.url}/png"}, "labeled": labeled}}
    )
    results.copy_results(task)
    assert result_store.requested("/png") == 5
    rows = {r.name: r for r in ResultFile.objects.filter(task=task)}
    assert "indexedImage" in rows and rows["indexedImage"].path  # the file that matters most comes first
    assert rows[results.OVER_LIMIT_NAME].error == (
        "1,996 more result files were not copied: a task keeps at most 5 (RESULT_MAX_FILES)"
    )
    assert len(rows) == 5 + 1 + 1  # five files, the normalised mask, one summary row


def test_the_whole_copy_of_a_task_is_bounded_in_time(users, result_store, settings):
    # Issue 11, high 2: three slow URLs took 91 s.
    from annotator.tasks import results
    from annotator.tasks.models import ResultFile

    settings.RESULT_COPY_TIMEOUT = 3
    slow = {f"slow{n}": f"{result_store.url}/slow-headers?n={n}" for n in range(3)}
    task = _segmentation_task(users, {"annotations": {"labeled": slow, "unlabeled": f"{result_store.url}/png"}})
    started = time.monotonic()
    results.copy_results(task)
    assert_cut_off(started, 3)
    rows = {r.name: r for r in ResultFile.objects.filter(task=task)}
    assert rows["unlabeled"].path  # listed first, copied before the slow ones
    assert all(not rows[f"labeled:slow{n}"].path for n in range(3))
    errors = {rows[f"labeled:slow{n}"].error for n in range(3)}
    assert errors <= {
        "The server did not answer within 3 seconds.",
        "the copy of this task's files took over 3 s (RESULT_COPY_TIMEOUT)",
    } or any("did not answer within" in e for e in errors)


# --- The sandbox's callbacks go through the same guard (issue 11, medium 7) ------------------


def _finished_sandbox_task(callback_url: str):
    from annotator.sandbox import lifecycle
    from annotator.sandbox.faults import Decision
    from annotator.sandbox.models import CallbackDelivery, SandboxAccount

    account = SandboxAccount.objects.ensure("test_outbound_key", "the-workspace-callback-key")
    payload = json.loads((Path(__file__).parent / "fixtures" / "sandbox" / "segmentannotation.json").read_text())
    payload["callback_url"] = callback_url
    payload.pop("unique_id", None)
    task = lifecycle.create(account, "segmentannotation", payload, decision=Decision(*[False] * 6))
    assert lifecycle.finish(task)
    return CallbackDelivery.objects.get(task=task, kind="final")


@pytest.mark.django_db(transaction=True)
def test_a_sandbox_callback_to_a_loopback_port_never_carries_the_key_there(settings, hostile):
    from annotator.sandbox import callbacks

    settings.SANDBOX_COMPLETE_AFTER = 0
    settings.SANDBOX_CALLBACK_RETRY_SCALE = 0.001
    delivery = _finished_sandbox_task(f"{hostile.url}/hook")
    callbacks.attempt(str(delivery.code))
    attempt = delivery.attempt_rows.get()
    assert attempt.succeeded is False and attempt.status_code is None
    assert "private, local or reserved address" in attempt.error
    assert hostile.connections == 0  # no POST, so no scale-callback-auth, reached the port


@pytest.mark.django_db(transaction=True)
def test_a_sandbox_callback_to_this_sites_own_callback_url_is_delivered(settings, hostile):
    from annotator.sandbox import callbacks

    settings.SANDBOX_COMPLETE_AFTER = 0
    settings.SITE_URL = hostile.url  # the hostile server plays this site's callback receiver
    delivery = _finished_sandbox_task(f"{hostile.url}/callbacks/some-token/")
    callbacks.attempt(str(delivery.code))
    assert delivery.attempt_rows.get().succeeded is True
    method, path, headers = hostile.requests[0]
    assert (method, path) == ("POST", "/callbacks/some-token/")
    assert headers["scale-callback-auth"] == "the-workspace-callback-key"
    # ...but the same host outside /callbacks/ is still refused.
    delivery = _finished_sandbox_task(f"{hostile.url}/hook")
    callbacks.attempt(str(delivery.code))
    assert "private, local or reserved address" in delivery.attempt_rows.get().error
    assert len(hostile.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_a_slow_or_redirecting_callback_endpoint_is_a_bounded_failure(settings, hostile, listener):
    from annotator.sandbox import callbacks

    settings.SANDBOX_COMPLETE_AFTER = 0
    settings.SANDBOX_CALLBACK_TIMEOUT = 2
    settings.SITE_URL = hostile.url
    delivery = _finished_sandbox_task(f"{hostile.url}/callbacks/slow-headers")
    started = time.monotonic()
    callbacks.attempt(str(delivery.code))
    assert_cut_off(started, 2)
    assert delivery.attempt_rows.get().error == "The server did not answer within 2 seconds."
    # A redirect is a failed delivery, never followed (here: towards another loopback port).
    delivery = _finished_sandbox_task(f"{hostile.url}/callbacks/to-loopback?port={listener.port}")
    callbacks.attempt(str(delivery.code))
    attempt = delivery.attempt_rows.get()
    assert (attempt.succeeded, attempt.status_code, attempt.error) == (False, 302, "answered HTTP 302")
    time.sleep(0.05)
    assert listener.connections == 0


# --- In Chromium: the SVG-through-the-proxy attack no longer runs (issue 11, high 1) ---------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_chromium_an_svg_through_the_proxy_cannot_run_a_copied_script(
    page, live_server, users, settings, result_store
):
    """The attack as reported: a member's task "result" is JavaScript, copied and served from our
    origin; an SVG fetched through the proxy points its <script href> at it. Before, Chromium ran
    it under `script-src 'self'` with the owner's session. Now the proxy refuses the SVG, a new
    copy of the script is refused, and an old copy is served as an inert download that a
    <script> element on our own page cannot run."""
    from annotator.tasks import results
    from annotator.tasks.models import ResultFile
    from tests.conftest import login_in_browser

    hostile = result_store  # trusted as a public host; MEDIA_ROOT is this test's own
    settings.SITE_URL = live_server.url
    task = _segmentation_task(users, {"annotations": {"labeled": {"evil": f"{hostile.url}/js"}}})
    results.copy_results(task)
    assert ResultFile.objects.get(task=task, name="labeled:evil").path == ""  # a new copy: refused
    # A copy made before the fix, as it was stored then.
    folder = Path(settings.MEDIA_ROOT) / "results" / task.code.hex
    (folder / "labeled_old.js").write_bytes(b"window.__pwned = 'script'; document.title = 'pwned';")
    ResultFile.objects.create(
        task=task, name="labeled:old", source_url="x", path=f"results/{task.code.hex}/labeled_old.js",
        content_type="application/javascript",
    )  # fmt: skip
    script_url = f"/tasks/{task.code}/results/labeled:old"
    hostile.svg_script = script_url

    login_in_browser(page, live_server, "alice", "alice-password-1")  # the owner, as in the report
    answer = page.goto(f"{live_server.url}/compose/media/?url={hostile.url}/svg")
    assert answer.status == 415
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert page.evaluate("() => window.__pwned") is None
    assert page.title() != "pwned"

    page.goto(f"{live_server.url}/tasks/{task.code}/")
    outcome = page.evaluate(
        """(src) => new Promise((done) => {
            const s = document.createElement("script");
            s.src = src;
            s.onload = () => done("loaded");
            s.onerror = () => done("blocked");
            document.head.appendChild(s);
        })""",
        script_url,
    )
    assert outcome == "blocked"  # application/octet-stream + nosniff: Chromium refuses to run it
    assert page.evaluate("() => window.__pwned") is None
    users.ws_a.refresh_from_db()
    assert users.ws_a.name == "Team A"


# --- Mask decoding is bounded (issue 11, low 16; figures in docs/benchmarks.md) ---------------


def test_images_over_the_pixel_limit_are_refused_from_their_header(settings):
    from annotator import safe_files
    from annotator.tasks import results
    from tests.hostile import bomb_png

    settings.IMAGE_MAX_PIXELS = 2000
    with (
        pytest.warns(Image.DecompressionBombWarning),  # Pillow's own warning between 1x and 2x the limit
        pytest.raises(safe_files.UnsafeFile, match="2,000-pixel limit"),
    ):
        results.normalised_mask(IMAGES["/png"][0])  # 64 x 40 = 2,560 pixels
    assert Image.MAX_IMAGE_PIXELS == 2000  # set deliberately, from the setting
    settings.IMAGE_MAX_PIXELS = 40_000_000
    with pytest.raises(safe_files.UnsafeFile, match="pixel limit"):
        results.normalised_mask(bomb_png())  # 900 megapixels claimed in 1 KB: never decoded


def test_a_grey_mask_is_kept_as_it_is_and_a_palette_mask_keeps_its_indices():
    from annotator.tasks import results

    grey = IMAGES["/png"][0]
    assert results.normalised_mask(grey) == grey  # already one byte of index per pixel: no decode
    palette = Image.new("P", (8, 4), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [7] * (256 * 3 - 9))
    palette.paste(2, (4, 0, 8, 4))
    out = io.BytesIO()
    palette.save(out, "PNG")
    mask = Image.open(io.BytesIO(results.normalised_mask(out.getvalue())))
    assert mask.mode == "L" and (mask.getpixel((0, 0)), mask.getpixel((7, 3))) == (0, 2)


def test_the_thumbnail_is_drawn_at_thumbnail_size_from_a_large_jpeg():
    from annotator.tasks import results

    mask = Image.new("L", (4000, 2000), 0)
    mask.paste(1, (0, 0, 2000, 2000))
    photo = Image.new("RGB", (4000, 2000), (0, 0, 200))
    mask_png, photo_jpeg = io.BytesIO(), io.BytesIO()
    mask.save(mask_png, "PNG")
    photo.save(photo_jpeg, "JPEG")
    legend = [{"name": "road", "index": 1, "color": "#ff0000"}]
    thumb = Image.open(io.BytesIO(results.render_thumbnail(mask_png.getvalue(), photo_jpeg.getvalue(), legend)))
    assert thumb.size == (320, 160)
    left, right = thumb.convert("RGB").getpixel((10, 80)), thumb.convert("RGB").getpixel((310, 80))
    assert left[0] > 100 and left[0] > left[1]  # red road over the left half
    assert right[2] > 150 and right[0] < 60  # the blue photo on the right


def test_one_web_process_runs_only_a_few_proxy_fetches_for_everyone(client, users, proxy_host, settings):
    settings.MEDIA_PROXY_PER_PROCESS = 1
    client.force_login(users.bob)
    with fetch_quota.proxy_slot(users.alice.pk):  # someone else's fetch holds the one slot
        refused = _proxy(client, proxy_host.url + "/png")
    assert refused.status_code == 429
    assert refused.content.decode() == "The image proxy is busy. Try again in a few seconds."
    assert proxy_host.requested("/png") == 0
    assert _proxy(client, proxy_host.url + "/png").status_code == 200


def _sign_in(session, base: str, username: str, password: str) -> None:
    import re

    page = session.get(f"{base}/accounts/login/", timeout=60)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=60,
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:500]


@pytest.mark.django_db(transaction=True)
def test_under_gunicorn_sign_in_answers_while_members_fire_slow_proxy_fetches(users, hostile, tmp_path):
    """Issue 11, high 2: sixteen proxy calls at an upstream sending its headers one byte a second
    held every thread of the README's gunicorn setup, and sign-in took 43 s. Now most are refused
    at once (429) and the few running leave threads free: a sign-in completes while they run."""
    import sys
    import threading

    import requests
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from annotator import devstack
    from tests.support import worker_env

    # The web process checks passwords with the real hashers (the tests' MD5 is theirs only).
    hasher = PBKDF2PasswordHasher()
    for user, password in ((users.alice, "alice-password-1"), (users.bob, "bob-password-1"), (users.charlie, "c-pw-1")):
        user.password = hasher.encode(password, hasher.salt(), iterations=1000)
        user.save(update_fields=["password"])
    port = devstack.free_port()
    base = f"http://127.0.0.1:{port}"
    env = worker_env(FETCH_TRUSTED_URLS=hostile.url + "/", MEDIA_PROXY_TIMEOUT="20", SITE_URL=base)
    args = [sys.executable, "-m", "gunicorn", "annotator.wsgi", "-k", "gthread", "--workers", "1", "--threads", "4"]
    log = (tmp_path / "gunicorn.log").open("wb")
    proc = devstack.spawn([*args, "--bind", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        devstack.wait_for_port(port, timeout=60, proc=proc)
        members = {name: requests.Session() for name in ("alice", "bob")}
        _sign_in(members["alice"], base, "alice", "alice-password-1")
        _sign_in(members["bob"], base, "bob", "bob-password-1")

        answers: list[tuple[float, int, str]] = []
        lock = threading.Lock()

        def fire(session: requests.Session) -> None:
            got = session.get(f"{base}/compose/media/", params={"url": f"{hostile.url}/slow-headers"}, timeout=120)
            with lock:
                answers.append((time.monotonic(), got.status_code, got.text))

        threads = [threading.Thread(target=fire, args=(members["alice" if n % 2 else "bob"],)) for n in range(16)]
        for thread in threads:
            thread.start()
        # Wait until the upstream holds the calls that were let through.
        from tests.support import wait_until

        wait_until(lambda: hostile.requested("/slow-headers") >= 2, timeout=60, message="proxy fetches in flight")
        _sign_in(requests.Session(), base, "charlie", "c-pw-1")
        signed_in_at = time.monotonic()
        for thread in threads:
            thread.join(timeout=120)
        held = [at for at, status, _ in answers if status == 502]
        refused = [text for _, status, text in answers if status == 429]
        assert len(answers) == 16
        assert hostile.requested("/slow-headers") <= 3  # the per-process limit (2), whoever asked
        assert len(refused) >= 13 and all("Try again" in text for text in refused)
        assert held and signed_in_at < min(held)  # sign-in did not wait for the slow fetches
    finally:
        devstack.stop(proc)
        log.close()
