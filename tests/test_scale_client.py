"""The Scale client against a real HTTP server on loopback (no mocks of requests)."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from annotator import scale_client
from annotator.devstack import free_port
from annotator.scale_client import (
    DuplicateError,
    PermanentError,
    ScaleClient,
    ScaleError,
    TemporaryError,
    parse_retry_after,
)

EXAMPLES = Path(__file__).parent / "fixtures" / "scale"  # Scale's published examples, as given


class FakeScale:
    """Answers each request with the next scripted reply; records what it received."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, dict, bytes, float]] = []
        self.received: list[dict] = []
        self.connections: set[tuple[str, int]] = set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is visible

            def log_message(self, *args) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.connections.add(self.client_address)
                fake.received.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, headers, payload, delay = fake.replies.pop(0) if fake.replies else (200, {}, b"{}", 0)
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                headers = {"Content-Type": "application/json", **headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def reply(self, status: int, body: object = None, headers: dict | None = None, delay: float = 0) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body if body is not None else {}).encode()
        self.replies.append((status, headers or {}, raw, delay))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    server = FakeScale()
    yield server
    server.close()


def client(fake: FakeScale, **kwargs) -> ScaleClient:
    return ScaleClient(fake.url, "live_secret_key", **kwargs)


def test_it_creates_a_task_with_basic_auth_json_and_a_user_agent(fake):
    fake.reply(200, {"task_id": "6650d9a3c2f1e4001f3b2a10", "status": "pending"})
    task = client(fake).create_task("segmentannotation", {"attachment": "https://x/1.png", "unique_id": "u1"})
    assert task["task_id"] == "6650d9a3c2f1e4001f3b2a10"
    sent = fake.received[0]
    assert sent["method"] == "POST"
    assert sent["path"] == "/v1/task/segmentannotation"
    assert json.loads(sent["body"]) == {"attachment": "https://x/1.png", "unique_id": "u1"}
    assert sent["headers"]["Authorization"] == "Basic " + base64.b64encode(b"live_secret_key:").decode()
    assert sent["headers"]["User-Agent"].startswith("annotator/")


def test_it_reuses_one_connection_for_many_calls(fake):
    for _ in range(5):
        fake.reply(200, {"task_id": "a" * 24})
    c = client(fake)
    for _ in range(5):
        c.get_task("a" * 24)
    assert len(fake.received) == 5
    assert len(fake.connections) == 1


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 422])
def test_it_maps_client_errors_to_permanent_errors_with_scales_message(fake, status):
    fake.reply(status, {"status_code": status, "error": f"nope {status}"})
    with pytest.raises(PermanentError) as caught:
        client(fake).create_task("segmentannotation", {})
    assert not isinstance(caught.value, TemporaryError)
    assert caught.value.status_code == status
    assert caught.value.message == f"nope {status}"
    assert str(caught.value) == f"HTTP {status}: nope {status}"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_it_maps_timeouts_throttling_and_server_errors_to_temporary_errors(fake, status):
    fake.reply(status, {"status_code": status, "error": "try later"})
    with pytest.raises(TemporaryError) as caught:
        client(fake).create_task("segmentannotation", {})
    assert caught.value.status_code == status
    assert caught.value.message == "try later"


def test_it_never_retries_a_post_by_itself(fake):
    fake.reply(500, {"error": "boom"})
    fake.reply(200, {"task_id": "b" * 24})
    with pytest.raises(TemporaryError):
        client(fake).create_task("segmentannotation", {"unique_id": "u"})
    assert len(fake.received) == 1


def test_a_409_is_a_duplicate_carrying_the_existing_task_id_from_scales_example(fake):
    body = json.loads((EXAMPLES / "error-409-duplicate-unique-id.json").read_text())
    fake.reply(409, body)
    with pytest.raises(DuplicateError) as caught:
        client(fake).create_task("segmentannotation", {"unique_id": "dash:seg:street_000123"})
    assert isinstance(caught.value, PermanentError)
    assert caught.value.existing_task_id == "6650d9a3c2f1e4001f3b2a10"
    assert "already used" in caught.value.message


def test_a_409_without_a_task_id_in_the_message_has_none(fake):
    fake.reply(409, {"error": "Batch name already exists"})
    with pytest.raises(DuplicateError) as caught:
        client(fake).create_batch("p", "b")
    assert caught.value.existing_task_id is None


def test_it_carries_retry_after_in_seconds(fake):
    fake.reply(429, {"error": "slow down"}, headers={"Retry-After": "7"})
    with pytest.raises(TemporaryError) as caught:
        client(fake).create_task("segmentannotation", {})
    assert caught.value.retry_after == 7.0


