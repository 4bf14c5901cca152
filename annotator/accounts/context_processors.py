from __future__ import annotations

from django.http import HttpRequest

from annotator.accounts.models import Workspace


def workspace(request: HttpRequest) -> dict:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "workspace": getattr(request, "workspace", None),
        "my_workspaces": Workspace.objects.filter(members=request.user),
    }
