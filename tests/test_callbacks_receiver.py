"""The callback endpoint: authenticate first, store once, answer fast, never 500."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core import mail

from annotator.tasks import callbacks
from annotator.tasks.models import CallbackEvent, Task, TaskEvent
from tests import support

FIXTURES = Path(__file__).parent / "fixtures" / "scale"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The users fixture hashes three passwords; the default hasher is slow on purpose.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Keys and the last wake-up are remembered per process: each test starts fresh.
    callbacks.forget_keys()
    callbacks.forget_wake()


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def post(client, workspace, body, key: str | None = "__own__", token: str | None = None, **extra):
    headers = {}
    if key == "__own__":
        key = workspace.callback_auth_key
    if key is not None:
        headers["HTTP_SCALE_CALLBACK_AUTH"] = key
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(
        f"/callbacks/{token or workspace.callback_token}/", raw, content_type="application/json", **headers, **extra
    )


def queue_length(name: str = "callbacks") -> int:
    if not settings.REDIS_URL:
        return 0
    return redis.Redis.from_url(settings.REDIS_URL).llen(name)


def make_task(workspace, user, **fields) -> Task:
    defaults = {
        "task_type": "segmentannotation",
        "payload": {"attachment": "https://example.org/a.png", "labels": ["road"]},
        "unique_id": "dash:seg:street_000123",
        "state": Task.State.SUBMITTED,
        "scale_task_id": "6650d9a3c2f1e4001f3b2a10",
        "scale_status": "pending",
    }
    defaults.update(fields)
    task = Task(workspace=workspace, created_by=user, **defaults)
    task.fill_denormalized()
    task.save()
    return task


def test_it_stores_an_authentic_callback_and_enqueues_one_job(client, users, django_capture_on_commit_callbacks):
    make_task(users.ws_a, users.alice)
    callbacks.clear_wake()
    before = queue_length()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, users.ws_a, fixture("callback-segmentannotation-completed.json"))
    assert response.status_code == 200
    event = CallbackEvent.objects.get()
    assert event.workspace == users.ws_a
    assert event.status == "completed"
    assert event.scale_task_id == "6650d9a3c2f1e4001f3b2a10"
    assert event.scale_updated_at.isoformat().startswith("2026-05-03T08:42:07.918")
    assert event.processed_at is None  # applied later, by the job
    if settings.REDIS_URL:
        assert queue_length() == before + 1


def _forgeries(users):
    a, b = users.ws_a, users.ws_b
    key = a.callback_auth_key
    return {
        "no header": (a.callback_token, None),
        "empty header": (a.callback_token, ""),
        "wrong key of the same length": (a.callback_token, "x" * len(key)),
        "right key plus a byte": (a.callback_token, key + "x"),
        "right key minus a byte": (a.callback_token, key[:-1]),
        "the key sent twice": (a.callback_token, f"{key}, {key}"),
        "another workspace's key": (a.callback_token, b.callback_auth_key),
        "right key on another workspace's URL": (b.callback_token, key),
        "unknown token": ("no-such-token", key),
    }


FORGERIES = [
    "no header",
    "empty header",
    "wrong key of the same length",
    "right key plus a byte",
    "right key minus a byte",
    "the key sent twice",
    "another workspace's key",
    "right key on another workspace's URL",
    "unknown token",
]


@pytest.mark.parametrize("forgery", FORGERIES)
def test_it_refuses_forged_callbacks_and_leaves_nothing_behind(
    client, users, forgery, django_capture_on_commit_callbacks
):
    task = make_task(users.ws_a, users.alice)
    token, key = _forgeries(users)[forgery]
    before = queue_length()
    with django_capture_on_commit_callbacks(execute=True) as jobs:
        response = client.post(
            f"/callbacks/{token}/",
            json.dumps(fixture("callback-segmentannotation-completed.json")),
            content_type="application/json",
            **({"HTTP_SCALE_CALLBACK_AUTH": key} if key is not None else {}),
        )
    assert response.status_code == 401
    assert CallbackEvent.objects.count() == 0
    assert TaskEvent.objects.count() == 0
    assert jobs == []
    assert queue_length() == before
    assert len(mail.outbox) == 0
    task.refresh_from_db()
    assert task.scale_status == "pending"


def test_a_workspace_without_a_callback_key_accepts_nothing(client, users):
    users.ws_a.callback_auth_key = ""
    users.ws_a.save()
    assert post(client, users.ws_a, {"task_id": "ab", "status": "completed"}, key="").status_code == 401
    assert post(client, users.ws_a, {"task_id": "ab", "status": "completed"}, key=None).status_code == 401
    assert CallbackEvent.objects.count() == 0


def test_it_compares_the_secret_in_constant_time():
    source = inspect.getsource(callbacks.authenticate)
    assert "hmac.compare_digest" in source
    assert "== expected" not in source and "expected ==" not in source.replace("expected == _NO_KEY", "")


def test_it_answers_a_duplicate_with_200_and_stores_nothing_new(client, users):
    body = fixture("callback-segmentannotation-completed.json")
    first = post(client, users.ws_a, body)
    second = post(client, users.ws_a, body)
    assert first.status_code == second.status_code == 200
    assert second.json()["duplicate"] is True
    assert CallbackEvent.objects.count() == 1


def test_the_same_body_for_two_workspaces_is_two_events(client, users):
    body = fixture("callback-task-error.json")
    assert post(client, users.ws_a, body).status_code == 200
    assert post(client, users.ws_b, body).status_code == 200
    assert CallbackEvent.objects.count() == 2


def test_it_keeps_authentic_events_for_unknown_tasks(client, users):
    response = post(client, users.ws_a, fixture("callback-videoannotation-completed.json"))
    assert response.status_code == 200
    event = CallbackEvent.objects.get()
    assert event.task is None and event.status == "completed"


def test_it_reads_the_status_from_the_task_when_the_body_has_none(client, users):
    body = fixture("callback-task-error.json")
    del body["status"]
    assert post(client, users.ws_a, body).status_code == 200
    assert CallbackEvent.objects.get().status == "error"


def test_it_falls_back_to_completed_at_then_created_at(client, users):
    body = fixture("callback-segmentannotation-completed.json")
    del body["task"]["updated_at"]
    assert post(client, users.ws_a, body).status_code == 200
    assert CallbackEvent.objects.get().scale_updated_at.isoformat().startswith("2026-05-03T08:42:07")


BAD_BODIES = {
    "not JSON": (b"{nope", "not valid JSON"),
    "not UTF-8": (b'{"task_id": "\xff\xfe"}', "not UTF-8"),
    "a JSON array": (b"[1, 2]", "JSON object"),
    "a JSON string": (b'"completed"', "JSON object"),
    "empty": (b"", "not valid JSON"),
    "deep nesting that breaks json.loads": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "65 levels of objects": (
        ('{"task_id": "ab", "status": "completed", "x": ' + '{"a": ' * 64 + "1" + "}" * 64 + "}").encode(),
        "nested too deeply",
    ),
    "an integer of 5,000 digits": (b'{"task_id": "ab", "status": "completed", "n": ' + b"9" * 5000 + b"}", "JSON"),
    "no task_id": (b'{"status": "completed"}', "task_id"),
    "a numeric task_id": (b'{"task_id": 12, "status": "completed"}', "task_id"),
    "a task_id that is not hex": (b'{"task_id": "../../etc", "status": "completed"}', "task_id"),
    "a task_id too long": (json.dumps({"task_id": "a" * 33, "status": "completed"}).encode(), "task_id"),
    "no status anywhere": (b'{"task_id": "ab"}', "status"),
    "an unknown status": (b'{"task_id": "ab", "status": "done"}', "status"),
    "a status that is a list": (b'{"task_id": "ab", "status": ["completed"]}', "status"),
    "task not an object": (b'{"task_id": "ab", "status": "completed", "task": "x"}', "task must be an object"),
    "task ids that disagree": (b'{"task_id": "ab", "status": "completed", "task": {"task_id": "cd"}}', "match"),
    "an updated_at that is not a date": (
        b'{"task_id": "ab", "status": "completed", "task": {"updated_at": "yesterday"}}',
        "ISO 8601",
    ),
    "an updated_at of month 13": (
        b'{"task_id": "ab", "status": "completed", "task": {"updated_at": "2026-13-01T00:00:00Z"}}',
        "ISO 8601",
    ),
    "an updated_at that is a number": (
        b'{"task_id": "ab", "status": "completed", "task": {"updated_at": 17}}',
        "date string",
    ),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_it_answers_400_with_a_clear_message_to_a_bad_body(client, users, case):
    body, words = BAD_BODIES[case]
    response = post(client, users.ws_a, body)
    assert response.status_code == 400, response.content[:200]
    assert words in response.json()["error"]
    assert CallbackEvent.objects.count() == 0


def test_it_accepts_a_body_of_almost_10_mb(client, users):
    body = fixture("callback-segmentannotation-completed.json")
    body["task"]["metadata"]["padding"] = "x" * (10 * 1024 * 1024 - 6000)
    raw = json.dumps(body).encode()
    assert 9.9 * 1024 * 1024 < len(raw) <= 10 * 1024 * 1024
    assert post(client, users.ws_a, raw).status_code == 200
    assert len(CallbackEvent.objects.get().body) == len(raw)


def test_it_answers_413_to_a_body_over_10_mb(client, users):
    raw = b'{"task_id": "ab", "status": "completed", "x": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    response = post(client, users.ws_a, raw)
    assert response.status_code == 413
    assert CallbackEvent.objects.count() == 0


def test_it_accepts_only_post(client, users):
    response = client.get(f"/callbacks/{users.ws_a.callback_token}/")
    assert response.status_code == 405


def test_a_burst_of_callbacks_wakes_one_drain_that_queues_each_event_once(
    client, users, django_capture_on_commit_callbacks
):
    callbacks.clear_wake()
    with django_capture_on_commit_callbacks(execute=False) as jobs:
        for n in range(5):
            assert post(client, users.ws_a, {"task_id": f"{n:024x}", "status": "completed"}).status_code == 200
    if settings.REDIS_URL:
        assert len(jobs) == 1  # one drain job for the burst, not five messages
    assert callbacks.claim_for_apply() == list(CallbackEvent.objects.order_by("id").values_list("id", flat=True))
    assert callbacks.claim_for_apply() == []  # claimed once
    assert set(CallbackEvent.objects.values_list("outcome", flat=True)) == {"queued"}


def test_a_callback_stored_while_the_wake_up_is_held_back_is_claimed_by_the_follow_up(
    client, users, django_capture_on_commit_callbacks, monkeypatch
):
    """The receiver skips the wake-up for WAKE_EVERY s after one; nothing may be stranded by it.

    The race: a drain starts (and clears the flag) between two callbacks of one
    process, and the second callback's wake-up is held back. The drain's
    follow-up, WAKE_EVERY s later, must claim it."""
    from annotator.tasks import jobs

    if not settings.REDIS_URL:
        pytest.skip("the wake-up flag lives in Redis")
    applied: list[int] = []
    follow_ups: list[dict] = []
    monkeypatch.setattr(jobs.apply_callback, "delay", applied.append)
    monkeypatch.setattr(jobs.drain_callbacks, "apply_async", lambda **kw: follow_ups.append(kw))
    with django_capture_on_commit_callbacks(execute=False) as woken:
        assert post(client, users.ws_a, {"task_id": "a1", "status": "completed"}).status_code == 200
    assert len(woken) == 1  # the first callback wakes a drain
    first = CallbackEvent.objects.get(scale_task_id="a1").id

    assert jobs.drain_callbacks.run() == 1  # the drain starts: it clears the flag and claims the first event
    assert applied == [first]
    assert follow_ups == [{"kwargs": {"follow_up": True}, "countdown": callbacks.WAKE_EVERY}]

    with django_capture_on_commit_callbacks(execute=False) as woken:
        assert post(client, users.ws_a, {"task_id": "a2", "status": "completed"}).status_code == 200
    assert woken == []  # held back: this process woke a drain less than WAKE_EVERY ago
    second = CallbackEvent.objects.get(scale_task_id="a2").id

    assert jobs.drain_callbacks.run(follow_up=True) == 1  # the follow-up claims it
    assert applied == [first, second]
    assert len(follow_ups) == 1  # a follow-up schedules no follow-up of its own


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_database_dropped_is_replaced_once_and_the_callback_is_stored(client, users):
    """The receiver skips Django's per-request health check: its INSERT is the check."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no server to drop the connection")
    import psycopg

    assert post(client, users.ws_a, {"task_id": "b1", "status": "completed"}).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with psycopg.connect(support.test_database_url(), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0] is True

    response = post(client, users.ws_a, {"task_id": "b2", "status": "completed"})
    assert response.status_code == 200, response.content
    assert response.json() == {"ok": True, "duplicate": False}
    assert sorted(CallbackEvent.objects.values_list("scale_task_id", flat=True)) == ["b1", "b2"]
    # The same body again is still a duplicate on the new connection, not a second row.
    assert post(client, users.ws_a, {"task_id": "b2", "status": "completed"}).json()["duplicate"] is True
    assert CallbackEvent.objects.count() == 2
