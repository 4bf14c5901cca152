"""A hostile HTTP upstream on loopback, written on raw sockets so it can misbehave freely.

Routes (GET or POST):
  /png /jpeg /gif /webp      real images (a 64x40 mask, left half index 1; the PNG has a <script> comment)
  /svg                       an SVG whose <script href> is `svg_script`, served as image/svg+xml
  /svg-as-png                the same SVG bytes labelled image/png
  /html-as-png               an HTML page labelled image/png
  /js                        JavaScript, served as application/javascript
  /json                      a JSON document
  /slow-headers              the status line and headers one byte a second
  /slow-body                 headers at once, then the body one byte every half second
  /huge                      100 MB without a Content-Length, as fast as it can
  /huge-declared             Content-Length: 10 GB
  /bomb                      a 1 KB PNG whose canvas is 30000 x 30000 pixels
  /banner                    an SSH server's greeting instead of HTTP
  /reason                    HTTP 500 whose reason phrase is an internal banner
  /redirect/N                a redirect to /redirect/N+1, forever
  /to-loopback?port=P        a redirect to http://127.0.0.1:P/
  /callbacks/...             200 (a callback receiver); /callbacks/slow-headers and
                             /callbacks/to-loopback behave as the routes of those names
  /sized?bytes=N             a PNG padded to N bytes (an ancillary chunk), for byte caps

Every request is recorded in `requests` (method, path, headers) and connections are counted.
"""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import threading
import time
import zlib
from urllib.parse import parse_qs, urlsplit

from PIL import Image


def svg(script_href: str) -> bytes:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        f'<script href="{script_href}"/><script>window.__pwned = "inline"</script></svg>'
    ).encode()


HTML = b"<!doctype html><script>window.__pwned = 'html'</script>"
JS = b"window.__pwned = 'script'; document.title = 'pwned';"


def _image(fmt: str, **params) -> bytes:
    img = Image.new("L", (64, 40), 0)
    img.paste(1, (0, 0, 32, 40))
    if fmt in ("JPEG", "WEBP"):
        img = img.convert("RGB")
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A valid PNG header claiming a huge canvas; its pixel data is one compressed zero run."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 64, 9)  # the first rows only: never decoded
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")


def padded_png(size: int) -> bytes:
    """A real PNG padded with a private ancillary chunk to about `size` bytes."""
    base = _image("PNG")
    pad = max(0, size - len(base) - 12)
    return base[:-12] + _png_chunk(b"prVt", b"\0" * pad) + base[-12:]


def _png_with_a_script_comment() -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "<script>window.__pwned = 'png'</script>")
    return _image("PNG", pnginfo=info)


IMAGES = {
    "/png": (_png_with_a_script_comment(), "image/png"),
    "/jpeg": (_image("JPEG", quality=95), "image/jpeg"),
    "/gif": (_image("GIF"), "image/gif"),
    "/webp": (_image("WEBP", lossless=True), "image/webp"),
}


class HostileServer:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.svg_script = "/tasks/x/results/annotations"
        self.connections = 0
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(60)
        try:
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            method, target, _ = head[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
            with self.lock:
                self.requests.append((method, target, headers))
            self._route(conn, urlsplit(target))
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _send(self, conn, status: str, body: bytes = b"", headers: dict | None = None) -> None:
        lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def _route(self, conn, url) -> None:
        path, query = url.path, parse_qs(url.query)
        if path in IMAGES:
            body, kind = IMAGES[path]
            self._send(conn, "200 OK", body, {"Content-Type": kind})
        elif path == "/svg":
            self._send(conn, "200 OK", svg(self.svg_script), {"Content-Type": "image/svg+xml"})
        elif path == "/svg-as-png":
            self._send(conn, "200 OK", svg(self.svg_script), {"Content-Type": "image/png"})
        elif path == "/html-as-png":
            self._send(conn, "200 OK", HTML, {"Content-Type": "image/png"})
        elif path == "/js":
            self._send(conn, "200 OK", JS, {"Content-Type": "application/javascript"})
        elif path == "/json":
            self._send(conn, "200 OK", b'[{"annotations": []}]', {"Content-Type": "application/json"})
        elif path == "/bomb":
            self._send(conn, "200 OK", bomb_png(), {"Content-Type": "image/png"})
        elif path == "/sized":
            self._send(conn, "200 OK", padded_png(int(query["bytes"][0])), {"Content-Type": "image/png"})
        elif path in ("/slow-headers", "/callbacks/slow-headers"):
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nX-Padding: " + b"a" * 100:
                conn.sendall(bytes([byte]))
                time.sleep(1)
        elif path == "/slow-body":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n")
            for _ in range(1000):
                conn.sendall(b".")
                time.sleep(0.5)
        elif path == "/huge":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n")
            block = b"\x89PNG" + b"\0" * (1024 * 1024 - 4)
            for _ in range(100):
                conn.sendall(block)
        elif path == "/huge-declared":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 10000000000\r\n\r\n")
            conn.sendall(b"\x89PNG" + b"\0" * 65536)
        elif path == "/reason":
            self._send(conn, "500 SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13", b"")
        elif path == "/banner":
            conn.sendall(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n")
        elif path.startswith("/redirect/"):
            n = int(path.rsplit("/", 1)[1])
            self._send(conn, "302 Found", headers={"Location": f"/redirect/{n + 1}"})
        elif path in ("/to-loopback", "/callbacks/to-loopback"):
            self._send(conn, "302 Found", headers={"Location": f"http://127.0.0.1:{query['port'][0]}/"})
        elif path.startswith("/callbacks/") or path == "/hook":
            self._send(conn, "200 OK", b"ok", {"Content-Type": "text/plain"})
        else:
            self._send(conn, "404 Not Found", b"missing", {"Content-Type": "text/plain"})

    def requested(self, path: str) -> int:
        with self.lock:
            return sum(1 for _, target, _ in self.requests if target.split("?")[0] == path)

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()
