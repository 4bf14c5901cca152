from __future__ import annotations

from django.urls import path

from annotator.submission import views

urlpatterns = [
    path("", views.upload, name="submission_upload"),
    path("confirm/", views.confirm, name="submission_confirm"),
    path("groups/<uuid:group_code>/", views.group_detail, name="submission_group"),
    path("groups/<uuid:group_code>/email", views.group_email, name="submission_group_email"),
]
