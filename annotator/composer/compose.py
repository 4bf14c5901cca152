"""One code path from what the composer posts to the payload Scale will receive.

The live preview, "validate only", submit and the import all go through compose(), so what
the preview shows is exactly what is sent.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field, replace
from typing import Any

from django.http import QueryDict

from annotator import scale_rules
from annotator.composer import media_checks, project_checks
from annotator.composer.forms import OMIT, ComposeForm, field_for_key

# The scaleapi SDK's enum member for each task type (TaskType.Segmentannotation does not exist).
SDK_TASK_TYPES = {
    "segmentannotation": "SegmentAnnotation",
    "videoannotation": "VideoAnnotation",
    "videoplaybackannotation": "VideoPlaybackAnnotation",
}
_TOP_KEY = re.compile(r'^([^.\[]+)|^\["((?:[^"\\]|\\.)*)"\]')


@dataclass
class Issue:
    """One problem, placed next to the field or builder that caused it."""

    field: str  # a form field name, or "" for the form as a whole
    path: str  # the JSON path in the payload ("" for form-only problems)
    message: str
    from_form: bool = False  # a field that did not even clean (bad JSON, not a number)
    severity: str = "error"  # scale_rules' severity: a "warning" is shown but never blocks
    code: str = ""  # scale_rules' rule code, when a rule found it

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    @property
    def local(self) -> str:
        """The message next to its field: the path only when it points inside the field."""
        if self.field == "extra_json":
            return str(self)  # that box holds many parameters: say which one
        return str(self) if any(mark in self.path for mark in ".[") else self.message


@dataclass
class Composition:
    task_type: str
    form: ComposeForm
    payload: dict[str, Any]
    issues: list[Issue] = field(default_factory=list)
    # What the media checks' cache knows of each (kind, url) of the task (None: not yet checked).
    media: dict[tuple[str, str], media_checks.MediaInfo | None] = field(default_factory=dict)

    @property
    def is_valid(self) -> bool:
        """Nothing Scale would refuse: warnings do not block a submit."""
        return not any(issue.severity == "error" for issue in self.issues)

    def issues_for(self, field_name: str) -> list[Issue]:
        return [issue for issue in self.issues if issue.field == field_name]

    @property
    def errors(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        """What Scale may accept (the project check's confirmed refusals are apart)."""
        return [issue for issue in self.issues if issue.severity != "error" and issue.code != project_checks.REFUSED]

    @property
    def refusals(self) -> list[Issue]:
        """Warnings its project at Scale confirmed: Scale will refuse the task (still not blocking)."""
        return [issue for issue in self.issues if issue.code == project_checks.REFUSED]

    @property
    def payload_json(self) -> str:
        return json.dumps(self.payload, indent=2, ensure_ascii=False)


def compose(
    task_type: str,
    data: QueryDict | dict[str, Any],
    *,
    check_media: bool = True,
    workspace: Any = None,
    **form_kwargs: Any,
) -> Composition:
    """The form read into Scale's payload, with every problem placed at its field.

    With a `workspace`, fields left to the task's project are told apart by what that project
    at Scale is known to define (a cache read; project_checks)."""
    form = ComposeForm(data, task_type=task_type, **form_kwargs)
    form.is_valid()
    issues = [
        Issue(name, _form_path(name), str(message), from_form=True)
        for name, messages in form.errors.items()
        for message in messages
    ]
    payload = scale_rules.build_payload(task_type, form.rules_data())
    cleaned = getattr(form, "cleaned_data", {})
    if cleaned.get("attachment_type") == OMIT:
        payload.pop("attachment_type", None)
    extras = cleaned.get("extra_json")
    if extras is not None and not isinstance(extras, dict):
        issues.append(Issue("extra_json", "", 'Other parameters must be a JSON object: {"name": value, …}.'))
    elif extras:
        inferred = "attachment_type" if not cleaned.get("attachment_type") else None
        for key in extras:
            if key in payload and key != inferred:
                issues.append(Issue("extra_json", key, "is also set by the form above; keep it in one place only."))
        # Sent exactly as written: no cleaning, no dropping of empty values.
        payload.update(extras)
    payload = _in_order(payload, cleaned.get("key_order"))
    for error in scale_rules.validate(task_type, payload):
        if isinstance(extras, dict) and _top_key(error.path) in extras:
            name = "extra_json"
        else:
            name = field_for_path(error.path, error.code, form)
        issues.append(Issue(name, error.path, error.message, severity=error.severity, code=error.code))
    # The media as far as it was checked already (a cache read, never a fetch: this runs on
    # every keystroke's preview). Not Scale's rules, so warnings only.
    media = media_checks.known(task_type, payload) if check_media else {}
    for finding in media_checks.findings(task_type, payload, media):
        name = field_for_path(finding.path, "", form)
        issues.append(Issue(name, finding.path, finding.message, severity="warning"))
    if workspace is not None:
        issues = _with_project(workspace, payload, issues, media)
    return Composition(task_type, form, payload, issues, media)


def _with_project(workspace: Any, payload: dict[str, Any], issues: list[Issue], media: dict) -> list[Issue]:
    """The warnings about fields left to the project, as sharp as what is known of it: gone when
    its params define the field, "Scale will refuse this task" when they do not. The project is
    listed with the media checks; None there means the browser is to ask about it."""
    project = payload.get("project")
    left = [issue for issue in issues if issue.code == project_checks.PROJECT_DEFINED]
    if not left or not isinstance(project, str) or not project.strip():
        return issues  # nothing left to it, or only a batch names it (not checked)
    info = project_checks.cached(workspace, project)
    media[(project_checks.KIND, project)] = info
    if info is None:
        return issues
    kept = []
    for issue in issues:
        message = project_checks.sharpen(issue.path, info) if issue.code == project_checks.PROJECT_DEFINED else ""
        if message is None:
            continue  # the project defines it: Scale fills it in
        kept.append(replace(issue, message=message, code=project_checks.REFUSED) if message else issue)
    return kept


def _in_order(payload: dict[str, Any], order: Any) -> dict[str, Any]:
    """The payload with the imported key order first (so an import comes back as it went in)."""
    if not isinstance(order, list) or not order:
        return payload
    first = [key for key in order if isinstance(key, str) and key in payload]
    return {key: payload[key] for key in dict.fromkeys(first + list(payload))}


def _top_key(path: str) -> str | None:
    match = _TOP_KEY.match(path or "")
    if not match:
        return None
    return match.group(1) if match.group(1) is not None else json.loads(f'"{match.group(2)}"')


def _form_path(field_name: str) -> str:
    from annotator.composer.forms import FIELD_TO_KEY

    return FIELD_TO_KEY.get(field_name, field_name) if field_name != "__all__" else ""


def field_for_path(path: str, code: str, form: ComposeForm) -> str:
    """The form field (or builder) a rule error belongs to, by the first key of its path."""
    if not path:
        # The "neither attachment nor attachments" error has no single path: the video URL is
        # the field most people fill in.
        return "attachment" if code == "attachment.missing" and "attachment" in form.fields else ""
    key = _top_key(path)
    if key is None:
        return ""
    name = field_for_key(key)
    return name if name in form.fields else ""


def python_literal(value: Any, indent: str = "") -> str:
    """`value` (what JSON holds) as a Python literal, one key or item per line.

    pprint gave the same text at about ten times the cost: it measures every sub-value's
    width to decide where to break, and the preview runs on every keystroke. Short
    containers stay on one line; repr() of str, int, float, bool and None is valid Python."""
    if not isinstance(value, (dict, list)) or not value:
        return repr(value)
    flat = repr(value)
    if len(flat) + len(indent) <= 80:
        return flat
    inner = indent + "    "
    if isinstance(value, dict):
        opening, closing = "{", "}"
        parts = [f"{inner}{key!r}: {python_literal(item, inner)}" for key, item in value.items()]
    else:
        opening, closing = "[", "]"
        parts = [inner + python_literal(item, inner) for item in value]
    return f"{opening}\n" + ",\n".join(parts) + f",\n{indent}{closing}"


def python_snippet(task_type: str, payload: dict[str, Any], base_url: str) -> str:
    """Ready-to-paste Python for the scaleapi SDK; the payload is a valid Python literal."""
    literal = python_literal(payload)
    instance = ""
    if base_url.rstrip("/") != "https://api.scale.com/v1":
        instance = f", api_instance_url={base_url.rstrip('/')!r}"
    return (
        "import os\n\n"
        "import scaleapi\n"
        "from scaleapi.tasks import TaskType\n\n"
        f'client = scaleapi.ScaleClient(os.environ["SCALE_API_KEY"]{instance})\n'
        f"payload = {literal}\n"
        f"task = client.create_task(TaskType.{SDK_TASK_TYPES[task_type]}, **payload)\n"
        "print(task.id, task.status)\n"
    )


def curl_snippet(task_type: str, payload: dict[str, Any], base_url: str) -> str:
    """A curl command that runs nothing but curl, whatever the values hold.

    The base URL is set by a workspace owner and pasted by anyone, so every value is quoted
    with shlex.quote (a URL in bare single quotes let `'$(…)'` run a command). The body goes
    through a quoted here-document, so the shell expands nothing in it, under a delimiter that
    is not one of its lines."""
    body = json.dumps(payload, indent=2, ensure_ascii=False)
    url = shlex.quote(f"{base_url.rstrip('/')}/task/{task_type}")
    lines = set(body.splitlines())
    delimiter = "EOF"
    while delimiter in lines:
        delimiter += "_"
    return (
        f'curl -sS -u "$SCALE_API_KEY:" -H {shlex.quote("Content-Type: application/json")} '
        f"-X POST {url} -d @- <<'{delimiter}'\n{body}\n{delimiter}\n"
    )


def label_count(task_type: str, payload: dict[str, Any]) -> int | None:
    """What the 50-label limit counts for this payload (segmentation labels only)."""
    if "labels" not in scale_rules.ALLOWED_FIELDS[task_type]:
        return None
    return scale_rules.count_labels(payload.get("labels"))


def metadata_bytes(payload: dict[str, Any]) -> int:
    try:
        return scale_rules.metadata_size(payload["metadata"]) if "metadata" in payload else 0
    except (TypeError, ValueError):
        return 0


def instance_labels(task_type: str, payload: dict[str, Any]) -> set[str] | None:
    """Segmentation's leaves with instance_label: true, the only ones its per-annotation attributes
    are asked of (§1.1); None for the video types and when the labels come from the project."""
    if task_type != "segmentannotation" or "labels" not in payload:
        return None
    return {name for name, instance in scale_rules.leaf_labels_with_instance(payload["labels"]) if instance}


def leaf_labels(task_type: str, payload: dict[str, Any]) -> list[str]:
    """Every leaf label of the task: segmentation labels, or all geometries' objects_to_annotate."""
    if task_type == "segmentannotation":
        return scale_rules.leaf_labels(payload.get("labels"))
    geometries = payload.get("geometries")
    leaves: list[str] = []
    if isinstance(geometries, dict):
        for geometry in geometries.values():
            if isinstance(geometry, dict):
                for leaf in scale_rules.leaf_labels(geometry.get("objects_to_annotate")):
                    if leaf not in leaves:
                        leaves.append(leaf)
    return leaves
