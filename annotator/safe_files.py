"""Files that came from elsewhere and are served from our origin: what they are, and how.

Anything served from the site's origin runs with the site's authority if a browser treats it
as a page or a script: an upstream `image/svg+xml` with a `<script href>` at another copied
file renamed a workspace (issue 11). So a file is served only as a type we decided, from its
bytes (never the upstream's Content-Type), with headers that keep it inert:

- the media proxy re-encodes what Pillow decoded into a fresh PNG (pixels only; no SVG, no
  metadata, no polyglot trailer survives);
- copied result files must sniff as PNG, JPEG, WebP or GIF (images) or parse as JSON
  (annotation files); anything else is not kept;
- every such response carries `Content-Security-Policy: sandbox; default-src 'none'` and
  `X-Content-Type-Options: nosniff` (a `<script src>` at an image or JSON type is then refused
  by the browser) and a Content-Disposition.

Pillow's decompression-bomb guard is set here, deliberately, from IMAGE_MAX_PIXELS; every
decode checks the size from the header first, so a small file claiming a huge canvas costs
nothing.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

from django.conf import settings
from PIL import Image

if TYPE_CHECKING:
    from django.http import HttpResponse

# The served types, and the extension a copy of each gets on disk.
RASTER_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif"}
JSON_TYPE = "application/json"
SERVED_TYPES = {**RASTER_TYPES, JSON_TYPE: ".json"}
_PILLOW_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
SANDBOX_CSP = "sandbox; default-src 'none'"


def max_pixels() -> int:
    return int(settings.IMAGE_MAX_PIXELS)


def configure_pillow() -> None:
    # Pillow warns above MAX_IMAGE_PIXELS and refuses above twice that; our own check in
    # open_image() refuses above it, so the global is only the last line.
    Image.MAX_IMAGE_PIXELS = max_pixels()


class UnsafeFile(Exception):
    """Why a file is not served or kept, in words a person understands."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def sniff_raster(content: bytes) -> str | None:
    """The image type the bytes start with (PNG, JPEG, WebP, GIF), or None."""
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    if content[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def sniff(content: bytes) -> str | None:
    """The served type these bytes are (a raster image or a JSON document), or None."""
    raster = sniff_raster(content)
    if raster:
        return raster
    head = content[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        try:
            json.loads(content)
        except (ValueError, RecursionError):
            return None
        return JSON_TYPE
    return None


def open_image(content: bytes, limit: int | None = None) -> Image.Image:
    """Open (not yet decode) a raster image we accept; refuses other formats and huge canvases."""
    configure_pillow()
    limit = limit or max_pixels()
    kind = sniff_raster(content)
    if kind is None:
        raise UnsafeFile("That file is not a PNG, JPEG, WebP or GIF image.")
    try:
        img = Image.open(io.BytesIO(content), formats=list(_PILLOW_FORMATS))
    except Image.DecompressionBombError:
        raise UnsafeFile(f"That image has more than the {limit:,}-pixel limit.") from None
    except (OSError, ValueError, SyntaxError):
        raise UnsafeFile("That image could not be read.") from None
    if _PILLOW_FORMATS.get(img.format or "") != kind:
        raise UnsafeFile("That image could not be read.")
    if img.width * img.height > limit:
        raise UnsafeFile(f"That image is {img.width} x {img.height} pixels: more than the {limit:,}-pixel limit.")
    return img


def check_raster(content: bytes) -> str:
    """The type of an image we keep as it is (result copies); raises UnsafeFile."""
    img = open_image(content)
    try:
        img.verify()  # walks the chunks and checksums without decoding the pixels
    except Exception:  # Pillow raises many types for a damaged file
        raise UnsafeFile("That image is damaged.") from None
    return _PILLOW_FORMATS[img.format]


def reencode_png(content: bytes, limit: int | None = None) -> bytes:
    """Decode a raster image and write its pixels (first frame) as a new PNG."""
    img = open_image(content, limit)
    try:
        img.load()
    except Exception:  # truncated or corrupt data: Pillow raises OSError, SyntaxError, ...
        raise UnsafeFile("That image could not be read.") from None
    if img.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def harden(response: HttpResponse, *, filename: str | None = None, attachment: bool = False) -> HttpResponse:
    """The headers that keep a file from elsewhere inert on our origin."""
    response["Content-Security-Policy"] = SANDBOX_CSP
    response["X-Content-Type-Options"] = "nosniff"
    disposition = "attachment" if attachment else "inline"
    if filename:
        safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in filename)[:100] or "file"
        disposition += f'; filename="{safe}"'
    response["Content-Disposition"] = disposition
    return response
