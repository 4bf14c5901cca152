"""A bound on every uploaded file, applied while the request body is read.

Django spools an upload to a temporary file before any view runs (the CSRF check reads the
form), so a size check in the view comes after a 201 MB file has been written to disk. This
middleware puts a handler in front of Django's own on the bulk upload page (/submit/): once a
file passes SUBMIT_MAX_UPLOAD_BYTES
the rest of it is dropped (neither memory nor disk grows) and the request is marked, so the
view answers with a clear message instead of reading a truncated file.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponse


class CappedUploadHandler(FileUploadHandler):
    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > self.limit:
            too_large(self.request)[self.field_name] = self.received
            return None  # later handlers never see this chunk
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # Django's own handlers make the file object


def too_large(request: HttpRequest) -> dict[str, int]:
    """Form field name -> bytes received so far, for every file that went past the limit."""
    if not hasattr(request, "_uploads_too_large"):
        request._uploads_too_large = {}
    return request._uploads_too_large


def upload_limit(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    # Only the bulk upload page: other uploads have limits of their own (the composer sends
    # videos of up to 200 MB on to Scale), and a file cut short there would be sent cut short.
    from django.urls import reverse

    def middleware(request: HttpRequest) -> HttpResponse:
        multipart = request.method == "POST" and request.content_type == "multipart/form-data"
        if multipart and request.path_info == reverse("submission_upload"):
            request.upload_handlers.insert(0, CappedUploadHandler(request, settings.SUBMIT_MAX_UPLOAD_BYTES))
        return get_response(request)

    return middleware
