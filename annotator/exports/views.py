from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseStopPolling

from annotator.accounts.access import get_for_user, require_workspace

from . import FORMATS, SEGMENTATION_FORMATS, VIDEO_FORMATS, service
from .models import Export

RECENT = 30


def _selection(params) -> dict[str, str]:
    from annotator.tasks.views import Filters

    # Normalised through the table's own filters: what is exported is what the table shows.
    return Filters.from_params(params).params(cursor="", sort="created_desc")


@login_required
@require_http_methods(["GET", "POST"])
def export_new(request: HttpRequest) -> HttpResponse:
    workspace = require_workspace(request)
    source = request.POST if request.method == "POST" else request.GET
    selection = _selection(source)
    qs = service.selection_tasks(workspace, selection)
    if request.method == "POST":
        formats = [f for f in request.POST.getlist("format") if f in FORMATS]
        if not formats:
            messages.error(request, "Choose at least one format.")
        elif not qs.exists():
            messages.error(request, "Nothing to export: no task matches this selection.")
        else:
            export = service.create(
                workspace, request.user, selection, formats, include_images=request.POST.get("images") == "on"
            )
            return redirect("export_detail", export_code=export.code)
        chosen = formats
    else:
        chosen = service.suggested_formats(qs)
    from annotator.tasks.models import TaskType

    rows = qs.order_by().values_list("task_type").annotate(n=Count("id")).values_list("task_type", "n")
    labels = dict(TaskType.choices)
    by_type = {labels.get(t, t): n for t, n in rows}
    completed = service.selection_tasks(workspace, {**selection, "status": "completed"}).count()
    from annotator.tasks.views import Filters

    ctx = {
        "selection": selection,
        "title": service.describe(workspace, selection),
        "total": sum(by_type.values()),
        "completed": completed,
        "by_type": by_type,
        "formats": [
            {"key": key, "label": label, "checked": key in chosen, "kind": _kind(key)} for key, label in FORMATS.items()
        ],
        "back": Filters.from_params(selection).query(),
        "large": sum(by_type.values()) >= settings.EXPORT_EMAIL_TASKS,
    }
    return render(request, "exports/new.html", ctx)


def _kind(key: str) -> str:
    if key in SEGMENTATION_FORMATS:
        return "Segmentation"
    if key in VIDEO_FORMATS:
        return "Video"
    return "Every task"


@login_required
@require_GET
def export_list(request: HttpRequest) -> HttpResponse:
    workspace = require_workspace(request)
    exports = Export.objects.filter(workspace=workspace).order_by("-created_at")[:RECENT]
    return render(request, "exports/list.html", {"exports": exports})


@login_required
@require_GET
def export_detail(request: HttpRequest, export_code) -> HttpResponse:
    export = get_for_user(Export.objects.select_related("created_by"), request, code=export_code)
    ctx = {
        "export": export,
        "format_labels": [FORMATS[f] for f in export.formats if f in FORMATS],
        "keep_days": settings.EXPORT_KEEP_DAYS,
    }
    if request.htmx:
        response = render(request, "exports/detail.html#progress", ctx)
        # 286: htmx swaps this last version in and stops polling.
        return HttpResponseStopPolling(response.content) if export.finished else response
    return render(request, "exports/detail.html", ctx)


@login_required
@require_GET
def export_download(request: HttpRequest, export_code) -> FileResponse:
    export = get_for_user(Export.objects.all(), request, code=export_code)
    if export.status != Export.Status.DONE or not export.path:
        raise Http404("This export is not ready")
    media = Path(settings.MEDIA_ROOT).resolve()
    path = (media / export.path).resolve()
    if not path.is_relative_to(media) or not path.exists():
        raise Http404("This export's file is gone")
    stamp = export.created_at.strftime("%Y%m%d-%H%M")
    return FileResponse(path.open("rb"), as_attachment=True, filename=f"export-{stamp}-{export.code.hex[:8]}.zip")
