"""Applying callbacks: right final status whatever the order, one change per real change."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from annotator.tasks import callbacks, transitions
from annotator.tasks.models import CallbackEvent, Notification, Task, TaskEvent
from tests.test_callbacks_receiver import fixture, make_task

T0 = datetime(2026, 5, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def body(status: str, minutes: float | None, task_id: str = "6650d9a3c2f1e4001f3b2a10", **task) -> dict:
    obj = {"task_id": task_id, "status": status, **task}
    if minutes is not None:
        obj["updated_at"] = (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    return {"task_id": task_id, "status": status, "response": {"n": minutes}, "task": obj}


def deliver(workspace, payload: dict) -> str:
    """What the receiver and the job do, without HTTP and the broker."""
    raw = json.dumps(payload).encode()
    event_id = callbacks.store(workspace.id, raw, callbacks.parse(raw))
    return transitions.apply_callback_event(event_id) if event_id is not None else "duplicate body"


def status_changes(task: Task) -> list[tuple[str, str]]:
    return [(e.data["from"], e.data["to"]) for e in task.events.filter(kind=TaskEvent.Kind.STATUS)]


def test_it_completes_a_pending_task_and_records_the_change(users):
    task = make_task(users.ws_a, users.alice)
    outcome = deliver(users.ws_a, fixture("callback-segmentannotation-completed.json"))
    task.refresh_from_db()
    assert outcome == "pending → completed"
    assert task.scale_status == "completed" and task.display_status == "completed"
    assert task.response["labelMapping"]["road"]["index"] == 1
    assert task.callback_count == 1 and task.callback_succeeded is True and task.last_callback_at
    assert status_changes(task) == [("pending", "completed")]
    callback_event = task.events.get(kind=TaskEvent.Kind.CALLBACK)
    assert CallbackEvent.objects.get(id=callback_event.data["callback_event"]).task == task
    assert CallbackEvent.objects.get().processed_at is not None


def test_it_ignores_a_stale_event(users):
    task = make_task(users.ws_a, users.alice)
    deliver(users.ws_a, body("completed", 10))
    assert deliver(users.ws_a, body("pending", 5)) == "stale, ignored"
    task.refresh_from_db()
    assert task.scale_status == "completed"
    assert task.response == {"n": 10}
    assert status_changes(task) == [("pending", "completed")]
    assert task.callback_count == 2  # the stale one is still news that a callback came


def test_it_honours_a_recall_with_a_newer_updated_at(users):
    task = make_task(users.ws_a, users.alice)
    deliver(users.ws_a, body("completed", 10))
    deliver(users.ws_a, body("pending", 20))
    deliver(users.ws_a, body("completed", 30))
    task.refresh_from_db()
    assert task.scale_status == "completed"
    assert status_changes(task) == [("pending", "completed"), ("completed", "pending"), ("pending", "completed")]
    # One notification per change into a final status; the recall itself emails nobody.
    assert Notification.objects.filter(task=task).count() == 2


def test_applying_the_same_event_twice_changes_nothing(users):
    task = make_task(users.ws_a, users.alice)
    raw = json.dumps(body("completed", 10)).encode()
    event_id = callbacks.store(users.ws_a.id, raw, callbacks.parse(raw))
    transitions.apply_callback_event(event_id)
    assert transitions.apply_callback_event(event_id) == "already processed"
    assert status_changes(task) == [("pending", "completed")]
    assert Notification.objects.filter(task=task).count() == 1


def test_the_same_news_in_a_different_body_changes_nothing(users):
    task = make_task(users.ws_a, users.alice)
    deliver(users.ws_a, body("completed", 10))
    assert deliver(users.ws_a, {**body("completed", 10), "extra": 1}) == "already known"
    assert len(status_changes(task)) == 1


def test_it_finds_the_task_by_unique_id_when_the_callback_beats_the_create_response(users):
    task = make_task(users.ws_a, users.alice, state=Task.State.SUBMITTING, scale_task_id="", scale_status="")
    deliver(users.ws_a, fixture("callback-segmentannotation-completed.json"))
    task.refresh_from_db()
    assert task.scale_task_id == "6650d9a3c2f1e4001f3b2a10"
    assert task.scale_status == "completed"


def test_it_does_not_apply_a_callback_to_another_workspace_task(users):
    task_b = make_task(users.ws_b, users.charlie)
    assert deliver(users.ws_a, body("completed", 10)) == "unknown task: kept"
    task_b.refresh_from_db()
    assert task_b.scale_status == "pending"


def test_an_event_without_dates_is_ordered_by_arrival(users):
    task = make_task(users.ws_a, users.alice)
    deliver(users.ws_a, body("error", None))
    task.refresh_from_db()
    assert task.scale_status == "error"


def test_a_final_status_notifies_the_submitter_and_subscribers_only(users):
    from annotator.accounts.models import Membership

    Membership.objects.filter(user=users.bob).update(subscribed=True)
    task = make_task(users.ws_a, users.alice)
    deliver(users.ws_a, body("canceled", 10))
    assert sorted(n.user.username for n in Notification.objects.filter(task=task)) == ["alice", "bob"]
    Membership.objects.filter(user=users.alice).update(notify="none")
    task2 = make_task(users.ws_a, users.alice, unique_id="u2", scale_task_id="aaaaaaaaaaaaaaaaaaaaaaaa")
    deliver(users.ws_a, body("completed", 10, task_id="aaaaaaaaaaaaaaaaaaaaaaaa"))
    assert [n.user.username for n in Notification.objects.filter(task=task2)] == ["bob"]


# --- Property: any order, any duplicates, the newest news wins ----------------

STATUSES = st.sampled_from(["pending", "completed", "error", "canceled"])


@st.composite
def histories(draw):
    """A task's true history (distinct times), then the order Scale happens to deliver it in."""
    n = draw(st.integers(min_value=1, max_value=8))
    minutes = draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n, unique=True))
    events = [(m, draw(STATUSES)) for m in minutes]
    # Recalls: a completed task going back to pending later is part of the history.
    if draw(st.booleans()):
        last = max(minutes)
        events += [(last + 1, "completed"), (last + 2, "pending")]
    repeats = draw(st.lists(st.sampled_from(events), max_size=6))
    delivered = draw(st.permutations(events + repeats))
    return events, delivered


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories())
def test_any_delivery_order_ends_in_the_status_of_the_newest_event(users, history):
    events, delivered = history
    Task.objects.all().delete()
    CallbackEvent.objects.all().delete()
    task = make_task(users.ws_a, users.alice, scale_status="pending", scale_updated_at=T0 - timedelta(days=1))
    for minutes, status in delivered:
        deliver(users.ws_a, body(status, minutes))
    task.refresh_from_db()
    newest = max(events)
    assert task.scale_status == newest[1]
    assert task.scale_updated_at == T0 + timedelta(minutes=newest[0])
    # Every recorded change is a real change, and they chain from the first status.
    changes = status_changes(task)
    assert all(a != b for a, b in changes)
    assert all(changes[i][1] == changes[i + 1][0] for i in range(len(changes) - 1))
    assert (changes[-1][1] if changes else "pending") == task.scale_status
    # Never more status changes than distinct events delivered.
    assert len(changes) <= len(set(events))
