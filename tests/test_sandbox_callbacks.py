"""The sandbox calls back like Scale: a real worker POSTs to a real endpoint, with retries."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import scaleapi
from scaleapi.tasks import TaskType

from tests import support
from tests.support import Worker, wait_until

FIXTURES = Path(__file__).parent / "fixtures" / "sandbox"
KEY = "test_callbacks_key"
AUTH = "the-callback-auth-key"
# 20 attempts over ~24 h compressed to under a second.
RETRY_SCALE = "0.00001"

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Received:
    headers: dict
    body: dict


@dataclass
class Endpoint:
    """A tiny real HTTP server on loopback that records callbacks and answers a script."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if len(self.statuses) > 1 else (self.statuses[0] if self.statuses else 200)


@pytest.fixture
def endpoint():
    state = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                state.received.append(Received(dict(self.headers.items()), json.loads(body)))
            self.send_response(state.next_status())
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/scale/callback/"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def unreachable_url():
    from annotator.devstack import free_port

    return f"http://127.0.0.1:{free_port()}/nobody-listens"


@pytest.fixture
def worker(transactional_db, endpoint, unreachable_url):
    # The loopback endpoints play public callback receivers: the operator trusts them
    # (FETCH_TRUSTED_URLS); any other private callback_url is refused (test_security_outbound).
    trusted = f"{endpoint.url},{unreachable_url}"
    worker = Worker(
        SANDBOX_COMPLETE_AFTER="0", SANDBOX_CALLBACK_RETRY_SCALE=RETRY_SCALE, FETCH_TRUSTED_URLS=trusted
    ).start()
    yield worker
    worker.stop()


@pytest.fixture
def sdk(live_server, settings):

    settings.SANDBOX_COMPLETE_AFTER = 0
    settings.SANDBOX_FAULTS = ""
    support.sandbox_account(KEY, AUTH)
    return scaleapi.ScaleClient(KEY, api_instance_url=f"{live_server.url}/sandbox/v1")


def payload(task_type: str, **changes) -> dict:
    data = json.loads((FIXTURES / f"{task_type}.json").read_text())
    data.update(changes)
    return data


def delivery_of(task_id: str):
    from annotator.sandbox.models import CallbackDelivery

    return CallbackDelivery.objects.get(task__task_id=task_id, kind="final")


def test_the_completion_callback_reaches_a_live_endpoint(sdk, endpoint, worker):
    task = sdk.create_task(TaskType.SegmentAnnotation, **payload("segmentannotation", callback_url=endpoint.url))

    wait_until(lambda: endpoint.received, timeout=30, message="the callback")
    got = endpoint.received[0]
    assert got.headers["scale-callback-auth"] == AUTH
    assert got.headers["Content-Type"] == "application/json"
    assert set(got.body) == {"task_id", "status", "response", "task"}
    assert got.body["task_id"] == task.id
    assert got.body["status"] == "completed"
    assert got.body["task"]["status"] == "completed"
    assert got.body["task"]["task_id"] == task.id
    assert got.body["response"] == got.body["task"]["response"]
    assert "indexedImage" in got.body["response"]["annotations"]["combined"]

    wait_until(lambda: sdk.get_task(task.id).as_dict().get("callback_succeeded") is True, message="callback_succeeded")
    assert delivery_of(task.id).attempt_rows.count() == 1
    assert len(endpoint.received) == 1


def test_a_failing_endpoint_is_retried_until_it_answers(sdk, endpoint, worker):
    endpoint.statuses = [500, 500, 200]
    task = sdk.create_task(TaskType.VideoAnnotation, **payload("videoannotation", callback_url=endpoint.url))

    wait_until(lambda: sdk.get_task(task.id).as_dict().get("callback_succeeded") is True, message="success")
    assert len(endpoint.received) == 3
    attempts = list(delivery_of(task.id).attempt_rows.order_by("number").values_list("status_code", "succeeded"))
    assert attempts == [(500, False), (500, False), (200, True)]
    assert all(r.body == endpoint.received[0].body for r in endpoint.received)


