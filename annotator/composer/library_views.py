"""The Library's pages beyond the list: edit in the composer, versions, copies, export, import, undo.

Every item is looked up through get_for_user, so an item of another workspace is a 404 on
every URL here, whatever the method.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotator.accounts.access import get_for_user, require_workspace
from annotator.composer import importing
from annotator.composer import library as lib
from annotator.composer.forms import ComposeForm, template_payload
from annotator.composer.models import TaskTemplate, TemplateUse, TemplateVersion

UNDO_SECONDS = 10 * 60
UNDO_KEPT = 5
SESSION_UNDO = "library_undo"


def _kind(slug: str) -> lib.Kind:
    kind = lib.KINDS.get(slug)
    if kind is None:
        raise Http404("Unknown kind of library item")
    return kind


def _item(request: HttpRequest, kind: lib.Kind, code):
    return get_for_user(kind.model.objects.all(), request, code=code)


# --- editing in the composer -------------------------------------------------------


@login_required
@require_GET
def item_edit(request: HttpRequest, slug: str, code) -> HttpResponse:
    from annotator.composer.views import _render_composer

    kind = _kind(slug)
    item = _item(request, kind, code)
    task_type = lib.editor_task_type(kind, item, request.GET.get("type", ""))
    imported = importing.import_payload(task_type, lib.editor_payload(kind, item))
    blank = ComposeForm(task_type=task_type)
    form = ComposeForm(task_type=task_type, initial=importing.initial_for(imported.data, blank))
    return _render_composer(request, task_type, form, kept=imported.kept, editing=editing_context(kind, item))


def editing_context(kind: lib.Kind, item) -> dict[str, Any]:
    return {"kind": kind, "item": item, "value": f"{kind.slug}:{item.code}"}


def editing_from_post(request: HttpRequest) -> dict[str, Any] | None:
    """The item a composer POST is editing (its hidden field), checked against the person's workspaces."""
    value = request.POST.get("library_item", "")
    slug, _, code = value.partition(":")
    if not value:
        return None
    kind = _kind(slug)
    return editing_context(kind, _item(request, kind, code))


def save_item(request: HttpRequest, task_type: str, composition, editing: dict[str, Any]) -> HttpResponse:
    """Save what the composer holds back into the item it was opened from (never a new item)."""
    kind: lib.Kind = editing["kind"]
    item = editing["item"]
    payload = composition.payload
    with transaction.atomic():
        if kind.payload_key is None:
            item.payload = template_payload(payload)
            item.task_type = task_type
            item.save()
            version = item.keep_version(request.user, "edited in the composer")
        else:
            setattr(item, kind.field, payload.get(kind.payload_key) or kind.shape())
            if hasattr(item, "task_type"):
                item.task_type = task_type
            item.save()
            version = None
    text = f"Saved your changes to the {kind.title} “{item.name}”"
    if version is not None:
        text += f" as version {version.number}; the previous versions are kept"
    elif kind.payload_key is None:
        text += " (nothing had changed, so no new version)"
    messages.success(request, text + ".")
    return redirect("composer_library")


def record_use(request: HttpRequest, task) -> None:
    """Remember which template (and version) a task submitted from the composer came from."""
    code = request.POST.get("from_template", "")
    if not code:
        return
    try:
        template = get_for_user(TaskTemplate.objects.all(), request, code=code)
    except Http404:
        return  # a stale or foreign code: the task stands, only the link is not made
    latest = template.versions.order_by("-number").values_list("number", flat=True).first()
    TemplateUse.objects.create(task=task, template_code=template.code, version=latest)


# --- versions ----------------------------------------------------------------------


