"""Redis down: no saved task turns into an error page, and nothing is sent twice.

A real Redis (the test's own), killed while a person signs in, composes and submits
a task, looks at the table; brought back, the sweeper sends the task to the sandbox
(over HTTP, through a real worker) exactly once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from annotator.tasks.models import Task
from tests.forms import form_fields
from tests.support import Worker, wait_until
from tests.test_submission_reliability import API_KEY, FAST, broker_at

# The request must not be held while the broker is unreachable (refused at once)
# or hung (only timeouts end a call: REDIS_TIMEOUT, publish retries, the cache's
# circuit). Generous for a loaded machine; without the timeouts a hung Redis
# holds a page forever.
MAX_SECONDS_PER_PAGE = 10


@pytest.fixture
def sandbox_ws(users, live_server, settings):
    from annotator.sandbox.models import SandboxAccount

    settings.SITE_URL = live_server.url
    settings.SANDBOX_COMPLETE_AFTER = 3600
    ws = users.ws_a
    ws.target = ws.Target.SANDBOX
    ws.set_api_key(API_KEY)
    ws.save()
    SandboxAccount.objects.ensure(API_KEY, ws.callback_auth_key)
    return ws


@pytest.fixture
def redis_that_dies(ephemeral_redis, settings):
    """Broker and cache on the test's own Redis, configured as settings.py configures them."""
    from annotator.settings import redis_cache

    settings.CACHES = {"default": redis_cache(ephemeral_redis.url[:-1] + "1")}
    with broker_at(ephemeral_redis.url):
        yield ephemeral_redis


@pytest.fixture(autouse=True)
def _urls_loaded():
    # The first request of a process imports every view; not what is timed here.
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018


def timed(call, *args, **kwargs):
    started = time.monotonic()
    response = call(*args, **kwargs)
    elapsed = time.monotonic() - started
    assert elapsed < MAX_SECONDS_PER_PAGE, f"{args[0]} took {elapsed:.1f} s with Redis down"
    return response


@pytest.mark.django_db(transaction=True)
def test_with_redis_down_a_submitted_task_is_queued_once_and_sent_once_redis_is_back(
    client, sandbox_ws, users, live_server, redis_that_dies
):
    from annotator.sandbox.models import SandboxTask

    redis_that_dies.kill()

    # Sign in, as a person does, while Redis is down.
    assert timed(client.get, "/accounts/login/").status_code == 200
    signed_in = timed(
        client.post, "/accounts/login/", {"username": "alice", "password": "alice-password-1"}, follow=True
    )
    assert signed_in.status_code == 200 and signed_in.context["user"].username == "alice"

    # Compose: fill the form from a payload, then press "Submit to Scale".
    url = "/compose/segmentannotation/"
    assert timed(client.get, url).status_code == 200
    payload = '{"attachment": "https://example.org/street.png", "labels": ["road", "car"], "instruction": "Segment"}'
    filled = timed(client.post, url, {"action": "import", "import_json": payload})
    assert filled.status_code == 200
    fields = dict(form_fields(filled.content.decode(), "compose-form"))
    fields["action"] = "submit"
    submitted = timed(client.post, url, fields, follow=True)

    assert submitted.status_code == 200
    task = Task.objects.get()  # exactly one row
    assert task.state == Task.State.QUEUED
    assert submitted.redirect_chain[-1][0].endswith(f"/tasks/{task.code}/")
    page = submitted.content.decode()
    assert "Task created. It goes to Scale in the background; the status below follows it live." in page
    assert f'id="task-status">{task.display_status}<' in page and task.display_status == "queued"

    # The table and the task page work without Redis too.
    table = timed(client.get, "/tasks/")
    assert table.status_code == 200 and str(task.code) in table.content.decode()
    assert timed(client.get, f"/tasks/{task.code}/").status_code == 200
    assert timed(client.get, "/").status_code == 200

    # Redis back (empty: the message never got there): the sweeper sends the row, once.
    redis_that_dies.start()
    worker = Worker(
        concurrency=2,
        pool="threads",
        beat=True,
        SITE_URL=live_server.url,
        REDIS_URL=redis_that_dies.url,
        CACHE_URL=redis_that_dies.url[:-1] + "1",
        **FAST,
    ).start()
    try:
        wait_until(
            lambda: Task.objects.filter(state=Task.State.SUBMITTED).count() == 1,
            timeout=60,
            message="the queued task to reach the sandbox",
        )
        time.sleep(FAST_SWEEPS_SETTLE)  # a second sweep must not send it again
    finally:
        worker.stop()
    assert Task.objects.count() == 1
    assert SandboxTask.objects.count() == 1
    assert SandboxTask.objects.get().unique_id == Task.objects.get().unique_id


# Three sweeper intervals (FAST sweeps every second).
FAST_SWEEPS_SETTLE = 3


class HungRedis:
    """A server that accepts connections and never answers: a Redis that is stopped
    (SIGSTOP), swapping, or behind a half-open connection. Only timeouts end a call."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.mark.django_db(transaction=True)
def test_a_redis_that_never_answers_holds_no_page(client, sandbox_ws, users, settings):
    from annotator.settings import redis_cache

    hung = HungRedis()
    settings.CACHES = {"default": redis_cache(hung.url[:-1] + "1")}
    try:
        with broker_at(hung.url):
            signed_in = timed(
                client.post, "/accounts/login/", {"username": "alice", "password": "alice-password-1"}, follow=True
            )
            assert signed_in.context["user"].username == "alice"
            url = "/compose/segmentannotation/"
            payload = '{"attachment": "https://example.org/street.png", "labels": ["road", "car"]}'
            filled = timed(client.post, url, {"action": "import", "import_json": payload})
            fields = dict(form_fields(filled.content.decode(), "compose-form"))
            fields["action"] = "submit"
            submitted = timed(client.post, url, fields, follow=True)
            assert submitted.status_code == 200
            assert Task.objects.get().state == Task.State.QUEUED
            assert timed(client.get, "/tasks/").status_code == 200
    finally:
        hung.close()
