"""URLs for bench_callbacks.py: the whole app plus a view that only says ok."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [path("bench/ok/", ok), path("", include("annotator.urls"))]