@login_required
@require_GET
def template_versions(request: HttpRequest, code) -> HttpResponse:
    template = _item(request, lib.KINDS["templates"], code)
    versions = list(template.versions.select_related("saved_by"))
    used = dict(
        TemplateUse.objects.filter(template_code=template.code)
        .values("version")
        .annotate(n=Count("id"))
        .values_list("version", "n")
    )
    rows = []
    for index, version in enumerate(versions):
        older = versions[index + 1] if index + 1 < len(versions) else None
        rows.append(
            {
                "v": version,
                "current": index == 0,
                "tasks": used.get(version.number, 0),
                "changed": _changed_keys(older.payload if older else {}, version.payload) if older else [],
            }
        )
    return render(request, "composer/template_versions.html", {"template": template, "rows": rows})


def _changed_keys(before: dict, after: dict) -> list[str]:
    return sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))


@login_required
@require_POST
def template_restore(request: HttpRequest, code, number: int) -> HttpResponse:
    template = _item(request, lib.KINDS["templates"], code)
    version = TemplateVersion.objects.filter(template=template, number=number).first()
    if version is None:
        raise Http404("No such version")
    with transaction.atomic():
        template.payload = version.payload
        template.task_type = version.task_type
        template.save()
        kept = template.keep_version(request.user, f"restored version {version.number}")
    if kept is None:
        messages.info(request, f"Version {version.number} is what the template holds already: nothing changed.")
    else:
        messages.success(request, f"Restored version {version.number} of “{template.name}” as version {kept.number}.")
    return redirect("template_versions", code=template.code)


# --- copies and deleting -----------------------------------------------------------


@login_required
@require_POST
def item_duplicate(request: HttpRequest, slug: str, code) -> HttpResponse:
    kind = _kind(slug)
    item = _item(request, kind, code)
    copy = lib.duplicate(kind, item, request.user)
    messages.success(request, f"Copied the {kind.title} “{item.name}” as “{copy.name}”.")
    return redirect("composer_library")


def delete_with_undo(request: HttpRequest, kind: lib.Kind, code) -> HttpResponse:
    """Delete an item and keep what is needed to put it back for UNDO_SECONDS (in the session)."""
    item = _item(request, kind, code)
    kept: dict[str, Any] = {
        "slug": kind.slug,
        "workspace": item.workspace_id,
        "code": str(item.code),
        "item": lib.export_item(item),
        "at": time.time(),
    }
    if isinstance(item, TaskTemplate):
        kept["versions"] = [
            {
                "number": v.number,
                "task_type": v.task_type,
                "payload": v.payload,
                "saved_by": v.saved_by_id,
                "saved_at": v.saved_at.isoformat(),
                "note": v.note,
            }
            for v in item.versions.all()
        ]
    item.delete()
    undo = _undo_entries(request)
    undo[secrets.token_urlsafe(12)] = kept
    # Only the latest few: the session is not a store.
    request.session[SESSION_UNDO] = dict(sorted(undo.items(), key=lambda kv: kv[1]["at"])[-UNDO_KEPT:])
    messages.success(request, f"“{item.name}” deleted. Tasks made from it keep their own copy.")
    return redirect("composer_library")


def _undo_entries(request: HttpRequest) -> dict[str, dict[str, Any]]:
    entries = request.session.get(SESSION_UNDO) or {}
    now = time.time()
    return {token: e for token, e in entries.items() if now - e.get("at", 0) < UNDO_SECONDS}


def undo_banners(request: HttpRequest, workspace) -> list[dict[str, Any]]:
    return [
        {"token": token, "name": e["item"]["name"], "title": lib.KINDS[e["slug"]].title}
        for token, e in sorted(_undo_entries(request).items(), key=lambda kv: -kv[1]["at"])
        if e["workspace"] == workspace.pk
    ]


