"""The guarded fetcher refuses every way of reaching a non-public address (SSRF)."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from annotator import fetcher
from annotator.fetcher import FetchError, fetch


class Listener:
    """A TCP listener on loopback that counts connections: a refused fetch must make none."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.02)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


PRIVATE = "private, local or reserved address"
NOTATION = "unusual notation"
SCHEME = "Only http and https"
HOSTILE = [
    ("http://127.0.0.1:{port}/", PRIVATE),
    ("http://127.0.0.1:{port}/?redirect=http://example.org", PRIVATE),
    ("http://127.1:{port}/", NOTATION),
    ("http://0177.0.0.1:{port}/", NOTATION),
    ("http://2130706433:{port}/", NOTATION),
    ("http://0x7f000001:{port}/", NOTATION),
    ("http://017700000001:{port}/", NOTATION),
    ("http://0x7f.0.0.1:{port}/", NOTATION),
    ("http://localhost:{port}/", PRIVATE),
    ("http://LOCALHOST.:{port}/", PRIVATE),
    ("http://[::1]:{port}/", PRIVATE),
    ("http://[::ffff:127.0.0.1]:{port}/", PRIVATE),
    ("http://[::ffff:7f00:1]:{port}/", PRIVATE),
    ("http://[::127.0.0.1]:{port}/", PRIVATE),
    ("http://0.0.0.0:{port}/", PRIVATE),
    ("http://[::]:{port}/", PRIVATE),
    ("http://127.0.0.1:6379/", PRIVATE),
    ("http://127.0.0.1:5432/", PRIVATE),
    ("http://10.0.0.1/", PRIVATE),
    ("http://10.255.255.255/", PRIVATE),
    ("http://172.16.0.1/", PRIVATE),
    ("http://172.31.255.254/", PRIVATE),
    ("http://192.168.1.1/", PRIVATE),
    ("http://169.254.169.254/latest/meta-data/", PRIVATE),
    ("http://[::ffff:169.254.169.254]/", PRIVATE),
    ("http://100.64.0.1/", PRIVATE),
    ("http://100.127.255.254/", PRIVATE),
    ("http://198.18.0.1/", PRIVATE),
    ("http://192.0.0.8/", PRIVATE),
    ("http://224.0.0.1/", PRIVATE),
    ("http://255.255.255.255/", PRIVATE),
    ("http://[fe80::1]/", PRIVATE),
    ("http://[fc00::1]/", PRIVATE),
    ("http://[fd12:3456:789a::1]/", PRIVATE),
    ("http://[ff02::1]/", PRIVATE),
    ("http://[2002:7f00:1::]/", PRIVATE),
    ("http://[2002:a9fe:a9fe::1]/", PRIVATE),
    ("http://[64:ff9b::7f00:1]/", PRIVATE),
    ("http://[64:ff9b::a9fe:a9fe]/", PRIVATE),
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", PRIVATE),  # Teredo
    ("https://127.0.0.1:{port}/", PRIVATE),
    ("file:///etc/passwd", SCHEME),
    ("gopher://127.0.0.1:6379/_INFO", SCHEME),
    ("ftp://example.org/file.png", SCHEME),
    ("dict://127.0.0.1:6379/info", SCHEME),
    ("javascript:alert(1)", SCHEME),
    ("//127.0.0.1/", SCHEME),
    ("http://user@127.0.0.1:{port}/", "user name or password"),
    ("http://user:secret@example.org/", "user name or password"),
    ("http:///no-host", "no host name"),
    ("http://[::1/", "malformed"),
    ("http://exa mple.org/", "spaces"),
    ("", "No URL"),
    ("http://metadata.google.internal/", "could not be resolved"),
]


@pytest.mark.parametrize(("template", "fragment"), HOSTILE)
def test_it_refuses_hostile_urls_with_a_clear_message_and_connects_nowhere(listener, template, fragment):
    url = template.format(port=listener.port)
    with pytest.raises(FetchError) as refused:
        fetch(url, timeout=2)
    assert fragment in refused.value.message
    time.sleep(0.05)
    assert listener.connections == 0


def test_there_are_at_least_thirty_hostile_urls():
    assert len(HOSTILE) >= 30


def test_every_address_of_a_name_must_be_public(monkeypatch):
    def resolve(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)  # DNS is the one part we cannot run here
    with pytest.raises(FetchError, match=r"points to 10\.1\.2\.3"):
        fetch("http://mixed.example/")


def test_it_connects_to_the_address_it_checked_so_dns_rebinding_cannot_switch_it(monkeypatch):
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1"])
    lookups, connects = [], []

    def resolve(host, port, *args, **kwargs):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    def connect(address, *args, **kwargs):
        connects.append(address)
        raise ConnectionRefusedError("no network in tests")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket, "create_connection", connect)
    with pytest.raises(FetchError, match=r"rebind\.example refused the connection"):
        fetch("http://rebind.example/")
    assert lookups == ["rebind.example"]  # resolved once...
    assert connects == [("93.184.216.34", 80)]  # ...and that checked address is the one dialled


