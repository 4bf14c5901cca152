"""Upload a local image or video through the workspace's Scale file upload (files/upload).

The composer's drop zone (templates/composer/_upload.html, static/js/composer_upload.js)
posts the file here; we pass it to Scale (or the sandbox, for a sandbox workspace) and
answer the `scaledata://` URL Scale gives back, which becomes the task's attachment.
"""

from __future__ import annotations

import logging
import mimetypes
import os

from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from annotator.accounts.access import require_workspace
from annotator.scale_client import PermanentError, ScaleError
from annotator.submission import pipeline

log = logging.getLogger(__name__)

# What Scale annotates for these task types: images, and the video formats it documents
# (mp4, webm, ogg). Anything else would only fail later, at Scale.
VIDEO_TYPES = ("video/mp4", "video/webm", "video/ogg")
MAX_UPLOAD_BYTES = 200 * 1024 * 1024


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def media_type(name: str, declared: str) -> str:
    declared = (declared or "").split(";", 1)[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return declared
    return mimetypes.guess_type(name)[0] or ""


@login_required
@require_POST
def upload_attachment(request: HttpRequest) -> JsonResponse:
    workspace = require_workspace(request)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit_mb = MAX_UPLOAD_BYTES // (1024 * 1024)
    if length > MAX_UPLOAD_BYTES + 64 * 1024:
        return _error(413, f"That file is larger than {limit_mb} MB; upload it to your storage and paste its URL.")
    try:
        upload = request.FILES.get("file")
        project = (request.POST.get("project") or "").strip()
    except RequestDataTooBig:
        return _error(413, "The form is too large.")
    if upload is None:
        return _error(400, "Choose an image or a video file to upload.")
    name = os.path.basename(upload.name or "upload")
    kind = media_type(name, upload.content_type or "")
    if not (kind.startswith("image/") or kind in VIDEO_TYPES):
        what = kind or "unknown type"
        return _error(400, f"{name} is not an image or an MP4, WebM or Ogg video ({what}); Scale cannot label it.")
    if upload.size > MAX_UPLOAD_BYTES:
        return _error(413, f"That file is larger than {limit_mb} MB; upload it to your storage and paste its URL.")
    if not workspace.has_api_key:
        return _error(400, "This workspace has no Scale API key yet: add one under Settings, then upload.")
    client = pipeline.client_for(workspace)
    try:
        with upload.open("rb") as fileobj:
            answer = client.upload_file(fileobj, name, kind, project_name=project)
    except PermanentError as error:
        return _error(400, f"Scale refused the upload: {error.message}")
    except ScaleError as error:
        log.warning("composer upload to %s failed: %s", client, error)
        return _error(502, f"Scale could not take the file just now ({error}); try again.")
    url = answer.get("attachment_url") if isinstance(answer, dict) else None
    if not isinstance(url, str) or not url:
        return _error(502, "Scale answered without an attachment URL; try again.")
    return JsonResponse({"attachment_url": url, "name": name, "size": upload.size, "mime_type": kind})
