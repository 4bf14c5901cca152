"""The overview page's task summary (templates/accounts/home.html, block overview_extra)."""

from __future__ import annotations

from django import template

from annotator.tasks.models import Task

register = template.Library()


@register.inclusion_tag("tasks/_overview.html", takes_context=True)
def task_overview(context) -> dict:
    from annotator.tasks.views import COUNT_CAP, status_counts

    request = context["request"]
    workspace = getattr(request, "workspace", None)
    if workspace is None:
        return {"workspace": None}
    recent = Task.objects.filter(workspace=workspace).order_by("-created_at", "-id")[:5]
    return {"workspace": workspace, "counts": status_counts(workspace), "count_cap": COUNT_CAP, "recent": recent}