class _Handler(BaseHTTPRequestHandler):
    routes: dict = {}

    def do_GET(self):
        route = self.routes.get(self.path.split("?")[0])
        if route is None:
            self.send_response(404)
            self.end_headers()
            return
        route(self)

    def log_message(self, *args):
        pass


@pytest.fixture
def web():
    """A real HTTP server on loopback; tests trust it through a trusted URL prefix."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    _Handler.routes = {}
    yield server
    server.shutdown()
    server.server_close()


def _send(handler, status=200, body=b"", headers=None):
    handler.send_response(status)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    if "Content-Length" not in (headers or {}):
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def test_a_trusted_prefix_lets_a_loopback_host_through_on_that_port_only(web):
    port = web.server_port
    _Handler.routes["/mask.png"] = lambda h: _send(h, body=b"\x89PNG-bytes", headers={"Content-Type": "image/png"})
    fetched = fetch(f"http://127.0.0.1:{port}/mask.png", trusted=[f"http://127.0.0.1:{port}/"])
    assert fetched.content == b"\x89PNG-bytes"
    assert fetched.content_type == "image/png"
    assert fetched.final_url == f"http://127.0.0.1:{port}/mask.png"
    # Trusting a host on one port does not trust its other ports.
    with pytest.raises(FetchError, match="private"):
        fetch(f"http://127.0.0.1:{port + 1}/", trusted=[f"http://127.0.0.1:{port}/"])


def test_redirects_are_followed_by_hand_and_each_hop_is_checked_again(web, listener):
    port = web.server_port
    _Handler.routes["/a"] = lambda h: _send(h, 302, headers={"Location": "/b"})
    _Handler.routes["/b"] = lambda h: _send(h, 200, b"ok", {"Content-Type": "text/plain"})
    _Handler.routes["/evil"] = lambda h: _send(h, 302, headers={"Location": f"http://127.0.0.1:{listener.port}/x"})
    _Handler.routes["/meta"] = lambda h: _send(h, 301, headers={"Location": "http://169.254.169.254/latest/"})
    allowed = [f"http://127.0.0.1:{port}/"]
    fetched = fetch(f"http://127.0.0.1:{port}/a", trusted=allowed)
    assert (fetched.content, fetched.final_url) == (b"ok", f"http://127.0.0.1:{port}/b")
    for path in ("/evil", "/meta"):
        with pytest.raises(FetchError, match="private, local or reserved"):
            fetch(f"http://127.0.0.1:{port}{path}", trusted=allowed)
    assert listener.connections == 0


def test_it_stops_after_three_redirects(web):
    port = web.server_port
    for i in range(5):
        _Handler.routes[f"/r{i}"] = lambda h, i=i: _send(h, 307, headers={"Location": f"/r{i + 1}"})
    _Handler.routes["/r5"] = lambda h: _send(h, 200, b"end")
    with pytest.raises(FetchError, match="Too many redirects"):
        fetch(f"http://127.0.0.1:{port}/r0", trusted=[f"http://127.0.0.1:{port}/"])


def test_it_refuses_bodies_over_the_cap_with_or_without_a_length(web):
    port = web.server_port
    _Handler.routes["/big"] = lambda h: _send(h, body=b"x" * 5000)

    def chunked(handler):
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        for _ in range(10):
            handler.wfile.write(b"y" * 1000)

    _Handler.routes["/stream"] = chunked
    for path in ("/big", "/stream"):
        with pytest.raises(FetchError, match="larger than the 4,096 bytes limit"):
            fetch(f"http://127.0.0.1:{port}{path}", max_bytes=4096, trusted=[f"http://127.0.0.1:{port}/"])


def test_a_slow_server_is_cut_off_at_the_deadline(web):
    port = web.server_port

    def drip(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        for _ in range(100):
            handler.wfile.write(b".")
            handler.wfile.flush()
            time.sleep(0.1)

    def silent(handler):
        time.sleep(3)

    _Handler.routes["/drip"] = drip
    _Handler.routes["/silent"] = silent
    for path in ("/drip", "/silent"):
        started = time.monotonic()
        with pytest.raises(FetchError, match="did not answer within 1 seconds"):
            fetch(f"http://127.0.0.1:{port}{path}", timeout=1, trusted=[f"http://127.0.0.1:{port}/"])
        assert time.monotonic() - started < 2


def test_error_statuses_are_reported_in_words(web):
    port = web.server_port
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(f"http://127.0.0.1:{port}/missing", trusted=[f"http://127.0.0.1:{port}/"])


@pytest.mark.parametrize(("template", "fragment"), HOSTILE)
def test_is_public_url_says_no_to_every_hostile_url_with_the_reason(listener, template, fragment):
    url = template.format(port=listener.port)
    assert fetcher.is_public_url(url) is False
    assert fragment in fetcher.public_url_problem(url)
    time.sleep(0.02)
    assert listener.connections == 0  # a check, not a fetch


def test_is_public_url_says_yes_to_a_public_address():
    assert fetcher.is_public_url("https://93.184.216.34/v1") is True
    assert fetcher.public_url_problem("http://[2606:2800:220:1:248:1893:25c8:1946]:8443/v1") is None
