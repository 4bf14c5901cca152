"""URL, email and video-file checks for attachments and callback_url."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from .limits import ATTACHMENT_SCHEMES, NOT_VIDEO_EXTENSIONS, STORAGE_SCHEMES, VIDEO_EXTENSIONS
from .report import Report, quote

# Deliberately loose: Scale only says "an email address" (§6); the mail server decides.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def _parts(value: str) -> tuple[str, str, str] | None:
    """(lower-cased scheme, host or bucket, path), or None for text that is not a URL."""
    if not value or any(ch.isspace() for ch in value):
        return None
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:  # e.g. an unclosed IPv6 bracket: "http://[::1"
        return None
    return parts.scheme.lower(), host, parts.path


def is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a host, and no whitespace (which no HTTP client sends)."""
    parts = _parts(value)
    return parts is not None and parts[0] in ("http", "https") and bool(parts[1])


def is_attachment_url(value: str) -> bool:
    """A URL Scale fetches attachments from (ref §0b): http(s)://host/..., s3://bucket/...,
    gs://bucket/... (read with the customer's bucket policy) or scaledata://... (a file
    uploaded to Scale)."""
    parts = _parts(value)
    if parts is None or parts[0] not in ATTACHMENT_SCHEMES:
        return False
    scheme, host, path = parts
    if scheme == "scaledata":
        return bool(host or path.strip("/"))
    return bool(host)


def is_storage_url(value: object) -> bool:
    """s3://, gs:// or scaledata://: Scale reads it, a browser cannot (no preview)."""
    if not isinstance(value, str):
        return False
    parts = _parts(value)
    return parts is not None and parts[0] in STORAGE_SCHEMES


def is_email(value: str) -> bool:
    return _EMAIL.fullmatch(value) is not None


def video_extension(url: str) -> str:
    """The lower-cased extension of the URL path's last segment ("" if it has none).

    The query string and fragment are ignored, so signed URLs
    (`.../clip.mp4?X-Amz-Signature=...`) are judged by their path.
    """
    try:
        path = urlsplit(url).path
    except ValueError:
        return ""
    last = path.rsplit("/", 1)[-1]
    if "." not in last:
        return ""
    return last.rsplit(".", 1)[1].lower()


def is_video_url(url: str) -> bool:
    return video_extension(url) in VIDEO_EXTENSIONS


def check_url(report: Report, value: Any, path: str) -> bool:
    if not report.string(value, path):
        return False
    if not is_attachment_url(value):
        report.add(
            path,
            "url.invalid",
            f"Scale fetches http(s)://, s3://, gs:// and scaledata:// URLs; it may not be able to read {quote(value)}",
        )
        return False
    return True


def check_video_format(report: Report, url: str, path: str) -> None:
    extension = video_extension(url)
    if extension in VIDEO_EXTENSIONS:
        return
    formats = f"{', '.join(VIDEO_EXTENSIONS[:-1])} or {VIDEO_EXTENSIONS[-1]}"
    if extension in NOT_VIDEO_EXTENSIONS:
        # Scale takes "only mp4, webm and ogg" (§1.2): a URL that names another format is refused.
        report.add(path, "video.format", f"video must be an {formats} file (got '.{extension}')")
        return
    # No extension (a stream URL, scaledata://...), or one that names no format (.php):
    # Scale's own playback hypothesis example sends such a URL, so only a warning.
    detail = f"'.{extension}' names no video format" if extension else "the URL path has no file extension"
    report.add(
        path,
        "video.format_unknown",
        f"make sure the video is an {formats} file: {detail}, so it cannot be checked here",
    )
