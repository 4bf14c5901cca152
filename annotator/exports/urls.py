from __future__ import annotations

from django.urls import path

from annotator.exports import views

urlpatterns = [
    path("", views.export_list, name="export_list"),
    path("new/", views.export_new, name="export_new"),
    path("<uuid:export_code>/", views.export_detail, name="export_detail"),
    path("<uuid:export_code>/download", views.export_download, name="export_download"),
]
