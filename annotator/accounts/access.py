"""The one ownership check: objects outside the user's workspaces are a 404."""

from __future__ import annotations

from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest

M = TypeVar("M", bound=Model)


def for_user(queryset: QuerySet[M], request: HttpRequest, field: str = "workspace") -> QuerySet[M]:
    return queryset.filter(**{f"{field}__members": request.user})


def get_for_user(queryset: QuerySet[M], request: HttpRequest, field: str = "workspace", **lookup) -> M:
    # 404, not 403: another team's object ids must not even be confirmed to exist. A value
    # that is not even a valid id (a code that is no UUID) is the same 404, not a 500.
    try:
        obj = for_user(queryset, request, field).filter(**lookup).first()
    except (ValidationError, ValueError, OverflowError):
        obj = None
    if obj is None:
        raise Http404("Not found")
    return obj


def require_workspace(request: HttpRequest):
    if request.workspace is None:
        raise Http404("You are not a member of any workspace yet")
    return request.workspace
