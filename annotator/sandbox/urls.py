from __future__ import annotations

from django.urls import path

from . import views

app_name = "sandbox"

# Mounted at /sandbox/, so the SDK's base URL is <site>/sandbox/v1 (no trailing
# slashes: the SDK builds f"{base}/{endpoint}").
urlpatterns = [
    path("v1/tasks", views.task_list, name="task_list"),
    path("v1/task/<str:task_id>/cancel", views.task_cancel, name="task_cancel"),
    path("v1/task/<str:name>", views.task_entry, name="task"),
    path("v1/batches", views.batches, name="batches"),
    # Names may hold "/" (the SDK %-encodes them), hence <path:...>; specific routes first.
    path("v1/batches/<path:name>/finalize", views.batch_finalize, name="batch_finalize"),
    path("v1/batches/<path:name>/status", views.batch_status, name="batch_status"),
    path("v1/batches/<path:name>", views.batch_detail, name="batch"),
    path("v1/projects", views.projects, name="projects"),
    path("v1/projects/<path:name>/setParams", views.project_set_params, name="project_set_params"),
    path("v1/projects/<path:name>", views.project_detail, name="project"),
    path("v1/<path:rest>", views.not_found),
    path("results/<str:name>", views.result_file, name="result"),
    path("media/", views.media_index, name="media_index"),
    path("media/<str:name>", views.media_file, name="media"),
]
