"""The Library's work apart from HTTP: kinds of items, where they are used, copies, export and import.

Export is a JSON document of plain values; import reads one back into another workspace,
checking every item on its own (one bad item never stops the others) and never replacing an
existing item: a name already taken gets a free one ("Street (2)"), listed in the dry run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils.timezone import now as django_now

from annotator import inbound, scale_rules
from annotator.composer.models import (
    PER_TASK_FIELDS,
    AttributeSet,
    GeometryPreset,
    LabelSet,
    TaskTemplate,
    TemplateUse,
    TemplateVersion,
)
from annotator.tasks import callbacks

FORMAT = "annotator-library"
FORMAT_VERSION = 1
MAX_NAME = 200
# An import is read whole; it is bounded like the composer's own requests, times the items.
MAX_IMPORT_BYTES = 8 * 1024 * 1024
MAX_IMPORT_ITEMS = 500
# Versions read back per imported template (the newest are at the end of the list).
MAX_VERSIONS = 200


@dataclass(frozen=True)
class Kind:
    slug: str  # in URLs: /compose/library/<slug>/<code>/...
    key: str  # "kind" in an export
    model: type[models.Model]
    field: str  # the model field that holds the content
    payload_key: str | None  # where that content goes in a task payload (None: the whole payload)
    title: str
    shape: type  # the JSON type of the content

    def content(self, item) -> Any:
        return getattr(item, self.field)


KINDS: dict[str, Kind] = {
    kind.slug: kind
    for kind in (
        Kind("templates", "template", TaskTemplate, "payload", None, "template", dict),
        Kind("label-sets", "label_set", LabelSet, "labels", "labels", "label set", list),
        Kind(
            "geometry-presets", "geometry_preset", GeometryPreset, "geometries", "geometries", "geometry preset", dict
        ),
        Kind(
            "attribute-sets",
            "attribute_set",
            AttributeSet,
            "attributes",
            "annotation_attributes",
            "attribute set",
            dict,
        ),
    )
}
BY_KEY = {kind.key: kind for kind in KINDS.values()}


def kind_of(item) -> Kind:
    return next(kind for kind in KINDS.values() if isinstance(item, kind.model))


def editor_task_type(kind: Kind, item, asked: str = "") -> str:
    """The composer an item opens in: its own type, else the one asked for, else the first with its builder."""
    if getattr(item, "task_type", ""):
        return item.task_type
    if asked in scale_rules.TASK_TYPES and not (kind.slug == "label-sets" and asked != "segmentannotation"):
        return asked
    # Label sets are segmentation's `labels`; geometries exist on the video types only.
    return "videoannotation" if kind.slug == "geometry-presets" else "segmentannotation"


def editor_payload(kind: Kind, item) -> dict[str, Any]:
    if kind.payload_key is None:
        return dict(item.payload)
    return {kind.payload_key: kind.content(item)}


# --- where an item is used ---------------------------------------------------------


def tasks_made(template: TaskTemplate) -> int:
    return TemplateUse.objects.filter(template_code=template.code).count()


def templates_using(kind: Kind, item) -> list[TaskTemplate]:
    """Templates whose payload holds exactly this item's content.

    A template keeps a copy, not a reference, so "uses" can only mean "has the same value";
    a template whose labels were applied from this set and then changed is not listed.
    """
    if kind.payload_key is None:
        return []
    content = kind.content(item)
    return [
        t
        for t in TaskTemplate.objects.filter(workspace=item.workspace).only("name", "code", "payload")
        if t.payload.get(kind.payload_key) == content
    ]


# --- names and copies --------------------------------------------------------------


def free_name(model, workspace, name: str, taken: set[str] | None = None) -> str:
    """`name`, or the first "name (n)" no item of this kind in the workspace has (nor `taken`)."""
    name = name[:MAX_NAME]
    used = set(model.objects.filter(workspace=workspace, name__startswith=name[:150]).values_list("name", flat=True))
    used |= taken or set()
    if name not in used:
        return name
    n = 2
    while True:
        suffix = f" ({n})"
        candidate = name[: MAX_NAME - len(suffix)] + suffix
        if candidate not in used:
            return candidate
        n += 1


def duplicate(kind: Kind, item, user):
    with transaction.atomic():
        suffix = " (copy)"
        name = free_name(kind.model, item.workspace, item.name[: MAX_NAME - len(suffix)] + suffix)
        values = {kind.field: kind.content(item)}
        if hasattr(item, "task_type"):
            values["task_type"] = item.task_type
        copy = kind.model.objects.create(workspace=item.workspace, name=name, created_by=user, **values)
        if isinstance(copy, TaskTemplate):
            copy.keep_version(user, f"copied from “{item.name}”")
    return copy


# --- export ------------------------------------------------------------------------


def export_item(item, *, versions: bool = False) -> dict[str, Any]:
    """One item as plain values; with `versions`, a template's history too (oldest first),
    so that a workspace that imports it can still see and restore what it was."""
    kind = kind_of(item)
    out: dict[str, Any] = {"kind": kind.key, "name": item.name}
    if hasattr(item, "task_type"):
        out["task_type"] = item.task_type
    out[kind.field] = kind.content(item)
    if versions and isinstance(item, TaskTemplate):
        out["versions"] = [
            {
                "number": v.number,
                "task_type": v.task_type,
                "payload": v.payload,
                "saved_at": v.saved_at.isoformat(),
                # A name, not an id: the people of another workspace are not these.
                "saved_by": v.saved_by.get_username() if v.saved_by is not None else "",
                "note": v.note,
            }
            for v in item.versions.select_related("saved_by").order_by("number")
        ]
    return out


def export_document(items: list) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "items": [export_item(item, versions=True) for item in items],
    }


# --- import ------------------------------------------------------------------------


@dataclass
class Planned:
    number: int  # 1-based position in the file
    kind: Kind | None
    name: str  # as written in the file
    final_name: str = ""  # what it will be called here
    values: dict[str, Any] = field(default_factory=dict)
    versions: list[dict[str, Any]] = field(default_factory=list)  # a template's history, checked
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def renamed(self) -> bool:
        return self.ok and self.final_name != self.name


class ImportError_(ValueError):
    """The document as a whole cannot be read (not JSON, not a library export)."""


def read_document(text: str) -> list[Any]:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_IMPORT_BYTES:
        raise ImportError_(f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB.")
    try:
        # Bounded depth, finite numbers and valid Unicode, as for every JSON we keep (the items
        # sit three levels down in the document).
        document = inbound.loads(text, "The file", max_depth=inbound.MAX_JSON_DEPTH + 3)
    except inbound.InputError as error:
        raise ImportError_(f"This cannot be imported: {error}.") from None
    if isinstance(document, list):
        items = document
    elif isinstance(document, dict) and isinstance(document.get("items"), list):
        if document.get("format", FORMAT) != FORMAT:
            raise ImportError_(f"This is not a library export (its format is {document.get('format')!r}).")
        items = document["items"]
    else:
        raise ImportError_('A library export is an object with an "items" list (as “Export” writes it).')
    if len(items) > MAX_IMPORT_ITEMS:
        raise ImportError_(f"The file has {len(items)} items; at most {MAX_IMPORT_ITEMS} are imported at once.")
    return items


def plan_import(workspace, items: list[Any]) -> list[Planned]:
    """What importing `items` into `workspace` would do, item by item, without changing anything."""
    planned: list[Planned] = []
    taken: dict[str, set[str]] = {key: set() for key in BY_KEY}
    for number, raw in enumerate(items, start=1):
        plan = _check_item(number, raw)
        if plan.ok and plan.kind is not None:
            plan.final_name = free_name(plan.kind.model, workspace, plan.name, taken[plan.kind.key])
            taken[plan.kind.key].add(plan.final_name)
        planned.append(plan)
    return planned


def _check_item(number: int, raw: Any) -> Planned:
    if not isinstance(raw, dict):
        return Planned(number, None, "", errors=["an item is an object with a kind, a name and its content"])
    name = raw.get("name")
    kind = BY_KEY.get(raw.get("kind"))
    plan = Planned(number, kind, name if isinstance(name, str) else "")
    if kind is None:
        plan.errors.append(f"unknown kind {raw.get('kind')!r}: one of {', '.join(BY_KEY)}")
        return plan
    if not isinstance(name, str) or not name.strip():
        plan.errors.append("the name is missing")
    elif len(name.strip()) > MAX_NAME:
        plan.errors.append(f"the name is longer than {MAX_NAME} characters")
    plan.name = name.strip() if isinstance(name, str) else ""
    content = raw.get(kind.field)
    if not isinstance(content, kind.shape):
        plan.errors.append(f"“{kind.field}” must be a JSON {'list' if kind.shape is list else 'object'}")
    task_type = raw.get("task_type", "")
    if kind.key == "template" and task_type not in scale_rules.TASK_TYPES:
        plan.errors.append(f"“task_type” must be one of {', '.join(scale_rules.TASK_TYPES)}")
    elif kind.key == "geometry_preset" and task_type not in ("", *scale_rules.TASK_TYPES):
        plan.errors.append(f"“task_type” must be empty or one of {', '.join(scale_rules.TASK_TYPES)}")
    if plan.errors:
        return plan
    if kind.key == "template":
        content = {key: value for key, value in content.items() if key not in PER_TASK_FIELDS}
    plan.values = {kind.field: content}
    if hasattr(kind.model, "task_type"):
        plan.values["task_type"] = task_type
    plan.warnings = _rule_findings(kind, content, task_type)
    if kind.key == "template" and "versions" in raw:
        plan.versions, dropped = _check_versions(raw["versions"])
        if dropped:
            left = "was" if dropped == 1 else "were"
            plan.warnings.append(f"{dropped} of its versions could not be read and {left} left out")
    return plan


def _check_versions(raw: Any) -> tuple[list[dict[str, Any]], int]:
    """The readable entries of an exported template's history, oldest first, and how many were not.
    A history is a bonus: an entry that cannot be read is left out, the template still imports."""
    if not isinstance(raw, list):
        return [], 1
    kept, dropped = [], 0
    for entry in raw[-MAX_VERSIONS:]:  # the newest, when there are more
        payload = entry.get("payload") if isinstance(entry, dict) else None
        task_type = entry.get("task_type") if isinstance(entry, dict) else None
        if not isinstance(payload, dict) or task_type not in scale_rules.TASK_TYPES:
            dropped += 1
            continue
        saved_at = _moment(entry.get("saved_at"))
        by, note = entry.get("saved_by"), entry.get("note")
        who = by.strip()[:150] if isinstance(by, str) else ""
        note = note.strip() if isinstance(note, str) else ""
        note = f"{note} (by {who})" if who and note else (f"by {who}" if who else note)
        kept.append(
            {
                "task_type": task_type,
                "payload": {key: value for key, value in payload.items() if key not in PER_TASK_FIELDS},
                "saved_at": saved_at,
                "note": note[:200],
            }
        )
    return kept, dropped + max(0, len(raw) - MAX_VERSIONS)


def _moment(value: Any) -> datetime | None:
    # Read as Scale's times are (ISO 8601, naive means UTC); a date in the future is not believed.
    moment = callbacks.parse_time(value[:64]) if isinstance(value, str) else None
    return None if moment is None or moment > django_now() else moment


def _rule_findings(kind: Kind, content: Any, task_type: str) -> list[str]:
    """Scale's rules on the item, as warnings: a library item may be unfinished, as in the composer."""
    if kind.payload_key is None:
        payload, prefix = dict(content), ""
    else:
        payload, prefix = {kind.payload_key: content}, kind.payload_key
    task_type = task_type or ("segmentannotation" if kind.key == "label_set" else "videoannotation")
    try:
        findings = scale_rules.validate(task_type, payload)
    except Exception:
        return ["Scale's rules could not check this item"]
    messages = []
    for finding in findings:
        path = getattr(finding, "path", "") or ""
        if (
            finding.severity != scale_rules.ERROR
            or not path.startswith(prefix)
            or path.split(".")[0] in ("attachment", "attachments")
        ):
            continue
        messages.append(finding.message if not path else f"{path}: {finding.message}")
    return messages[:5]


def apply_import(workspace, user, planned: list[Planned]) -> list[Planned]:
    """Create the items that passed their checks; a name taken meanwhile gets the next free one."""
    created = []
    with transaction.atomic():
        for plan in planned:
            if not plan.ok or plan.kind is None:
                continue
            plan.final_name = free_name(plan.kind.model, workspace, plan.final_name or plan.name)
            try:
                with transaction.atomic():
                    item = plan.kind.model.objects.create(
                        workspace=workspace, name=plan.final_name, created_by=user, **plan.values
                    )
            except IntegrityError:
                plan.errors.append("its name was taken while importing; import it again")
                continue
            if isinstance(item, TaskTemplate):
                # Its history first, numbered afresh from 1 in its old order, with the old dates;
                # then what it holds now, as the newest version (unless the history ends with it).
                for number, version in enumerate(plan.versions, start=1):
                    kept = TemplateVersion.objects.create(
                        template=item, number=number, task_type=version["task_type"], payload=version["payload"],
                        note=version["note"],
                    )  # fmt: skip
                    if version["saved_at"] is not None:
                        TemplateVersion.objects.filter(pk=kept.pk).update(saved_at=version["saved_at"])
                item.keep_version(user, "imported")
            created.append(plan)
    return created