def test_it_carries_retry_after_given_as_an_http_date(fake):
    when = datetime.now(UTC) + timedelta(seconds=30)
    fake.reply(503, {"error": "maintenance"}, headers={"Retry-After": format_datetime(when, usegmt=True)})
    with pytest.raises(TemporaryError) as caught:
        client(fake).create_task("segmentannotation", {})
    assert 27 <= caught.value.retry_after <= 31


def test_it_parses_retry_after_values():
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    # A date in the past means "now".
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_a_non_json_error_page_gives_a_short_message(fake):
    fake.reply(502, b"<html><body>Bad gateway from the proxy</body></html>", headers={"Content-Type": "text/html"})
    with pytest.raises(TemporaryError) as caught:
        client(fake).get_task("x")
    assert caught.value.status_code == 502
    assert "<html>" not in caught.value.message


def test_a_read_timeout_is_temporary_and_does_not_hang(fake):
    fake.reply(200, {"task_id": "c" * 24}, delay=2.0)
    started = time.monotonic()
    with pytest.raises(TemporaryError) as caught:
        client(fake, timeout=(1.0, 0.3)).create_task("segmentannotation", {})
    assert time.monotonic() - started < 1.5
    assert caught.value.status_code is None
    assert "did not answer in time" in caught.value.message


def test_a_refused_connection_is_temporary():
    port = free_port()  # nothing listens there
    with pytest.raises(TemporaryError) as caught:
        ScaleClient(f"http://127.0.0.1:{port}/v1", "k", timeout=(1.0, 1.0)).get_task("x")
    assert caught.value.status_code is None
    assert "Could not connect" in caught.value.message


def test_a_200_whose_body_is_not_json_is_temporary(fake):
    fake.reply(200, b"not json", headers={"Content-Type": "text/plain"})
    with pytest.raises(TemporaryError):
        client(fake).get_task("x")


def test_a_201_is_not_success(fake):
    # Scale answers 200 on success; the SDK also treats anything else as an error.
    fake.reply(201, {"task_id": "d" * 24})
    with pytest.raises(PermanentError):
        client(fake).create_task("segmentannotation", {})


def test_it_finds_a_task_by_unique_id_from_scales_list_page(fake):
    page = json.loads((EXAMPLES / "tasks-list-page.json").read_text())
    fake.reply(200, page)
    found = client(fake).find_by_unique_id("dash:seg:street_000123")
    assert found["task_id"] == "6650d9a3c2f1e4001f3b2a10"
    assert fake.received[0]["path"] == "/v1/tasks?unique_id=dash%3Aseg%3Astreet_000123"


def test_find_by_unique_id_is_none_when_scale_has_no_such_task(fake):
    fake.reply(200, {"docs": [], "has_more": False})
    assert client(fake).find_by_unique_id("missing") is None


def test_it_cancels_and_manages_batches_with_escaped_names(fake):
    fake.reply(200, {"task_id": "e" * 24, "status": "canceled"})
    fake.reply(200, {"name": "b 1/x", "status": "staging"})
    fake.reply(200, {"name": "b 1/x", "status": "in_progress"})
    c = client(fake)
    assert c.cancel_task("e" * 24, clear_unique_id=True)["status"] == "canceled"
    c.create_batch("proj", "b 1/x", callback="https://cb")
    c.finalize_batch("b 1/x")
    paths = [r["path"] for r in fake.received]
    assert paths == [
        "/v1/task/" + "e" * 24 + "/cancel?clear_unique_id=true",
        "/v1/batches",
        "/v1/batches/b%201%2Fx/finalize",
    ]
    assert json.loads(fake.received[1]["body"]) == {"project": "proj", "name": "b 1/x", "callback": "https://cb"}


def test_the_repr_never_shows_the_key(fake):
    assert "live_secret_key" not in repr(client(fake))


def test_every_error_is_a_scale_error():
    assert issubclass(TemporaryError, ScaleError)
    assert issubclass(DuplicateError, PermanentError)
    assert scale_client.DEFAULT_TIMEOUT[0] > 0


def test_it_audits_a_task_with_the_sdks_body(fake):
    fake.reply(200, {"task_id": "e" * 24, "status": "completed", "audits": []})
    fake.reply(200, {})
    fake.reply(400, {"status_code": 400, "error": "Task is pending; only completed tasks can be audited."})
    c = client(fake)
    assert c.audit_task("e" * 24, False, "Wrong lane.")["status"] == "completed"
    c.audit_task("e" * 24, True)  # no comment: none sent
    with pytest.raises(PermanentError, match="only completed tasks can be audited"):
        c.audit_task("e" * 24, True, "ok")
    assert [(r["method"], r["path"]) for r in fake.received] == [("POST", "/v1/task/" + "e" * 24 + "/audit")] * 3
    assert json.loads(fake.received[0]["body"]) == {"accepted": False, "comments": "Wrong lane."}
    assert json.loads(fake.received[1]["body"]) == {"accepted": True}
