"""Scale's file API, played locally: files/upload and files/import give `scaledata://` URLs.

An uploaded file is kept under MEDIA_ROOT/sandbox/files/ and served at
/sandbox/files/<file id> (public, unguessable, like a presigned URL). An imported one is
only recorded: the sandbox never fetches, so its URL redirects to where it came from.
Tasks may name either by its `scaledata://<owner>/<file id>` URL; one the account does
not own ends the task in `error`, as an attachment Scale cannot download does.
"""

from __future__ import annotations

import mimetypes
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.urls import reverse
from PIL import Image, UnidentifiedImageError

from .lifecycle import ApiError
from .models import SandboxAccount, SandboxFile, SandboxProject, files_dir

# Scale publishes no limit; this keeps a development tool's disk safe.
MAX_UPLOAD_BYTES = 250 * 1024 * 1024
SCALEDATA = re.compile(r"^scaledata://([^/]+)/([0-9a-f-]{36})$")
IMPORT_SCHEMES = ("http", "https", "s3", "gs")
# Served inline only for media a browser shows without running anything; the rest
# (SVG, HTML, ...) is a download, so an upload can never script the site.
INLINE_TYPES = frozenset(
    ["image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "video/mp4", "video/webm", "video/ogg"]
)


def _project_names(account: SandboxAccount, value: object) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, str):
        raise ApiError(400, "project_name: must be a project name (a string).")
    if not SandboxProject.objects.filter(account=account, name=value).exists():
        raise ApiError(400, f'project_name: no project named "{value}" exists; create it first (POST /v1/projects).')
    return [value]


def _mime_type(name: str, declared: str | None) -> str:
    if declared and declared != "application/octet-stream":
        return declared.split(";", 1)[0].strip().lower()[:120]  # the column's size
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def path_of(file: SandboxFile) -> Path:
    return Path(files_dir()) / file.file_id


def upload(account: SandboxAccount, upload: UploadedFile | None, project_name: object) -> SandboxFile:
    if upload is None:
        raise ApiError(400, "file: send the file as the multipart form field named file.")
    if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
        raise ApiError(413, f"file: the sandbox takes files up to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    projects = _project_names(account, project_name)
    filename = os.path.basename(upload.name or "")[:255]
    record = SandboxFile(
        account=account,
        filename=filename,
        mime_type=_mime_type(filename, upload.content_type),
        size=upload.size,
        project_names=projects,
    )
    target = path_of(record)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    with partial.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    if record.mime_type.startswith("image/"):
        try:
            with Image.open(partial) as image:
                record.width, record.height = image.size
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
            pass  # not an image after all: Scale would fail the task, not the upload
    os.replace(partial, target)
    try:
        with transaction.atomic():
            record.save()
    except Exception:
        target.unlink(missing_ok=True)
        raise
    return record


def import_url(account: SandboxAccount, data: dict) -> SandboxFile:
    url = data.get("file_url")
    if not isinstance(url, str) or urlsplit(url).scheme.lower() not in IMPORT_SCHEMES or not urlsplit(url).netloc:
        raise ApiError(400, "file_url: must be an http(s)://, s3:// or gs:// URL of the file to import.")
    if len(url) > 2000:
        raise ApiError(400, "file_url: must be at most 2,000 characters.")
    projects = _project_names(account, data.get("project_name"))
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    return SandboxFile.objects.create(
        account=account,
        filename=name[:255],
        mime_type=_mime_type(name, None),
        project_names=projects,
        source_url=url,
    )


def file_id_of(url: object) -> str | None:
    """The file id of a scaledata:// URL, or None for any other value."""
    match = SCALEDATA.match(url) if isinstance(url, str) else None
    return match[2] if match else None


def owned_file(account_id: int, url: object) -> SandboxFile | None:
    file_id = file_id_of(url)
    if file_id is None:
        return None
    return SandboxFile.objects.filter(account_id=account_id, file_id=file_id).first()


def http_url(file: SandboxFile, origin: str) -> str:
    """Where a browser (or the dashboard's preview) fetches the file: the sandbox's own URL."""
    return origin + reverse("sandbox:file", args=[file.file_id])


def inline(file: SandboxFile) -> bool:
    return file.mime_type in INLINE_TYPES
