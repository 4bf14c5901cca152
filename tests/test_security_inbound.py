"""Issue 11: what members and Scale send us must not stall the site, lock people out or answer 500."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.composer import matrix
from annotator.composer.matrix import ALWAYS, CONDITIONAL, NEVER, when_asked

PREVIEW = "/compose/segmentannotation/preview/"
COMPOSE = "/compose/segmentannotation/"


# --- 1. The "when is it asked?" matrix costs work linear in its input --------------------------


def chain(count: int, *, dead_root: bool) -> dict:
    """Each attribute conditioned twice on the one before (the shape of issue 11's 3 KB post)."""
    attributes = {}
    for i in range(count):
        definition: dict = {"type": "category", "description": f"q{i}?", "choices": ["yes", "no"]}
        if i:
            definition["conditions"] = {"attribute_conditions": [{f"attr{i - 1}": "yes"}, {f"attr{i - 1}": "no"}]}
        elif dead_root:
            definition["conditions"] = {"label_condition": {"label": ["not-a-label-here"]}}
        attributes[f"attr{i}"] = definition
    return attributes


def lines_executed(function, *args) -> int:
    """Lines of matrix.py run by one call: a measure of work that no machine's load can change."""
    count = 0
    target = matrix.__file__

    def tracer(frame, event, arg):
        nonlocal count
        if frame.f_code.co_filename != target:
            return None
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        function(*args)
    finally:
        sys.settrace(None)
    return count


def test_the_matrix_work_grows_linearly_with_chained_conditions():
    labels = ["car", "person"]
    small = lines_executed(when_asked, labels, chain(6, dead_root=True))
    large = lines_executed(when_asked, labels, chain(12, dead_root=True))
    # Twice the attributes: about twice the work (it was 2^6 = 64 times, and 4x per two more).
    assert large / small < 2.5, (small, large)
    wide = lines_executed(when_asked, labels * 2, chain(12, dead_root=True))
    assert wide / large < 2.5, (large, wide)


def test_a_long_dead_chain_is_never_asked_and_each_condition_is_flagged():
    result = when_asked(["car", "person"], chain(40, dead_root=True))
    assert all(state == NEVER for row in result.rows for state, _ in row.cells)
    assert "attr39: condition 1 (attr38 is yes) can never be true" in "\n".join(result.warnings)


def test_a_live_chain_of_50_over_50_labels_is_conditional_all_the_way_down():
    labels = [f"label{i}" for i in range(50)]
    result = when_asked(labels, chain(50, dead_root=False))
    states = {row.attribute: {state for state, _ in row.cells} for row in result.rows}
    assert states["attr0"] == {ALWAYS}
    assert all(states[f"attr{i}"] == {CONDITIONAL} for i in range(1, 50))
    assert result.warnings == []


def _old_state(defs: dict, attribute: str, label: str, visiting: tuple[str, ...] = ()) -> str:
    """The definition the matrix had before (recursive, exponential): the reference for its states."""
    from annotator import scale_rules

    conditions = defs[attribute].get("conditions")
    if isinstance(conditions, dict) and isinstance(conditions.get("label_condition"), dict):
        wanted = conditions["label_condition"].get("label")
        if label not in ([wanted] if isinstance(wanted, str) else wanted or []):
            return NEVER
    groups = conditions.get("attribute_conditions") if isinstance(conditions, dict) else None
    groups = [g for g in groups if isinstance(g, dict)] if isinstance(groups, list) else []
    if not groups:
        return ALWAYS
    visiting = (*visiting, attribute)

    def key_holds(other, wanted):
        if other not in defs or other in visiting:
            return False
        if defs[other].get("type", "category") == "category":
            choices = set(scale_rules.leaf_labels(defs[other].get("choices")))
            if not {wanted} & choices:
                return False
        return _old_state(defs, other, label, visiting) != NEVER

    holds = any(group and all(key_holds(k, v) for k, v in group.items()) for group in groups)
    return CONDITIONAL if holds else NEVER


_names = st.sampled_from(["a", "b", "c", "d", "e"])
_attribute = st.fixed_dictionaries(
    {"type": st.sampled_from(["category", "category", "text"]), "choices": st.just(["x", "y"])},
    optional={
        "conditions": st.fixed_dictionaries(
            {},
            optional={
                "label_condition": st.fixed_dictionaries({"label": st.lists(st.sampled_from(["car", "bus", "van"]))}),
                "attribute_conditions": st.lists(
                    st.dictionaries(_names, st.sampled_from(["x", "y", "z"]), max_size=3), max_size=3
                ),
            },
        )
    },
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_names, _attribute, max_size=5))
def test_the_linear_matrix_agrees_with_the_recursive_definition(attributes):
    result = when_asked(["car", "bus"], attributes)
    for row in result.rows:
        expected = [_old_state(attributes, row.attribute, label) for label in ["car", "bus"]]
        assert [state for state, _ in row.cells] == expected, (row.attribute, attributes)


