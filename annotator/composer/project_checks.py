"""What the task's project at Scale says about the fields the task leaves to it.

A task that omits labels (or geometries, …) and names a project gets them from the project's
params (scale_rules: `param.project_defined`, a warning, since only Scale knows the project).
Here that project is asked about: the browser asks once per project name, off the typing
preview's path (views.media_check, kind "project"), the answer is cached per workspace for a
minute, and the next preview sharpens the warning — Scale will refuse the task — or drops it,
when the project's latest params define the field. Still warnings only: the project's params
may change before the task is sent, and Scale is the judge.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

from django.core.cache import cache

from annotator.scale_client import PermanentError, ScaleError
from annotator.scale_rules.report import quote

KIND = "project"
CACHE_SECONDS = 60  # short: someone may be setting the project's params right now
PROJECT_DEFINED = "param.project_defined"  # the rule code this module sharpens (scale_rules/validate.py)
# The code of a sharpened one: the project was asked and lacks the field. Still a warning (never
# blocks), shown apart from the "Scale may accept" ones, since this one Scale will refuse.
REFUSED = "project.lacks_param"


@dataclass(frozen=True)
class ProjectInfo:
    name: str
    found: bool = False
    params: tuple[str, ...] = ()  # the keys the latest params define
    version: int | None = None
    problem: str = ""  # why it could not be checked ("" when it was)

    def summary(self) -> str:
        if self.problem:
            return self.problem
        if not self.found:
            return "Scale has no project of this name for this workspace's API key."
        defined = ", ".join(self.params) or "nothing but its instruction"
        version = f" (version {self.version})" if self.version is not None else ""
        return f"its params{version} define {defined}."


def _key(workspace_id: int, name: str) -> str:
    return f"project-check:v1:{workspace_id}:{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()}"


def cached(workspace, name: str) -> ProjectInfo | None:
    found = cache.get(_key(workspace.pk, name))
    return ProjectInfo(**{**found, "params": tuple(found["params"])}) if isinstance(found, dict) else None


def check(workspace, name: str) -> ProjectInfo:
    """Ask Scale (or the sandbox) for the project, and cache the answer."""
    from annotator.submission.pipeline import client_for

    if not workspace.has_api_key:
        info = ProjectInfo(name, problem="Could not be checked: this workspace has no API key yet.")
    else:
        try:
            info = read(name, client_for(workspace).get_project(name))
        except PermanentError as e:
            if e.status_code == 404:
                info = ProjectInfo(name, found=False)
            else:
                info = ProjectInfo(name, problem=f"Could not be checked: {e}")
        except ScaleError as e:
            info = ProjectInfo(name, problem=f"Could not be checked: {e}")
    cache.set(_key(workspace.pk, name), asdict(info), CACHE_SECONDS)
    return info


def read(name: str, project: object) -> ProjectInfo:
    """The project as Scale describes it: its latest `param_history` entry is what a task gets."""
    history = project.get("param_history") if isinstance(project, dict) else None
    entries = [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []
    if not entries:
        return ProjectInfo(name, found=True)
    latest = max(entries, key=lambda h: h.get("version") if isinstance(h.get("version"), int) else -1)
    keys = tuple(k for k, v in latest.items() if k not in ("version", "created_at") and v not in (None, "", [], {}))
    version = latest.get("version") if isinstance(latest.get("version"), int) else None
    return ProjectInfo(name, found=True, params=keys, version=version)


def sharpen(field: str, info: ProjectInfo) -> str | None:
    """The message for a field the task leaves to the project, now that the project is known:
    None when the project defines it (nothing to warn about), else why Scale will refuse it.
    An unchecked project keeps the rule's own message (returns "")."""
    if info.problem:
        return ""
    if not info.found:
        return (
            f"is not set, and Scale has no project {quote(info.name)} for this workspace's API key "
            "(a project made with the live key is not seen with the test key): Scale will refuse this task"
        )
    if field in info.params:
        return None
    version = f", version {info.version}," if info.version is not None else ""
    return (
        f"is not set, and project {quote(info.name)} does not define it either (its latest params{version} "
        f"have no {field}): Scale will refuse this task"
    )
