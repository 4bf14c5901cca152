"""Group commit in the callback receiver: callbacks that arrive together share an INSERT.

PostgreSQL only (SQLite stores each callback on its own). The tests hold the
first INSERT back with a row lock from another connection, so the callbacks
that arrive meanwhile are certain to queue up and go to the database together.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from django.db import DataError, connection, connections

from annotator.tasks import callbacks
from annotator.tasks.models import CallbackEvent
from tests import support

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("group commit is PostgreSQL's; SQLite stores each callback on its own")


def raw(task_id: str) -> bytes:
    return json.dumps({"task_id": task_id, "status": "completed"}).encode()


def store_in_thread(workspace_id: int, body: bytes, parsed: callbacks.Parsed | None = None) -> int | None:
    try:
        return callbacks.store(workspace_id, body, parsed or callbacks.parse(body))
    finally:
        connections.close_all()  # each pool thread has its own connection


def admin_connection() -> psycopg.Connection:
    """A connection of the test's own to the test database, outside Django."""
    return psycopg.connect(support.test_database_url())


def hold_back(blocker: psycopg.Connection, workspace_id: int, body: bytes) -> None:
    """Insert `body` uncommitted: another INSERT of it waits until `blocker` ends."""
    blocker.execute(
        "INSERT INTO tasks_callbackevent (workspace_id, scale_task_id, status, body, body_sha256, received_at,"
        " outcome) VALUES (%s, %s, 'completed', %s, %s, now(), '')",
        [workspace_id, json.loads(body)["task_id"], body.decode(), hashlib.sha256(body).hexdigest()],
    )


def waiting_in_group(n: int) -> bool:
    with callbacks._group._lock:
        return len(callbacks._group._waiting) == n


def test_callbacks_that_arrive_during_an_insert_share_the_next_one_and_each_gets_its_answer(users):
    ws = users.ws_a.id
    first = raw("a0")
    others = [raw(f"a{n}") for n in range(1, 8)] + [raw("a3")]  # the last is a duplicate within the group
    with admin_connection() as blocker, ThreadPoolExecutor(max_workers=9) as pool:
        hold_back(blocker, ws, first)
        leader = pool.submit(store_in_thread, ws, first)
        support.wait_until(lambda: waiting_in_group(0) and callbacks._group._leader, timeout=5, message="leading")
        followers = [pool.submit(store_in_thread, ws, body) for body in others]
        support.wait_until(lambda: waiting_in_group(len(others)), timeout=5, message="queued behind it")
        blocker.commit()  # the held-back row is now stored: the leader's body is a duplicate
        assert leader.result(timeout=10) is None
        answers = [f.result(timeout=10) for f in followers]

    rows = {e.scale_task_id: e for e in CallbackEvent.objects.all()}
    assert sorted(rows) == [f"a{n}" for n in range(8)]
    assert answers[:7] == [rows[f"a{n}"].id for n in range(1, 8)]
    assert answers[7] is None  # a3 again: stored once, answered as a duplicate
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT xmin::text) FROM tasks_callbackevent WHERE scale_task_id <> 'a0'")
        assert cursor.fetchone()[0] == 1  # the seven new rows went in one transaction


def test_a_group_whose_insert_fails_fails_every_callback_in_it_and_stores_none(users):
    ws = users.ws_a.id
    first = raw("b0")
    good = [raw(f"b{n}") for n in range(1, 4)]
    # A NUL character: the receiver's JSON parser refuses it, PostgreSQL's text type too.
    bad = b'{"task_id": "b9", "status": "completed", "x": "\x00"}'
    bad_parsed = callbacks.Parsed(task_id="b9", status="completed", updated_at=None, task=None, response=None)
    with admin_connection() as blocker, ThreadPoolExecutor(max_workers=5) as pool:
        hold_back(blocker, ws, first)
        leader = pool.submit(store_in_thread, ws, first)
        support.wait_until(lambda: callbacks._group._leader, timeout=5, message="leading")
        followers = [pool.submit(store_in_thread, ws, body) for body in good]
        followers.append(pool.submit(store_in_thread, ws, bad, bad_parsed))
        support.wait_until(lambda: waiting_in_group(4), timeout=5, message="queued behind it")
        blocker.rollback()  # the held-back row is gone: the leader's own insert goes through
        assert leader.result(timeout=10) is not None
        for f in followers:
            with pytest.raises(DataError):
                f.result(timeout=10)

    assert list(CallbackEvent.objects.values_list("scale_task_id", flat=True)) == ["b0"]
    # The group is free again: the next callback is stored on its own.
    assert store_in_thread(ws, good[0]) is not None
    assert CallbackEvent.objects.count() == 2


def test_many_concurrent_callbacks_are_each_stored_once(users):
    ws = users.ws_a.id
    bodies = [raw(f"c{n % 150}") for n in range(300)]  # every body twice
    barrier = threading.Barrier(12)

    def send(body: bytes) -> int | None:
        with contextlib.suppress(threading.BrokenBarrierError):  # twelve at a time, as far as it goes
            barrier.wait(timeout=5)
        return store_in_thread(ws, body)

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(send, bodies))
    new = [a for a in answers if a is not None]
    assert len(new) == 150 and len(set(new)) == 150
    assert CallbackEvent.objects.count() == 150
    assert set(CallbackEvent.objects.values_list("id", flat=True)) == set(new)
