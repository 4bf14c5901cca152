from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("annotator.tasks.urls")),  # first: it holds the callback receiver
    path("admin/", admin.site.urls),
    path("", include("annotator.accounts.urls")),
    path("compose/", include("annotator.composer.urls")),
    path("submit/", include("annotator.submission.urls")),
    path("exports/", include("annotator.exports.urls")),
]

if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("annotator.sandbox.urls")))
