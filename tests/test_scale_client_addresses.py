"""The Scale client checks the address each connection reaches (issue 11, finding 5).

Settings refuse a private API base URL when it is saved, but a public name can resolve to
a private address later (DNS rebinding); submissions, cancels and audits then must not
carry the workspace's key to an internal service, nor show members what it answers.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from annotator import fetcher
from annotator.scale_client import PermanentError, ScaleClient, TemporaryError
from annotator.submission import pipeline


class _JsonHandler(BaseHTTPRequestHandler):
    def send_json(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Recorder(_JsonHandler):
    seen: list[tuple[str, str | None]]

    def do_GET(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        self.send_json(b'{"task_id": "0123456789abcdef01234567"}')


@pytest.fixture
def loopback_scale():
    handler = type("Handler", (_Recorder,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1", handler.seen
    server.shutdown()
    server.server_close()


def test_a_private_address_is_refused_before_the_key_is_sent(loopback_scale):
    url, seen = loopback_scale
    client = ScaleClient(url, "live_secret_key", address_allowed=fetcher.is_public_ip_text)
    with pytest.raises(PermanentError) as caught:
        client.get_task("0123456789abcdef01234567")
    assert seen == []  # nothing reached the server: no key, no request line
    assert "private or loopback" in caught.value.message
    assert "127.0.0.1" not in str(caught.value)


def test_without_a_check_the_same_server_is_reached(loopback_scale):
    url, seen = loopback_scale
    task = ScaleClient(url, "live_secret_key").get_task("0123456789abcdef01234567")
    assert task["task_id"] == "0123456789abcdef01234567"
    assert [path for path, _ in seen] == ["/v1/task/0123456789abcdef01234567"]


def test_an_allowed_address_is_reached_with_the_check_on(loopback_scale):
    url, seen = loopback_scale
    client = ScaleClient(url, "k", address_allowed=lambda ip: ip == "127.0.0.1")
    assert client.get_task("0123456789abcdef01234567")["task_id"]
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("address", "public"),
    [("8.8.8.8", True), ("127.0.0.1", False), ("10.1.2.3", False), ("::1", False), ("fe80::1%eth0", False),
     ("::ffff:127.0.0.1", False), ("2606:4700::1111", True), ("not an address", False)],
)  # fmt: skip
def test_addresses_as_sockets_report_them(address, public):
    assert fetcher.is_public_ip_text(address) is public


@pytest.mark.django_db
def test_the_workspace_client_checks_unless_the_url_is_trusted(users, settings, loopback_scale):
    url, seen = loopback_scale
    ws = users.ws_a
    ws.target, ws.api_base_url = ws.Target.SCALE, url  # as if a public name now resolved to loopback
    ws.set_api_key("live_secret_key")
    ws.save()
    settings.FETCH_TRUSTED_URLS = []
    with pytest.raises(PermanentError):
        pipeline.client_for(ws).get_task("0123456789abcdef01234567")
    assert seen == []
    # The operator's FETCH_TRUSTED_URLS is the one way to a private Scale endpoint.
    settings.FETCH_TRUSTED_URLS = [url.rsplit("/v1", 1)[0] + "/"]
    assert pipeline.client_for(ws).get_task("0123456789abcdef01234567")["task_id"]
    assert seen[0][1] and seen[0][1].startswith("Basic ")
    # The built-in sandbox is this site's own origin: trusted while the sandbox is on.
    ws.target = ws.Target.SANDBOX
    assert pipeline.client_for(ws).address_allowed is None
    settings.SANDBOX_ENABLED = False
    assert pipeline.client_for(ws).address_allowed is fetcher.is_public_ip_text


def test_what_a_non_http_server_says_is_not_repeated_to_the_user():
    # An SSH server's banner is what `BadStatusLine` would have shown members.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def banner() -> None:
        conn, _ = listener.accept()
        conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
        conn.close()

    threading.Thread(target=banner, daemon=True).start()
    client = ScaleClient(f"http://127.0.0.1:{listener.getsockname()[1]}/v1", "k")
    with pytest.raises(TemporaryError) as caught:
        client.get_task("0123456789abcdef01234567")
    listener.close()
    assert "SSH" not in str(caught.value) and "OpenSSH" not in str(caught.value)
    assert "not HTTP" in str(caught.value)


class _ForwardProxy(_JsonHandler):
    """A plain HTTP forward proxy (absolute-URI requests), as HTTP_PROXY names one."""

    used: list[str]

    def do_GET(self) -> None:
        import urllib.request

        type(self).used.append(self.path)
        request = urllib.request.Request(self.path, headers={"Authorization": self.headers.get("Authorization", "")})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the proxy itself goes direct
        with opener.open(request, timeout=5) as upstream:
            self.send_json(upstream.read())


@pytest.fixture
def forward_proxy(monkeypatch):
    handler = type("Proxy", (_ForwardProxy,), {"used": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.server_port}")
    yield handler.used
    server.shutdown()
    server.server_close()


def test_through_a_proxy_the_target_address_is_checked_not_the_proxys(loopback_scale, forward_proxy):
    url, seen = loopback_scale
    # The proxy is on loopback, as corporate proxies are on private addresses: that is allowed.
    # Where it would go next, a loopback Scale address, is not.
    client = ScaleClient(url, "live_secret_key", address_allowed=fetcher.is_public_ip_text)
    with pytest.raises(PermanentError) as caught:
        client.get_task("0123456789abcdef01234567")
    assert "private or loopback" in caught.value.message
    assert forward_proxy == [] and seen == []  # neither the proxy nor the target saw the key


def test_a_proxy_carries_requests_to_an_allowed_target(loopback_scale, forward_proxy):
    url, seen = loopback_scale
    client = ScaleClient(url, "k", address_allowed=lambda ip: ip == "127.0.0.1")
    assert client.get_task("0123456789abcdef01234567")["task_id"] == "0123456789abcdef01234567"
    assert forward_proxy == [f"{url}/task/0123456789abcdef01234567"]  # it did go through the proxy
    assert len(seen) == 1
