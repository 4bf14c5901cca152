"""What a converter knows about one task: plain data, no Django."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TaskRecord:
    """One task as the export sees it.

    `files` maps a result file's name ("indexedImage", "annotations", "events",
    "attachment", "labeled:car:2", ...) to our copy on disk; `links` maps the same
    names to the URLs of our copies (for the JSON Lines file)."""

    code: str
    task_type: str
    unique_id: str
    payload: dict
    response: dict | None
    status: str = ""
    scale_task_id: str = ""
    name: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        """A file name for this task: readable, safe, and unique within an export."""
        return safe_stem(self.name or self.unique_id, self.code)

    @property
    def metadata(self) -> dict:
        value = self.payload.get("metadata") if isinstance(self.payload, dict) else None
        return value if isinstance(value, dict) else {}


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# A task named after its attachment ("street-1.png") would give "street-1.png_8ea3cab7.png".
_MEDIA_SUFFIX = re.compile(r"\.(png|jpe?g|webp|gif|bmp|tiff?|mp4|mov|webm|avi|mkv)$", re.IGNORECASE)


def safe_stem(text: str, code: str) -> str:
    # The code's first 8 hex digits make two tasks with similar ids distinct
    # without remembering every name already used (memory stays flat).
    readable = _UNSAFE.sub("_", _MEDIA_SUFFIX.sub("", text)).strip("._-")[:60] or "task"
    return f"{readable}_{code.replace('-', '')[:8]}"
