"""The one guarded way the server reaches a URL someone gave it (previews, result copies,
the sandbox's callbacks).

SSRF guard (reference C.1, OWASP case 2): http/https only, no credentials in the URL, every
address the name resolves to must be public, and the connection goes to the address that was
checked (the Host header and TLS SNI keep the name), so a DNS answer that changes between the
check and the connect (rebinding) cannot reach an internal service. Redirects are followed by
hand, at most MAX_REDIRECTS, each hop checked again. The body is capped.

One deadline covers the whole call: name lookup, connect, TLS, the request, the headers and
the body. A socket timeout alone restarts at every byte, so a server that sends its headers one
byte a second held a 5-second fetch for 25 s; a watchdog closes the socket when the deadline
passes, whatever http.client is waiting for.

Non-public addresses are reached only under a `trusted` URL prefix (scheme, host, port and
path): the built-in sandbox's own /sandbox/ files, this site's callback URLs, and what the
operator lists in FETCH_TRUSTED_URLS; never a URL a workspace owner typed.

Errors shown to people are generic (what failed, never the upstream's own bytes: a
`BadStatusLine: SSH-2.0-OpenSSH…` banner is an internal service's fingerprint); the detail is
logged.

    fetched = fetcher.fetch(url, trusted=fetcher.site_trusted())  # raises FetchError
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import logging
import os
import posixpath
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import unquote, urljoin, urlsplit

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
USER_AGENT = "annotator-fetcher/1"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Checked in addition to ipaddress's is_global: Python 3.11.7 predates the CVE-2024-4032
# fixes of those flags, and the IPv6 forms that embed an IPv4 address report is_global=True
# even when the embedded address is loopback (reference C.1, measured).
_BLOCKED_NETWORKS = [
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/96", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
        "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
]  # fmt: skip


class FetchError(Exception):
    """Why a URL was not fetched, in words a person understands.

    `message` is safe to show to anyone; `detail` (logged, never shown) holds what the
    upstream or the operating system said."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class TooLarge(FetchError):
    """The body passed max_bytes."""


@dataclass(frozen=True)
class Fetched:
    content: bytes
    content_type: str
    final_url: str