def test_an_input_past_the_cap_skips_only_the_table():
    labels = [f"label{i}" for i in range(50)]
    result = when_asked(labels, chain(matrix.MAX_WORK // 50, dead_root=False))
    assert result.rows == [] and "too many to tabulate" in result.too_large


def _preview_data(labels: list[str], attributes: dict) -> dict[str, str]:
    # Instance labels: segmentation asks its attributes (unless global) of instances only (§1.1).
    instances = [{"choice": name, "instance_label": True} for name in labels]
    return {
        "project": "p",
        "attachment": "https://example.org/street.png",
        "labels_json": json.dumps(instances),
        "attributes_json": json.dumps(attributes),
    }


def test_the_preview_of_issue_11s_3kb_post_answers_with_the_matrix(alice_client):
    data = _preview_data(["car", "person"], chain(22, dead_root=True))
    assert sum(len(v) for v in data.values()) < 4096
    response = alice_client.post(PREVIEW, data)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="when-asked"' in body
    assert "attr21: condition 1 (attr20 is yes) can never be true" in body


def test_the_preview_of_50_attributes_over_50_labels_draws_every_cell(alice_client):
    labels = [f"label{i}" for i in range(50)]
    response = alice_client.post(PREVIEW, _preview_data(labels, chain(50, dead_root=False)))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('<td class="cell-conditional" title="if attr0 is yes; or if attr0 is no">') == 50
    assert body.count('class="cell-conditional"') == 49 * 50
    assert body.count('class="cell-always"') == 50


def test_a_preview_past_the_matrix_cap_says_so_and_still_shows_the_payload(alice_client):
    labels = [f"label{i}" for i in range(50)]
    response = alice_client.post(PREVIEW, _preview_data(labels, chain(matrix.MAX_WORK // 50, dead_root=False)))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="matrix-too-large"' in body and "too many to tabulate" in body
    assert 'id="payload-json"' in body


def test_a_composer_request_over_the_size_cap_is_refused_before_it_is_parsed(alice_client, settings, users):
    from annotator.tasks.models import Task

    settings.COMPOSER_MAX_BYTES = 2048
    data = _preview_data(["car", "person"], chain(30, dead_root=True))
    response = alice_client.post(PREVIEW, data)
    assert response.status_code == 200  # htmx swaps only 2xx: the message goes where the preview goes
    body = response.content.decode()
    assert 'id="preview-too-large"' in body and "the composer takes at most 2 KB (COMPOSER_MAX_BYTES)" in body
    assert 'id="payload-json"' not in body

    response = alice_client.post(COMPOSE, {**data, "action": "submit"})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="form-errors"' in body and "the composer takes at most 2 KB" in body
    # What was typed is still in the form, and nothing was created.
    assert "attr29" in body
    assert Task.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("attributes_json", "[" * 5000 + "]" * 5000, "nests too deeply"),
        ("labels_json", "[" * 150 + "]" * 150, "nests more than 100 levels deep"),
        ("metadata_json", '{"n": ' + "9" * 5000 + "}", "more than 4300 digits"),
        ("metadata_json", '{"n": 1e999}', "too large to represent"),
        ("labels_json", '["\\ud800"]', "unpaired surrogate (\\ud800)"),
        ("attributes_json", '{"\\udfff": {"type": "text", "description": "?"}}', "unpaired surrogate (\\udfff)"),
    ],
)
def test_hostile_json_in_a_composer_field_is_a_form_error(alice_client, users, field, text, message):
    from annotator.tasks.models import Task

    data = {**_preview_data(["car"], {}), field: text}
    preview = alice_client.post(PREVIEW, data)
    assert preview.status_code == 200 and message in preview.content.decode()
    page = alice_client.post(COMPOSE, {**data, "action": "submit"})
    assert page.status_code == 200
    assert message in page.content.decode()
    assert Task.objects.count() == 0


# --- 2. Sign-in throttle: atomic, per real client behind a proxy, backoff not a hard lock -------

LOGIN = "/accounts/login/"
WRONG = "Please enter a correct username and password"
PAUSED = "Too many failed sign-in attempts"


def _login_session(base_url: str):
    import re

    import requests

    session = requests.Session()
    page = session.get(base_url + LOGIN, timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return session, token


def test_thirty_parallel_wrong_guesses_check_only_five_passwords(live_server, users, settings):
    import threading

    settings.LOGIN_FAILURE_LIMIT = 5
    sessions = [_login_session(live_server.url) for _ in range(30)]
    barrier = threading.Barrier(len(sessions))
    answers: list[str] = []
    lock = threading.Lock()

    def guess(session, token, i):
        barrier.wait()
        response = session.post(
            live_server.url + LOGIN,
            {"csrfmiddlewaretoken": token, "username": "alice", "password": f"guess-{i}"},
            headers={"Referer": live_server.url + LOGIN},
            timeout=60,
        )
        with lock:
            answers.append(response.text)

    threads = [threading.Thread(target=guess, args=(s, t, i)) for i, (s, t) in enumerate(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    checked = sum(WRONG in answer for answer in answers)
    paused = sum(PAUSED in answer for answer in answers)
    assert (checked, paused) == (5, 25)


def _post_login(client, username: str, password: str, forwarded: str | None = None, remote: str = "10.0.0.2"):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post(LOGIN, {"username": username, "password": password}, **extra).content.decode()


def test_behind_the_load_balancer_one_clients_failures_do_not_pause_the_others(client, users, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for name in ("x1", "x2", "x3", "x4", "x5", "x6"):
        _post_login(client, name, "wrong", forwarded="203.0.113.7")
    # The attacker's own address is paused ...
    assert PAUSED in _post_login(client, "x7", "wrong", forwarded="203.0.113.7")
    # ... everyone else behind the same balancer signs in.
    body = _post_login(client, "bob", "bob-password-1", forwarded="198.51.100.4")
    assert PAUSED not in body and "_auth_user_id" in client.session


def test_the_forwarded_header_is_ignored_unless_a_proxy_is_trusted(client, users, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for i, name in enumerate(("x1", "x2", "x3", "x4", "x5")):
        _post_login(client, name, "wrong", forwarded=f"203.0.113.{i}")  # a new spoofed address each time
    assert PAUSED in _post_login(client, "bob", "bob-password-1", forwarded="198.51.100.9")


def test_only_the_address_the_trusted_proxy_saw_counts(client, users, settings):
    # The client may prepend anything to X-Forwarded-For; the balancer appends what it saw.
    settings.TRUSTED_PROXY_COUNT = 1
    for i, name in enumerate(("x1", "x2", "x3", "x4", "x5")):
        _post_login(client, name, "wrong", forwarded=f"192.0.2.{i}, 203.0.113.7")
    assert PAUSED in _post_login(client, "x6", "wrong", forwarded="192.0.2.99, 203.0.113.7")


def test_an_account_pauses_with_growing_backoff_then_lets_the_right_password_in(client, users, settings):
    from tests.support import wait_until

    settings.LOGIN_BACKOFF_BASE = 1
    for i in range(5):
        assert WRONG in _post_login(client, "alice", "wrong", remote=f"10.0.1.{i}")
    # The sixth attempt, even with the right password and from another address, waits ...
    assert PAUSED in _post_login(client, "alice", "alice-password-1", remote="10.0.2.1")
    assert "_auth_user_id" not in client.session
    # ... but only for the backoff (1 s here), not for the whole window: then it is checked.
    wait_until(
        lambda: PAUSED not in _post_login(client, "alice", "wrong", remote="10.0.2.2"),
        timeout=30,
        message="the pause to end",
    )
    # That failure doubled the pause; the right password gets in once it has passed.
    wait_until(
        lambda: PAUSED not in _post_login(client, "alice", "alice-password-1", remote="10.0.2.3"),
        timeout=30,
        message="the doubled pause to end",
    )
    assert str(users.alice.pk) == client.session["_auth_user_id"]


# --- 3. Uploads: capped while read, streamed, and not kept forever ------------------------------


@pytest.fixture
def bulk_template(users):
    from annotator.composer.models import TaskTemplate

    return TaskTemplate.objects.create(
        workspace=users.ws_a, name="Streets", task_type="segmentannotation", payload={"labels": ["road", "car"]}
    )


def _kept_uploads(settings_) -> list[Path]:
    root = Path(settings_.DATA_DIR) / "uploads"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _upload(client, template, content: bytes, name: str = "rows.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post("/submit/", {"template": template.code, "file": SimpleUploadedFile(name, content)})


def test_an_upload_over_the_cap_is_refused_with_a_message_and_nothing_is_kept_or_created(
    alice_client, users, bulk_template, settings
):
    from annotator.tasks.models import SubmissionGroup, Task

    settings.SUBMIT_MAX_UPLOAD_BYTES = 100_000
    before = _kept_uploads(settings)
    rows = b"attachment\n" + b"".join(b"https://example.org/f/%06d.png\n" for i in range(5000))  # ~160 KB
    response = _upload(alice_client, bulk_template, rows)
    assert response.status_code == 413
    body = response.content.decode()
    assert "The file is larger than 0.1 MB, the most one upload may hold (SUBMIT_MAX_UPLOAD_BYTES)" in body
    assert "Dry run" not in body
    assert Task.objects.count() == 0 and SubmissionGroup.objects.count() == 0
    assert _kept_uploads(settings) == before
    # Under the cap, the same page works.
    response = _upload(alice_client, bulk_template, rows[:60_000].rsplit(b"\n", 1)[0] + b"\n")
    assert response.status_code == 200 and "Dry run" in response.content.decode()


def test_the_upload_handler_drops_what_is_past_the_cap_while_the_body_is_read(rf, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from annotator.submission import uploads

    settings.SUBMIT_MAX_UPLOAD_BYTES = 10_000
    request = rf.post("/submit/", {"file": SimpleUploadedFile("big.csv", b"x" * 200_000)})
    uploads.upload_limit(lambda r: None)(request)
    stored = request.FILES["file"]
    assert stored.size <= 10_000 + 64 * 1024  # at most one chunk past the cap ever reaches a file
    assert "file" in uploads.too_large(request)
    # Other pages' uploads keep their own limits: the composer sends videos of up to 200 MB to Scale.
    other = rf.post("/compose/upload/", {"file": SimpleUploadedFile("clip.mp4", b"x" * 200_000)})
    uploads.upload_limit(lambda r: None)(other)
    assert other.FILES["file"].size == 200_000 and not uploads.too_large(other)


def test_a_dry_run_upload_expires_and_its_go_ahead_then_says_to_upload_again(
    alice_client, users, bulk_template, settings
):
    import os
    import time

    from annotator.submission import bulk
    from annotator.tasks.models import Task

    settings.SUBMIT_UPLOAD_TTL = 3600
    rows = b"attachment\nhttps://example.org/a.png\n"
    assert "Submit 1 task" in _upload(alice_client, bulk_template, rows).content.decode()
    sha = bulk.source_sha256(rows)
    kept = bulk.upload_path(users.ws_a, sha)
    assert kept.is_file()
    old = time.time() - 7200
    os.utime(kept, (old, old))
    # Any later upload sweeps what is past its time ...
    _upload(alice_client, bulk_template, b"attachment\nhttps://example.org/b.png\n")
    assert not kept.exists()
    # ... and the old go-ahead is a clear message, creating nothing.
    response = alice_client.post(
        "/submit/confirm/", {"sha256": sha, "format": "csv", "template": bulk_template.code}, follow=True
    )
    assert "That upload is no longer here" in response.content.decode()
    assert Task.objects.count() == 0


def test_a_confirmed_upload_is_read_again_as_a_stream_and_creates_each_row_once(
    alice_client, users, bulk_template, django_capture_on_commit_callbacks
):
    from annotator.submission import bulk
    from annotator.tasks.models import Task

    rows = b"attachment,metadata.n\n" + b"".join(b"https://example.org/f/%d.png,%d\n" % (i, i) for i in range(1200))
    assert "Submit 1200 tasks" in _upload(alice_client, bulk_template, rows).content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        alice_client.post(
            "/submit/confirm/",
            {"sha256": bulk.source_sha256(rows), "format": "csv", "template": bulk_template.code},
        )
    tasks = Task.objects.order_by("id")
    assert tasks.count() == 1200
    assert [t.payload["metadata"]["n"] for t in tasks[:3]] == ["0", "1", "2"]
    assert tasks.last().payload["attachment"] == "https://example.org/f/1199.png"


# --- 5. Callbacks: a lone surrogate, and a time far in the future ---------------------------------


def _surrogate_callback() -> str:
    from tests.test_callbacks_receiver import fixture

    body = fixture("callback-segmentannotation-completed.json")
    body["task"]["metadata"] = {"note": "PLACEHOLDER"}
    body["response"] = {**body.get("response", {}), "comment": "PLACEHOLDER"}
    # json.dumps would refuse to write a lone surrogate from a str: put the escape in the text itself.
    return json.dumps(body).replace("PLACEHOLDER", "\\ud800 and \\udfff")


def test_a_callback_with_a_lone_surrogate_is_applied_and_its_task_page_still_answers(alice_client, users):
    from annotator.tasks import transitions
    from annotator.tasks.models import CallbackEvent
    from tests.test_callbacks_receiver import make_task, post

    task = make_task(users.ws_a, users.alice)
    response = post(alice_client, users.ws_a, _surrogate_callback())
    assert response.status_code == 200
    outcome = transitions.apply_callback_event(CallbackEvent.objects.get().id)
    assert outcome == "pending → completed"
    task.refresh_from_db()
    assert task.scale_status == "completed"
    # The characters that are not characters are shown as U+FFFD; everything else is kept.
    assert task.response["comment"] == "\ufffd and \ufffd"
    page = alice_client.get(f"/tasks/{task.code}/")
    assert page.status_code == 200
    assert "\ufffd and \ufffd" in page.content.decode()


def _future_callback(updated_at: str) -> dict:
    from tests.test_callbacks_receiver import fixture

    body = fixture("callback-segmentannotation-completed.json")
    body["task"]["updated_at"] = updated_at
    return body


def test_a_callback_dated_far_in_the_future_is_refused_and_cannot_freeze_the_task(alice_client, users, settings):
    from datetime import timedelta

    from django.utils import timezone

    from annotator.tasks.models import CallbackEvent
    from tests.test_callbacks_receiver import fixture, make_task, post
    from tests.test_callbacks_transitions import deliver

    settings.CALLBACK_MAX_CLOCK_SKEW = 600
    task = make_task(users.ws_a, users.alice)
    pending = fixture("callback-segmentannotation-completed.json")
    pending["status"] = pending["task"]["status"] = "pending"
    pending["task"]["updated_at"] = "9999-12-31T00:00:00Z"
    response = post(alice_client, users.ws_a, pending)
    assert response.status_code == 400
    assert "9999-12-31" in response.json()["error"] and "in the future" in response.json()["error"]
    assert CallbackEvent.objects.count() == 0
    # The real completion, a moment later, is applied, not "stale".
    now = timezone.now()
    assert deliver(users.ws_a, _future_callback(now.isoformat())) == "pending → completed"
    task.refresh_from_db()
    assert task.scale_status == "completed"
    # Clocks differ a little: within the skew is accepted.
    other = make_task(users.ws_a, users.alice, scale_task_id="6650d9a3c2f1e4001f3b2a11", unique_id="dash:2")
    body = _future_callback((now + timedelta(seconds=300)).isoformat())
    body["task_id"] = body["task"]["task_id"] = other.scale_task_id
    assert post(alice_client, users.ws_a, body).status_code == 200
