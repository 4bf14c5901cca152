"""Looking up a field's problems in templates (the template language has no dict[variable])."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def issues_of(field_issues: dict[str, list[Any]] | None, name: str) -> list[Any]:
    return (field_issues or {}).get(name, [])


@register.filter
def has_errors(issues: list[Any]) -> bool:
    return any(getattr(issue, "severity", "error") == "error" for issue in issues)
