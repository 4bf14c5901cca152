"""Scale's v1 HTTP API, on `requests`. Knows nothing of Django, models or Celery.

    client = ScaleClient("https://api.scale.com/v1", api_key)
    task = client.create_task("segmentannotation", payload)

Unlike the official SDK (a new connection per call, no timeout, POSTs retried
blindly) this client reuses one pooled session per process, puts a connect and
read timeout on every call, and never retries: it raises `TemporaryError` or
`PermanentError` and leaves the retry decision to the caller, which knows
whether a retry is safe (our submissions always carry a `unique_id`).
"""

from __future__ import annotations

import email.utils
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from typing import IO, Any
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

VERSION = "0.1.0"
USER_AGENT = f"annotator/{VERSION} (+requests/{requests.__version__})"
DEFAULT_TIMEOUT = (5.0, 30.0)
# Enough pooled connections for a thread pool of a few dozen submitters.
POOL_SIZE = 64

# Scale's 409 text: `... is already used for a different task (602c399c6d092c00115aa3c9).`
_EXISTING_TASK_RE = re.compile(r"\(([0-9a-f]{24})\)\.?\s*$")


class ScaleError(Exception):
    """Any failure talking to Scale. `status_code` is None when no response came back."""

    def __init__(self, status_code: int | None, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.retry_after = retry_after

    def __str__(self) -> str:
        prefix = f"HTTP {self.status_code}: " if self.status_code else ""
        return f"{prefix}{self.message}"


class TemporaryError(ScaleError):
    """Worth retrying later: 408, 429, 5xx, connection errors, timeouts."""


class PermanentError(ScaleError):
    """Retrying the same request cannot help: 400, 401, 402, 404 and other 4xx."""


class DuplicateError(PermanentError):
    """409: the unique_id is already used; `existing_task_id` is parsed from Scale's message."""

    def __init__(self, status_code: int | None, message: str, retry_after: float | None = None) -> None:
        super().__init__(status_code, message, retry_after)
        match = _EXISTING_TASK_RE.search(message)
        self.existing_task_id = match.group(1) if match else None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _error_message(response: requests.Response) -> str:
    # Scale's error body is {"status_code": ..., "error": "..."}; anything else
    # (a proxy's HTML page) is summarised rather than dumped on the user.
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    text = (response.text or "").strip()
    if text and len(text) <= 200 and "<" not in text:
        return text
    return response.reason or f"HTTP {response.status_code}"


def error_for(response: requests.Response) -> ScaleError:
    """Map a non-200 response to the exception the caller acts on."""
    code = response.status_code
    message = _error_message(response)
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if code in (408, 429) or code >= 500:
        return TemporaryError(code, message, retry_after)
    if code == 409:
        return DuplicateError(code, message, retry_after)
    if 400 <= code < 500:
        return PermanentError(code, message, retry_after)
    # 1xx/2xx other than 200, or 3xx we were not meant to follow: Scale only
    # answers 200 on success (the SDK treats anything else as an error too).
    return PermanentError(code, f"unexpected response: {message}", retry_after)


AddressCheck = Callable[[str], bool]


class RefusedAddress(Exception):
    """The connection reached an address the caller's check refuses (see `address_allowed`)."""


class _CheckedConnection:
    # Checked after the socket connects, on the address it really connected to:
    # a host name that resolved to a public address when Settings saved it and
    # to a private one now (DNS rebinding) is caught here, not before.
    address_allowed: AddressCheck

    def _new_conn(self):  # urllib3's hook: the plain socket, before TLS
        sock = super()._new_conn()
        peer = sock.getpeername()[0]
        if not type(self).address_allowed(peer):
            sock.close()
            raise RefusedAddress(peer)
        return sock


def _check_proxied_target(url: str, address_allowed: AddressCheck) -> None:
    """Through a proxy (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY) the socket reaches
    the proxy, whose address is the operator's choice and often private; the
    connection check cannot see where the proxy goes next. So the target's name
    is resolved here, as the proxy will resolve it, and every address it has is
    checked. A name that changes its answer between our lookup and the proxy's
    (rebinding) is the proxy's own policy to stop: documented in the README."""
    proxy = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
    if not proxy:
        return  # a direct connection: the connection check sees the real address
    host = urlsplit(url).hostname or ""
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return  # we cannot resolve it: the proxy will answer that it cannot either
    for *_, address in found:
        if not address_allowed(str(address[0])):
            raise RefusedAddress(address[0])


class _CheckedAdapter(HTTPAdapter):
    def __init__(self, address_allowed: AddressCheck, **kwargs: Any) -> None:
        self.address_allowed = address_allowed
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        check = staticmethod(self.address_allowed)
        http = type("CheckedHTTPConnection", (_CheckedConnection, HTTPConnection), {"address_allowed": check})
        https = type("CheckedHTTPSConnection", (_CheckedConnection, HTTPSConnection), {"address_allowed": check})
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("CheckedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("CheckedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
        }


_sessions: dict[tuple[int, AddressCheck | None], requests.Session] = {}
_sessions_lock = threading.Lock()


def _session(address_allowed: AddressCheck | None = None) -> requests.Session:
    # One pool per process (and address check), made lazily, so a prefork child
    # never inherits its parent's sockets. requests' Session is safe enough for
    # concurrent requests from threads (urllib3's pool is thread-safe); cookies are unused.
    key = (os.getpid(), address_allowed)
    session = _sessions.get(key)
    if session is None:
        with _sessions_lock:
            session = _sessions.get(key)
            if session is None:
                if any(pid != key[0] for pid, _ in _sessions):
                    _sessions.clear()
                session = requests.Session()
                options = {"pool_connections": 8, "pool_maxsize": POOL_SIZE, "max_retries": 0}
                if address_allowed is None:
                    adapter = HTTPAdapter(**options)
                else:
                    adapter = _CheckedAdapter(address_allowed, **options)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                session.headers["User-Agent"] = USER_AGENT
                _sessions[key] = session
    return session


class ScaleClient:
    """`address_allowed(ip)`, when given, is asked about every address a connection
    reaches; a refused one raises PermanentError before anything (the key included)
    is sent. The caller decides which addresses are allowed (this module knows no
    settings); it must be the same function object each time to share the pool."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        address_allowed: AddressCheck | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.address_allowed = address_allowed

    def __repr__(self) -> str:
        # Never show the key.
        return f"ScaleClient({self.base_url!r})"

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict | None = None,
        files: dict | None = None,
        data: dict | None = None,
    ) -> Any:
        url = f"{self.base_url}/{path.lstrip('/')}"
        try:
            if self.address_allowed is not None:
                _check_proxied_target(url, self.address_allowed)
            response = _session(self.address_allowed).request(
                method,
                url,
                json=json,
                params=params,
                files=files,
                data=data,
                auth=(self.api_key, ""),
                timeout=self.timeout,
                allow_redirects=False,
            )
        except RefusedAddress as e:
            # Not the address itself: the message reaches members, who need not learn the network.
            raise PermanentError(
                None, "The Scale API address leads to a private or loopback network; nothing was sent there."
            ) from e
        except requests.Timeout as e:
            # The request may have reached Scale: the caller's unique_id makes a retry safe.
            raise TemporaryError(None, f"Scale did not answer in time ({type(e).__name__})") from e
        except requests.ConnectionError as e:
            raise TemporaryError(None, f"Could not connect to Scale: {_short(e)}") from e
        except requests.RequestException as e:
            raise PermanentError(None, f"Invalid request: {_short(e)}") from e
        if response.status_code != 200:
            raise error_for(response)
        try:
            return response.json()
        except ValueError as e:
            # A 200 with a garbled body (a proxy in between?): retrying is safe.
            raise TemporaryError(200, "Scale answered 200 with a body that is not JSON") from e

    # --- tasks ---------------------------------------------------------------
    def create_task(self, task_type: str, payload: dict) -> dict:
        return self._request("POST", f"task/{quote(task_type, safe='')}", json=payload)

    def get_task(self, task_id: str) -> dict:
        return self._request("GET", f"task/{quote(task_id, safe='')}")

    def list_tasks(self, **filters: Any) -> dict:
        """One page: {"docs": [...], "has_more": bool, "next_token": ...}."""
        params = {k: v for k, v in filters.items() if v is not None}
        return self._request("GET", "tasks", params=params)

    def find_by_unique_id(self, unique_id: str) -> dict | None:
        page = self.list_tasks(unique_id=unique_id)
        for doc in page.get("docs") or []:
            if doc.get("unique_id") == unique_id:
                return doc
        return None

    def cancel_task(self, task_id: str, clear_unique_id: bool = False) -> dict:
        params = {"clear_unique_id": "true"} if clear_unique_id else None
        return self._request("POST", f"task/{quote(task_id, safe='')}/cancel", params=params)

    def audit_task(self, task_id: str, accepted: bool, comments: str = "") -> dict:
        """POST task/{id}/audit: a customer review of a completed task (Scale answers 400 for
        any other status). The body is the SDK's `{"accepted": bool, "comments": str}`; an
        empty comment is left out, as the SDK's default (None) asks for no comment.

        Not idempotent at Scale (each call appends an audit), so callers send a review once
        per request and retry only what never got an answer."""
        body: dict[str, Any] = {"accepted": bool(accepted)}
        if comments:
            body["comments"] = comments
        return self._request("POST", f"task/{quote(task_id, safe='')}/audit", json=body)

    # --- files ---------------------------------------------------------------
    def upload_file(self, fileobj: IO[bytes], filename: str, content_type: str, project_name: str = "") -> dict:
        """POST files/upload (multipart `file`): {"id", "attachment_url": "scaledata://…", ...}.

        Not safe to retry blindly (each call stores a new file), so a TemporaryError is for
        the person to retry, not a job.
        """
        data = {"project_name": project_name} if project_name else None
        return self._request("POST", "files/upload", files={"file": (filename, fileobj, content_type)}, data=data)

    # --- batches -------------------------------------------------------------
    def get_project(self, name: str) -> dict:
        """`{name, type, param_history: [{version, created_at, ...params}], ...}`; 404 if unknown."""
        return self._request("GET", f"projects/{quote(name, safe='')}")

    def create_batch(self, project: str, name: str, callback: str = "") -> dict:
        body = {"project": project, "name": name}
        if callback:
            body["callback"] = callback
        return self._request("POST", "batches", json=body)

    def finalize_batch(self, name: str) -> dict:
        return self._request("POST", f"batches/{quote(name, safe='')}/finalize")


def _short(error: Exception) -> str:
    # requests' messages repeat the whole pool repr; the root cause is enough.
    # Only the operating system's reason is quoted: other texts can carry what the
    # far end sent (a banner, `BadStatusLine: SSH-2.0-...`), which is not ours to show.
    text = str(error)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if match:
        return match.group(1).strip()
    if isinstance(error, requests.exceptions.SSLError):
        return "the TLS handshake failed"
    if "BadStatusLine" in text or "RemoteDisconnected" in text or "ProtocolError" in text:
        return "the server's answer was not HTTP"
    return f"the connection failed ({type(error).__name__})"