@login_required
@require_POST
def undo_delete(request: HttpRequest, token: str) -> HttpResponse:
    workspace = require_workspace(request)
    entries = _undo_entries(request)
    entry = entries.pop(token, None)
    if entry is None or entry["workspace"] != workspace.pk:
        messages.error(request, "That deletion can no longer be undone (undo lasts 10 minutes).")
        return redirect("composer_library")
    kind = lib.KINDS[entry["slug"]]
    data = entry["item"]
    with transaction.atomic():
        name = lib.free_name(kind.model, workspace, data["name"])
        values = {kind.field: data[kind.field]}
        if "task_type" in data:
            values["task_type"] = data["task_type"]
        code_free = not kind.model.objects.filter(code=entry["code"]).exists()
        item = kind.model.objects.create(
            workspace=workspace,
            name=name,
            created_by=request.user,
            **({"code": entry["code"]} if code_free else {}),
            **values,
        )
        for v in entry.get("versions", []):
            TemplateVersion.objects.create(
                template=item,
                number=v["number"],
                task_type=v["task_type"],
                payload=v["payload"],
                saved_by_id=v["saved_by"] if _user_exists(v["saved_by"]) else None,
                note=v["note"],
            )
            TemplateVersion.objects.filter(template=item, number=v["number"]).update(
                saved_at=timezone.datetime.fromisoformat(v["saved_at"])
            )
    request.session[SESSION_UNDO] = entries
    again = "" if name == data["name"] else f" as “{name}” (the name was taken meanwhile)"
    messages.success(request, f"Put back the {kind.title} “{data['name']}”{again}.")
    return redirect("composer_library")


def _user_exists(pk) -> bool:
    from django.contrib.auth import get_user_model

    return pk is not None and get_user_model().objects.filter(pk=pk).exists()


# --- export and import -------------------------------------------------------------


@login_required
@require_GET
def library_export(request: HttpRequest) -> HttpResponse:
    """All items of the workspace, or the ones named as ?item=<slug>:<code> (repeatable)."""
    workspace = require_workspace(request)
    wanted = request.GET.getlist("item")
    items: list = []
    if wanted:
        for value in wanted:
            slug, _, code = value.partition(":")
            kind = _kind(slug)
            items.append(_item(request, kind, code))
    else:
        for kind in lib.KINDS.values():
            items.extend(kind.model.objects.filter(workspace=workspace).order_by("name"))
    body = json.dumps(lib.export_document(items), indent=2, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    # One item asked for by name is named after it; "export all" is the library's, however many it holds.
    stem = items[0].name if wanted and len(items) == 1 else f"library-{workspace.name}"
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in stem)[:60] or "library"
    response["Content-Disposition"] = f'attachment; filename="{safe}.json"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def library_import(request: HttpRequest) -> HttpResponse:
    """Step 1 (preview): read the file and list what would happen. Step 2 (import): do it."""
    workspace = require_workspace(request)
    ctx: dict[str, Any] = {"text": "", "planned": None, "error": ""}
    if request.method == "GET":
        return render(request, "composer/library_import.html", ctx)
    upload = request.FILES.get("file")
    text = request.POST.get("text", "")
    if upload is not None:
        if upload.size > lib.MAX_IMPORT_BYTES:
            ctx["error"] = f"The file is larger than {lib.MAX_IMPORT_BYTES // (1024 * 1024)} MB."
            return render(request, "composer/library_import.html", ctx, status=400)
        text = upload.read().decode("utf-8", errors="replace")
    ctx["text"] = text
    try:
        items = lib.read_document(text)
    except lib.ImportError_ as error:
        ctx["error"] = str(error)
        return render(request, "composer/library_import.html", ctx, status=400)
    planned = lib.plan_import(workspace, items)
    if request.POST.get("action") == "import":
        created = lib.apply_import(workspace, request.user, planned)
        skipped = len(planned) - len(created)
        text = f"Imported {len(created)} item{'s' if len(created) != 1 else ''}"
        renamed = [p for p in created if p.final_name != p.name]
        if renamed:
            text += "; renamed because the name was taken: " + ", ".join(
                f"“{p.name}” → “{p.final_name}”" for p in renamed
            )
        if skipped:
            text += f"; {skipped} with problems not imported"
        messages.success(request, text + ".")
        return redirect("composer_library")
    ctx["planned"] = planned
    ctx["importable"] = sum(1 for p in planned if p.ok)
    return render(request, "composer/library_import.html", ctx)