@dataclass(frozen=True)
class Response:
    """What request() got: the status and headers (names lower-cased), the capped body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""
    final_url: str = ""


def is_public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in (ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())):
            if inner is not None and not is_public_address(inner):
                return False
    if any(ip in network for network in _BLOCKED_NETWORKS if network.version == ip.version):
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_unspecified)


def is_public_ip_text(address: str) -> bool:
    """is_public_address for an address as a socket reports it ("10.0.0.1", "::1", "fe80::1%eth0")."""
    try:
        return is_public_address(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return False


def is_trusted_url(url: str, prefixes: Iterable[str]) -> bool:
    """Whether `url` lies under one of the trusted prefixes (see site_trusted); False when malformed."""
    try:
        return _is_trusted(_parse(url), prefixes)
    except FetchError:
        return False


def public_url_problem(url: str) -> str | None:
    """Why `url` is not a public http(s) URL the fetcher would reach, or None when it is.

    The check every outbound guard makes before connecting: scheme, no credentials, and every
    address the host name resolves to public (a name that does not resolve is a problem too).
    Settings uses it to refuse a private or loopback API base URL."""
    try:
        _resolve(_parse(url), trusted=False, deadline=_Deadline(10.0))
    except FetchError as error:
        return error.message
    except TimeoutError:
        return "The host name could not be resolved within 10 seconds."
    return None


def is_public_url(url: str) -> bool:
    """True when `url` is http(s), has no credentials, and its host is public (see above)."""
    return public_url_problem(url) is None


def site_trusted(*, sandbox: bool = True, callbacks: bool = False) -> list[str]:
    """The non-public URL prefixes this site may reach: FETCH_TRUSTED_URLS (the operator's),
    the built-in sandbox's files when `sandbox` and the sandbox is on, and this site's own
    callback URLs when `callbacks`.

    The one place Django settings are read; fetch() itself takes the list as an argument."""
    from django.conf import settings

    site = settings.SITE_URL.rstrip("/")
    prefixes = list(getattr(settings, "FETCH_TRUSTED_URLS", []))
    if sandbox and settings.SANDBOX_ENABLED:
        prefixes.append(site + "/sandbox/")
    if callbacks:
        prefixes.append(site + "/callbacks/")
    return prefixes


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, what goes on the request line


def _parse(url: str) -> _Target:
    if not isinstance(url, str) or not url.strip():
        raise FetchError("No URL was given.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise FetchError("The URL contains spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as error:
        raise FetchError(f"The URL is malformed ({error}).") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise FetchError(f"Only http and https URLs can be fetched, not {scheme or 'a URL without a scheme'}.")
    if "@" in parts.netloc:
        raise FetchError("URLs with a user name or password are not fetched.")
    if not host:
        raise FetchError("The URL has no host name.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return _Target(scheme, host.lower().rstrip("."), port or _DEFAULT_PORTS[scheme], path)


def _is_trusted(target: _Target, prefixes: Iterable[str]) -> bool:
    """Whether the target lies under one of the trusted URL prefixes.

    The path is compared decoded and must not climb (`..`, `.`, a backslash): a front proxy
    that normalises `/sandbox/%2e%2e/admin/` would otherwise turn a trusted prefix into any
    path of the host."""
    path = unquote(target.path.split("?", 1)[0])
    if "\\" in path or any(segment in (".", "..") for segment in path.split("/")):
        return False
    if posixpath.normpath(path) != path.rstrip("/") and path != "/":
        return False
    for prefix in prefixes:
        try:
            trusted = _parse(prefix)
        except FetchError:
            continue
        same_origin = (trusted.scheme, trusted.host, trusted.port) == (target.scheme, target.host, target.port)
        if same_origin and path.startswith(trusted.path.split("?", 1)[0]):
            return True
    return False


class _Deadline:
    """One total time budget for a call, shared by every step of it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.end


_resolver: ThreadPoolExecutor | None = None
_resolver_pid = 0
_resolver_lock = threading.Lock()


def _lookup(host: str, port: int, deadline: _Deadline) -> list:
    """getaddrinfo under the deadline: the C resolver cannot be interrupted, so it runs in a
    small pool (one per process: a forked worker must not inherit the parent's threads)."""
    global _resolver, _resolver_pid
    with _resolver_lock:
        if _resolver is None or _resolver_pid != os.getpid():
            _resolver, _resolver_pid = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fetch-dns"), os.getpid()
        pool = _resolver
    future = pool.submit(lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    try:
        return future.result(timeout=deadline.remaining())
    except FutureTimeout:
        raise TimeoutError from None


def _resolve(target: _Target, trusted: bool, deadline: _Deadline) -> list[str]:
    """The addresses to connect to; every address the name has must be public unless trusted."""
    try:
        literal = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is None and not trusted and _looks_numeric(target.host):
        # 2130706433, 0x7f000001, 0177.0.0.1, 127.1: the C resolver reads these as IPv4
        # addresses; nobody writes a public address like that on purpose.
        raise FetchError(f"The host {target.host} is an IP address in an unusual notation, which is not fetched.")
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = _lookup(target.host, target.port, deadline)
        except TimeoutError:  # an OSError too, but the deadline's, not the name's
            raise
        except (OSError, UnicodeError):
            raise FetchError(f"The host name {target.host} could not be resolved.") from None
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
        if not addresses:
            raise FetchError(f"The host name {target.host} has no address.")
    if not trusted:
        for address in addresses:
            if not is_public_address(address):
                where = f"{target.host} points to {address}, which" if literal is None else f"{address}"
                raise FetchError(f"{where} is a private, local or reserved address; only public addresses are fetched.")
    return list(dict.fromkeys(str(address) for address in addresses))


def _looks_numeric(host: str) -> bool:
    return all(part.isdigit() or part.startswith("0x") for part in host.split(".") if part) and any(
        ch.isdigit() for ch in host
    )


def _connect(ips: list[str], port: int, deadline: _Deadline) -> socket.socket:
    """A socket to the first checked address that answers (localhost may be ::1 or 127.0.0.1)."""
    error: OSError | None = None
    for ip in ips:
        try:
            return socket.create_connection((ip, port), deadline.remaining())
        except TimeoutError:
            raise
        except OSError as failure:
            error = failure
    raise error or OSError("no address to connect to")


class _Watchdog:
    """Shuts the connection down when the deadline passes, which wakes any blocked read.

    It holds a duplicate of the socket's descriptor: shutdown() acts on the connection, not on
    one descriptor, so this works after the TLS wrapper has taken over the original socket."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self.fired = False
        self._sock = sock.dup()
        self._timer = threading.Timer(max(0.0, deadline.end - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()
        self._sock.close()


def fetch(url: str, *, max_bytes: int = 10 * 1024 * 1024, timeout: float = 5.0, trusted: Iterable[str] = ()) -> Fetched:
    """GET `url` under the guard, following redirects; raises FetchError unless it answers 200."""
    got = request("GET", url, max_bytes=max_bytes, timeout=timeout, trusted=trusted, follow_redirects=True)
    if got.status != 200:
        raise FetchError(f"The server answered HTTP {got.status} {_phrase(got.status)}.")
    content_type = (got.headers.get("content-type") or "application/octet-stream").split(";")[0]
    return Fetched(got.content, content_type.strip().lower(), got.final_url)


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = 10 * 1024 * 1024,
    timeout: float = 5.0,
    trusted: Iterable[str] = (),
    follow_redirects: bool = True,
    read_body: bool = True,
    truncate: bool = False,
) -> Response:
    """One guarded HTTP call; `timeout` is the total for everything, redirects included.

    A redirect is followed (GET only, each hop checked again) when `follow_redirects`, else
    returned as it is. Any status is returned; fetch() is the one that wants a 200.
    With `truncate`, a body longer than max_bytes is cut there (the connection is closed
    unread) instead of raising TooLarge: for readers of headers that want only a file's start."""
    prefixes = list(trusted)
    deadline = _Deadline(timeout)
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            target = _parse(url)
            response = _one_call(
                method, target, body=body, headers=headers, deadline=deadline, prefixes=prefixes,
                max_bytes=max_bytes, read_body=read_body, truncate=truncate,
            )  # fmt: skip
            if not (follow_redirects and response.status in _REDIRECTS):
                return Response(response.status, response.headers, response.content, url)
            location = response.headers.get("location")
            if not location:
                raise FetchError(f"The server answered a redirect ({response.status}) without a Location.")
            url = urljoin(url, location)
            method, body = "GET", None
        raise FetchError(f"Too many redirects (more than {MAX_REDIRECTS}).")
    except TimeoutError:
        raise FetchError(f"The server did not answer within {timeout:g} seconds.") from None


def _one_call(
    method: str,
    target: _Target,
    *,
    body: bytes | None,
    headers: Mapping[str, str] | None,
    deadline: _Deadline,
    prefixes: list[str],
    max_bytes: int,
    read_body: bool,
    truncate: bool = False,
) -> Response:
    ips = _resolve(target, _is_trusted(target, prefixes), deadline)
    where = target.host
    sock: socket.socket | None = None
    watchdog: _Watchdog | None = None
    connection: http.client.HTTPConnection | None = None
    try:
        try:
            sock = _connect(ips, target.port, deadline)
            watchdog = _Watchdog(sock, deadline)
            if target.scheme == "https":
                context = ssl.create_default_context()
                sock.settimeout(deadline.remaining())
                sock = context.wrap_socket(sock, server_hostname=target.host)
                connection = http.client.HTTPSConnection(target.host, target.port, context=context)
                connection.sock = sock
            else:
                connection = http.client.HTTPConnection(target.host, target.port)
                connection.sock = sock
            connection.sock.settimeout(deadline.remaining())
            sent = {"User-Agent": USER_AGENT, "Accept": "*/*", **(headers or {})}
            connection.request(method, target.path, body=body, headers=sent)
            answer = connection.getresponse()
            found = {name.lower(): value for name, value in answer.getheaders()}
            content = b""
            if read_body and answer.status not in _REDIRECTS:
                length = found.get("content-length", "")
                if not truncate and length.isdigit() and int(length) > max_bytes:
                    raise TooLarge(f"The file is larger than the {_size(max_bytes)} limit.")
                content = _read_capped(answer, connection, max_bytes, deadline, truncate=truncate)
            return Response(answer.status, found, content)
        except (TimeoutError, FetchError):
            raise
        except (OSError, http.client.HTTPException, ValueError) as error:
            if (watchdog is not None and watchdog.fired) or deadline.passed:
                raise TimeoutError from None
            detail = f"{type(error).__name__}: {error}"[:500]
            log.warning("fetch %s://%s:%s failed: %s", target.scheme, target.host, target.port, detail)
            if isinstance(error, ssl.SSLError | ssl.CertificateError):
                raise FetchError(f"The secure connection to {where} failed.", detail) from None
            if isinstance(error, ConnectionRefusedError):
                raise FetchError(f"{where} refused the connection.", detail) from None
            if isinstance(error, http.client.HTTPException):
                raise FetchError(f"{where} did not answer with valid HTTP.", detail) from None
            raise FetchError(f"The connection to {where} failed.", detail) from None
    finally:
        if watchdog is not None:
            watchdog.cancel()
        if connection is not None:
            connection.close()
        elif sock is not None:
            sock.close()


def _read_capped(response, connection, max_bytes: int, deadline: _Deadline, *, truncate: bool = False) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        remaining = deadline.remaining()
        if connection.sock is not None:
            connection.sock.settimeout(remaining)
        chunk = response.read1(64 * 1024)
        if not chunk:
            if deadline.passed:  # the watchdog ended the body early: not a complete file
                raise TimeoutError
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes and truncate:
            chunks.append(chunk[: len(chunk) - (total - max_bytes)])
            return b"".join(chunks)
        if total > max_bytes:
            raise TooLarge(f"The file is larger than the {_size(max_bytes)} limit.")
        chunks.append(chunk)


def _phrase(status: int) -> str:
    # The standard phrase, not the server's own: a reason line is upstream text.
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _size(max_bytes: int) -> str:
    return f"{max_bytes / 1024 / 1024:g} MB" if max_bytes >= 1024 * 1024 else f"{max_bytes:,} bytes"
