"""The one guarded way the server fetches a URL a user gave it (previews, result copies).

SSRF guard (reference C.1, OWASP case 2): http/https only, no credentials in the URL, every
address the name resolves to must be public, and the connection goes to the address that was
checked (the Host header and TLS SNI keep the name), so a DNS answer that changes between the
check and the connect (rebinding) cannot reach an internal service. Redirects are followed by
hand, at most MAX_REDIRECTS, each hop checked again. The body is capped and the whole fetch
has a deadline, so a slow or endless server cannot hold a worker.

    fetched = fetcher.fetch(url, allow_hosts=["127.0.0.1:8000"])  # raises FetchError
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

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
    """Why a URL was not fetched, in words a person understands."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Fetched:
    content: bytes
    content_type: str
    final_url: str


def is_public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in (ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())):
            if inner is not None and not is_public_address(inner):
                return False
    if any(ip in network for network in _BLOCKED_NETWORKS if network.version == ip.version):
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_unspecified)


def hosts_of(*urls: str) -> list[str]:
    """`host:port` of each URL, for allow_hosts (e.g. the workspace's own API base URL)."""
    hosts = []
    for url in urls:
        try:
            parts = urlsplit(url)
            if parts.hostname:
                hosts.append(f"{parts.hostname}:{parts.port or _DEFAULT_PORTS.get(parts.scheme, 80)}")
        except ValueError:
            continue
    return hosts


def public_url_problem(url: str) -> str | None:
    """Why `url` is not a public http(s) URL the fetcher would reach, or None when it is.

    The check every outbound guard makes before connecting: scheme, no credentials, and every
    address the host name resolves to public (a name that does not resolve is a problem too).
    Settings uses it to refuse a private or loopback API base URL."""
    try:
        _resolve(_parse(url), trusted=False)
    except FetchError as error:
        return error.message
    return None


def is_public_url(url: str) -> bool:
    """True when `url` is http(s), has no credentials, and its host is public (see above)."""
    return public_url_problem(url) is None


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


def _allowed(target: _Target, allow_hosts: set[str]) -> bool:
    return target.host in allow_hosts or f"{target.host}:{target.port}" in allow_hosts


def _normalize_allowed(allow_hosts: Iterable[str]) -> set[str]:
    normalized = set()
    for raw in allow_hosts:
        entry = raw.strip().lower()
        if entry.startswith("[") and "]" in entry:  # [::1]:8000 -> ::1:8000, as _Target spells it
            host, _, rest = entry[1:].partition("]")
            entry = host + rest
        if entry:
            normalized.add(entry)
    return normalized


def _resolve(target: _Target, trusted: bool) -> list[str]:
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
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
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


def _connect(ips: list[str], port: int, timeout: float | None) -> socket.socket:
    """A socket to the first checked address that answers (localhost may be ::1 or 127.0.0.1)."""
    error: OSError | None = None
    for ip in ips:
        try:
            return socket.create_connection((ip, port), timeout)
        except OSError as failure:
            error = failure
    raise error or OSError("no address to connect to")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, ips: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ips = ips

    def connect(self) -> None:
        self.sock = _connect(self._ips, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, ips: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ips = ips

    def connect(self) -> None:
        sock = _connect(self._ips, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def fetch(
    url: str,
    *,
    max_bytes: int = 10 * 1024 * 1024,
    timeout: float = 5.0,
    allow_hosts: Iterable[str] = (),
) -> Fetched:
    """GET `url` under the guard; raises FetchError for anything refused or failed."""
    trusted_hosts = _normalize_allowed(allow_hosts)
    deadline = time.monotonic() + timeout
    for _hop in range(MAX_REDIRECTS + 1):
        target = _parse(url)
        ips = _resolve(target, _allowed(target, trusted_hosts))
        connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
        connection = connection_class(target.host, target.port, ips, max(0.1, deadline - time.monotonic()))
        try:
            try:
                connection.request("GET", target.path, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
                response = connection.getresponse()
                if response.status in _REDIRECTS:
                    location = response.getheader("Location")
                    if not location:
                        raise FetchError(f"The server answered a redirect ({response.status}) without a Location.")
                    url = urljoin(url, location)
                    continue
                if response.status != 200:
                    raise FetchError(f"The server answered HTTP {response.status} {response.reason}.")
                length = response.getheader("Content-Length")
                if length and length.isdigit() and int(length) > max_bytes:
                    raise FetchError(f"The file is larger than the {_size(max_bytes)} limit.")
                content = _read_capped(response, connection, max_bytes, deadline, timeout)
                content_type = (response.getheader("Content-Type") or "application/octet-stream").split(";")[0]
                return Fetched(content, content_type.strip().lower(), url)
            except TimeoutError:
                raise FetchError(f"The server did not answer within {timeout:g} seconds.") from None
            except ssl.SSLError as error:
                raise FetchError(f"The secure connection failed ({error.reason or error}).") from None
            except (OSError, http.client.HTTPException) as error:
                raise FetchError(f"The connection failed ({type(error).__name__}: {error}).") from None
        finally:
            connection.close()
    raise FetchError(f"Too many redirects (more than {MAX_REDIRECTS}).")


def _read_capped(response, connection, max_bytes: int, deadline: float, timeout: float) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if connection.sock is not None:
            connection.sock.settimeout(remaining)
        chunk = response.read1(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise FetchError(f"The file is larger than the {_size(max_bytes)} limit.")
        chunks.append(chunk)


def _size(max_bytes: int) -> str:
    return f"{max_bytes / 1024 / 1024:g} MB" if max_bytes >= 1024 * 1024 else f"{max_bytes:,} bytes"
