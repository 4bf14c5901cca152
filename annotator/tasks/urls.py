from __future__ import annotations

from django.urls import path

from annotator.tasks import views

urlpatterns = [
    # Scale posts here; the token in the path picks the workspace, the header proves it is Scale.
    # First in this list, and this list first in annotator/urls.py: Scale may post
    # hundreds of callbacks a second, and every route tried before a match costs.
    path("callbacks/<str:token>/", views.callback_receive, name="callback_receive"),
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/bulk/", views.task_bulk, name="task_bulk"),
    path("tasks/export.csv", views.task_export, name="task_export"),
    path("tasks/<uuid:task_code>/", views.task_detail, name="task_detail"),
    path("tasks/<uuid:task_code>/results/<str:result_name>", views.task_result_file, name="task_result_file"),
    path("tasks/<uuid:task_code>/thumbnail.png", views.task_thumbnail, name="task_thumbnail"),
    path("tasks/<uuid:task_code>/name/", views.task_rename, name="task_rename"),
    path("tasks/<uuid:task_code>/resubmit/", views.task_resubmit, name="task_resubmit"),
    path("tasks/<uuid:task_code>/cancel/", views.task_cancel, name="task_cancel"),
    path("tasks/<uuid:task_code>/review/", views.task_review, name="task_review"),
]