@pytest.mark.slow
def test_an_endpoint_that_always_fails_gets_20_attempts_then_false(sdk, endpoint, worker):
    endpoint.statuses = [500]
    task = sdk.create_task(TaskType.SegmentAnnotation, **payload("segmentannotation", callback_url=endpoint.url))

    wait_until(lambda: sdk.get_task(task.id).as_dict().get("callback_succeeded") is False, timeout=60, message="false")
    assert len(endpoint.received) == 20
    delivery = delivery_of(task.id)
    assert delivery.attempts == 20
    assert delivery.attempt_rows.count() == 20
    assert delivery.succeeded is False


def test_an_unreachable_endpoint_counts_as_failure(sdk, worker, settings, unreachable_url):
    url = unreachable_url
    task = sdk.create_task(TaskType.SegmentAnnotation, **payload("segmentannotation", callback_url=url))
    wait_until(lambda: sdk.get_task(task.id).as_dict().get("callback_succeeded") is False, timeout=60, message="false")
    rows = delivery_of(task.id).attempt_rows.all()
    assert len(rows) == 20
    assert all(r.status_code is None and "refused the connection" in r.error for r in rows)


def test_duplicate_and_reordered_callbacks_can_be_injected(sdk, endpoint, worker):
    # The SDK sends no custom headers, so this create goes through requests.
    answer = requests.post(
        f"{sdk.api.base_api_url}/task/segmentannotation",
        json=payload("segmentannotation", callback_url=endpoint.url),
        auth=(KEY, ""),
        headers={"X-Sandbox-Faults": "callback_duplicate=1,callback_reorder=1"},
        timeout=10,
    )
    assert answer.status_code == 200
    wait_until(lambda: len(endpoint.received) >= 3, timeout=30, message="three callbacks")
    statuses = [r.body["status"] for r in endpoint.received]
    assert statuses == ["completed", "completed", "pending"]  # the stale event arrives last
    assert endpoint.received[0].body == endpoint.received[1].body
    stale = endpoint.received[2].body
    assert stale["task"]["status"] == "pending" and "response" not in stale["task"]
    assert all(r.headers["scale-callback-auth"] == AUTH for r in endpoint.received)


def test_an_email_callback_url_gets_the_task_by_email(transactional_db, settings, smtp_server):
    from annotator.sandbox import callbacks, lifecycle
    from annotator.sandbox.faults import Decision
    from annotator.sandbox.models import CallbackDelivery

    settings.SANDBOX_COMPLETE_AFTER = 0
    account = support.sandbox_account(KEY, AUTH)
    no_faults = Decision(False, False, False, False, False, False)
    body = payload("segmentannotation", callback_url="labeller@example.org")
    task = lifecycle.create(account, "segmentannotation", body, decision=no_faults)
    assert lifecycle.finish(task)

    # Run the callback job's function directly (no worker needed).
    delivery = CallbackDelivery.objects.get(task=task)
    assert callbacks.attempt(str(delivery.code)) is None
    assert len(smtp_server) == 1
    message = smtp_server.messages[0]
    assert message["To"] == "labeller@example.org"
    assert task.task_id in message["Subject"]
    sent = json.loads(message.get_payload(decode=True))
    assert sent["task_id"] == task.task_id
    assert sent["status"] == "completed"
    task.refresh_from_db()
    assert task.callback_succeeded is True


def test_callback_fail_injection_fails_attempts_without_sending(transactional_db, settings, endpoint):
    from annotator.sandbox import callbacks, lifecycle
    from annotator.sandbox.faults import Decision
    from annotator.sandbox.models import CallbackDelivery

    settings.SANDBOX_COMPLETE_AFTER = 0
    settings.SANDBOX_CALLBACK_RETRY_SCALE = 0.001
    account = support.sandbox_account(KEY, AUTH)
    no_faults = Decision(False, False, False, False, False, False)
    body = payload("segmentannotation", callback_url=endpoint.url)
    task = lifecycle.create(account, "segmentannotation", body, decision=no_faults, callback_fail=1.0)
    assert lifecycle.finish(task)

    delivery = CallbackDelivery.objects.get(task=task)
    assert callbacks.attempt(str(delivery.code)) == pytest.approx(0.03)  # first retry: 30 s x 0.001
    assert endpoint.received == []
    assert delivery.attempt_rows.get().error == "sandbox fault injection: callback_fail"
