"""URL, email and video-file checks for attachments and callback_url."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from .limits import VIDEO_EXTENSIONS
from .report import Report, quote

# Deliberately loose: Scale only says "an email address" (§6); the mail server decides.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a host, and no whitespace (which no HTTP client sends)."""
    if not value or any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket: "http://[::1"
        return False
    return parts.scheme.lower() in ("http", "https") and bool(host)


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
    if not is_http_url(value):
        report.add(path, "url.invalid", f"must be an http or https URL with a host, got {quote(value)}")
        return False
    return True
