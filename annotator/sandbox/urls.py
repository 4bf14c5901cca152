from __future__ import annotations

from django.urls import path

from . import views

app_name = "sandbox"

# Mounted at /sandbox/, so the SDK's base URL is <site>/sandbox/v1 (no trailing
# slashes: the SDK builds f"{base}/{endpoint}").
urlpatterns = [
    path("v1/tasks", views.task_list, name="task_list"),
    path("v1/task/<str:task_id>/cancel", views.task_cancel, name="task_cancel"),
    path("v1/task/<str:task_id>/audit", views.task_audit, name="task_audit"),
    path("v1/task/<str:task_id>/unique_id", views.task_unique_id, name="task_unique_id"),
    path("v1/task/<str:task_id>/setMetadata", views.task_set_metadata, name="task_set_metadata"),
    path("v1/task/<str:task_id>/tags", views.task_tags, name="task_tags"),
    path("v1/task/<str:name>", views.task_entry, name="task"),
    path("v1/batches", views.batches, name="batches"),
    # Names may hold "/" (the SDK %-encodes them, the server decodes), hence <path:...>;
    # the routes with a fixed last segment come first.
    path("v1/batches/<path:name>/finalize", views.batch_finalize, name="batch_finalize"),
    path("v1/batches/<path:name>/status", views.batch_status, name="batch_status"),
    path("v1/batches/<path:name>/setMetadata", views.batch_set_metadata, name="batch_set_metadata"),
    path("v1/batches/<path:name>", views.batch_detail, name="batch"),
    path("v1/projects", views.projects, name="projects"),
    path("v1/projects/<path:name>/setParams", views.project_set_params, name="project_set_params"),
    path("v1/projects/<path:name>/taskTemplates", views.project_template, name="project_template"),
    path("v1/projects/<path:name>", views.project_detail, name="project"),
    path("v1/files/upload", views.file_upload, name="file_upload"),
    path("v1/files/import", views.file_import, name="file_import"),
    path("v1/teams", views.teams, name="teams"),
    path("results/<str:name>", views.result_file, name="result"),
    path("files/<str:file_id>", views.file_download, name="file"),
    path("media/", views.media_index, name="media_index"),
    path("media/<str:name>", views.media_file, name="media"),
    # Anything else under /sandbox/ is a JSON 404, as Scale answers unknown routes.
    path("", views.not_found),
    path("<path:rest>", views.not_found),
]
