from __future__ import annotations

from django.urls import path

from annotator.composer import library_views, upload, views
from annotator.scale_rules import TASK_TYPES

urlpatterns = [
    path("", views.compose_index, name="compose_index"),
    path("library/", views.library, name="composer_library"),
    path("library/templates/<uuid:template_code>/", views.compose_from_template, name="compose_from_template"),
    path("library/templates/<uuid:template_code>/rename/", views.template_rename, name="template_rename"),
    path("library/templates/<uuid:template_code>/delete/", views.template_delete, name="template_delete"),
    path("library/label-sets/<uuid:labelset_code>/delete/", views.labelset_delete, name="labelset_delete"),
    path("library/geometry-presets/<uuid:preset_code>/delete/", views.preset_delete, name="preset_delete"),
    path(
        "library/attribute-sets/<uuid:attributeset_code>/delete/", views.attributeset_delete, name="attributeset_delete"
    ),
    path("library/export/", library_views.library_export, name="library_export"),
    path("library/import/", library_views.library_import, name="library_import"),
    path("library/undo/<str:token>/", library_views.undo_delete, name="library_undo"),
    path("library/templates/<uuid:code>/versions/", library_views.template_versions, name="template_versions"),
    path(
        "library/templates/<uuid:code>/versions/<int:number>/restore/",
        library_views.template_restore,
        name="template_restore",
    ),
    path("library/<slug:slug>/<uuid:code>/edit/", library_views.item_edit, name="library_item_edit"),
    path("library/<slug:slug>/<uuid:code>/duplicate/", library_views.item_duplicate, name="library_item_duplicate"),
    path("media/", views.media_proxy, name="composer_media_proxy"),
    path("media-check/", views.media_check, name="composer_media_check"),
    path("upload/", upload.upload_attachment, name="compose_upload"),
    # One route per type rather than a <str:task_type> kwarg: only real types resolve.
    *[path(f"{t}/", views.compose_task, {"task_type": t}, name=f"compose_{t}") for t in TASK_TYPES],
    *[path(f"{t}/preview/", views.compose_preview, {"task_type": t}, name=f"compose_preview_{t}") for t in TASK_TYPES],
    *[path(f"{t}/draft/", views.draft_save, {"task_type": t}, name=f"compose_draft_{t}") for t in TASK_TYPES],
    *[
        path(f"{t}/draft/discard/", views.draft_discard, {"task_type": t}, name=f"compose_draft_discard_{t}")
        for t in TASK_TYPES
    ],
]
