from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotator import fetch_quota, fetcher, markdown, safe_files, scale_rules
from annotator.accounts.access import get_for_user, require_workspace
from annotator.composer import compose as composing
from annotator.composer import importing, library_views, media_checks, project_checks
from annotator.composer import library as lib
from annotator.composer.forms import ComposeForm, template_payload
from annotator.composer.labeller import labeller_view
from annotator.composer.matrix import when_asked
from annotator.composer.models import AttributeSet, Draft, GeometryPreset, LabelSet, TaskTemplate, TemplateUse
from annotator.submission import pipeline
from annotator.tasks.models import TaskType

TYPE_HELP = {
    "segmentannotation": "Every pixel of one image gets a label (semantic segmentation), optionally "
    "with instances and prelabels (a hypothesis mask).",
    "videoannotation": "Boxes, polygons, lines, points, cuboids or ellipses drawn and tracked through "
    "a video file or a sequence of frames.",
    "videoplaybackannotation": "Like general video, but the annotator watches the video play back; "
    "suits longer clips and events.",
}
LIBRARY_KINDS = {
    "save_labelset": (LabelSet, "labels", "labels"),
    "save_preset": (GeometryPreset, "geometries", "geometries"),
    "save_attributeset": (AttributeSet, "attributes", "annotation_attributes"),
}


def _too_large(request: HttpRequest) -> str:
    """Why this composer request is refused for its size, or "" (checked before anything is parsed)."""
    try:
        size = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        size = 0
    limit = settings.COMPOSER_MAX_BYTES
    if size <= limit:
        return ""
    return (
        f"This task is {size / 1024:,.0f} KB; the composer takes at most {limit / 1024:,.0f} KB "
        "(COMPOSER_MAX_BYTES). Make the labels, attributes or annotations smaller, or point "
        "large annotations at a file with a URL."
    )


def _task_type(task_type: str) -> str:
    if task_type not in scale_rules.TASK_TYPES:
        raise Http404("Unknown task type")
    return task_type


def _defaults(workspace) -> dict[str, str]:
    return {
        "project": workspace.default_project,
        "batch": workspace.default_batch,
        "callback_url": workspace.callback_url,
    }


def _library(request: HttpRequest, workspace) -> dict[str, Any]:
    templates = list(TaskTemplate.objects.filter(workspace=workspace).annotate(version_count=Count("versions")))
    made = dict(
        TemplateUse.objects.filter(template_code__in=[t.code for t in templates])
        .values("template_code")
        .annotate(n=Count("id"))
        .values_list("template_code", "n")
    )
    for t in templates:
        t.tasks_made = made.get(t.code, 0)

    def parts(slug: str) -> list:
        kind = lib.KINDS[slug]
        items = list(kind.model.objects.filter(workspace=workspace))
        for item in items:
            # A template keeps a copy, so "used by" means "holds exactly this content".
            item.used_by = [t for t in templates if t.payload.get(kind.payload_key) == kind.content(item)]
        return items

    return {
        "templates": templates,
        "labelsets": parts("label-sets"),
        "presets": parts("geometry-presets"),
        "attributesets": parts("attribute-sets"),
        "undo": library_views.undo_banners(request, workspace),
    }


def _library_json(workspace) -> dict[str, list[dict[str, Any]]]:
    # Embedded with json_script so the builders can apply a library item without a round trip.
    return {
        "labels": [{"name": s.name, "value": s.labels} for s in LabelSet.objects.filter(workspace=workspace)],
        "geometries": [
            {"name": p.name, "value": p.geometries} for p in GeometryPreset.objects.filter(workspace=workspace)
        ],
        "attributes": [
            {"name": a.name, "value": a.attributes} for a in AttributeSet.objects.filter(workspace=workspace)
        ],
    }


def _samples(workspace, task_type: str) -> list[dict[str, str]]:
    """One-click sample media from the built-in sandbox, for a workspace that sends tasks there.

    Only offered where Scale's stand-in will fetch them: the sandbox is on and is the target.
    """
    if workspace.target != workspace.Target.SANDBOX or not settings.SANDBOX_ENABLED:
        return []
    from annotator.sandbox.media import DEMO_MEDIA, demo_media_urls

    try:
        urls = demo_media_urls(settings.SITE_URL)
    except NoReverseMatch:
        return []
    images = [urls[name] for name, media in DEMO_MEDIA.items() if media.kind == "image"]
    video = next(urls[name] for name, media in DEMO_MEDIA.items() if media.content_type == "video/mp4")
    if task_type == "segmentannotation":
        return [{"label": "Use a sample image", "field": "id_attachment", "value": images[0],
                 "help": DEMO_MEDIA[images[0].rsplit("/", 1)[-1]].description}]  # fmt: skip
    return [
        {"label": "Use a sample video", "field": "id_attachment", "value": video,
         "help": DEMO_MEDIA[video.rsplit("/", 1)[-1]].description},
        {"label": "Use sample frames", "field": "id_attachments", "value": "\n".join(images),
         "help": f"{len(images)} street images, 640x400, as frames"},
    ]  # fmt: skip


def _render_composer(
    request: HttpRequest,
    task_type: str,
    form: ComposeForm,
    *,
    kept: list[str] | None = None,
    result=None,
    pasted: str = "",
    paste_error: importing.PasteError | None = None,
    draft: Draft | None = None,
    editing: dict[str, Any] | None = None,
    from_template: TaskTemplate | None = None,
    validated: bool = False,
) -> HttpResponse:
    workspace = require_workspace(request)
    ctx = {
        # "Valid ... Nothing was created" answers "Validate only", not an import or a duplicate.
        "validated": validated,
        # Opened from a library item: a banner, and "Save changes" writes back to that item.
        "editing": editing,
        "from_template": from_template,
        "task_type": task_type,
        "task_type_label": TaskType(task_type).label,
        "samples": _samples(workspace, task_type),
        "draft": draft,
        "field_issues": field_issues(form, result),
        # After a POST every problem is shown at once; a fresh form shows none until touched.
        "all_touched": form.is_bound,
        "type_help": TYPE_HELP[task_type],
        "form": form,
        "f": {name: form[name] for name in form.fields},
        "kept": kept or [],
        "pasted": pasted,
        "paste_error": paste_error,
        "result": result,
        "library_json": _library_json(workspace),
        "max_labels": scale_rules.MAX_LABELS,
        "max_tags": scale_rules.MAX_TAGS,
        "max_metadata": scale_rules.MAX_METADATA_BYTES,
        "geometry_kinds": scale_rules.GEOMETRY_KINDS,
        "attribute_types": scale_rules.ATTRIBUTE_TYPES,
        "base_flags": [form[name] for name in form.fields if name.startswith("can_")],
    }
    return render(request, "composer/compose.html", ctx)


@login_required
@require_GET
def compose_index(request: HttpRequest) -> HttpResponse:
    workspace = require_workspace(request)
    types = [(value, label, TYPE_HELP[value]) for value, label in TaskType.choices]
    templates = TaskTemplate.objects.filter(workspace=workspace)
    return render(request, "composer/index.html", {"types": types, "templates": templates})


@login_required
@require_http_methods(["GET", "POST"])
def compose_task(request: HttpRequest, task_type: str) -> HttpResponse:
    task_type = _task_type(task_type)
    workspace = require_workspace(request)
    if request.method == "GET":
        draft = Draft.objects.filter(user=request.user, workspace=workspace, task_type=task_type).first()
        if draft is not None and draft.data:
            # Back where they left off: the draft kept as they typed, with a way to start afresh.
            blank = ComposeForm(task_type=task_type)
            form = ComposeForm(
                task_type=task_type, initial=importing.initial_for(_draft_fields(blank, draft.data), blank)
            )
            started = _template_of(request, draft.data.get("from_template", ""))
            return _render_composer(request, task_type, form, draft=draft, from_template=started)
        return _render_composer(request, task_type, ComposeForm(task_type=task_type, initial=_defaults(workspace)))

    too_large = _too_large(request)
    if too_large:
        # Parsing the fields is cheap; validating and previewing them is what the cap bounds.
        # The bound form keeps what was typed, so nothing is lost.
        form = ComposeForm(request.POST, task_type=task_type)
        form.is_valid()
        form.add_error(None, too_large)
        response = _render_composer(request, task_type, form, pasted=request.POST.get("import_json", ""))
        response.status_code = 400
        return response
    action = request.POST.get("action", "validate")
    editing = library_views.editing_from_post(request)
    from_template = _posted_template(request)
    if action == "import":
        return _import(request, task_type, editing=editing, from_template=from_template)
    composition = composing.compose(task_type, request.POST, workspace=workspace)
    if action == "save_item" and editing is not None:
        return library_views.save_item(request, task_type, composition, editing)
    if action in LIBRARY_KINDS or action == "save_template":
        return _save_to_library(request, task_type, composition, action)
    if action == "submit" and composition.is_valid:
        with transaction.atomic():
            task = pipeline.create_task(workspace, request.user, task_type, composition.payload)
            library_views.record_use(request, task)
        Draft.objects.filter(user=request.user, workspace=workspace, task_type=task_type).delete()
        # Worded for any later moment: the message stays on the task page while
        # its live status moves on (queued, pending, completed).
        messages.success(request, "Task created. It goes to Scale in the background; the status below follows it live.")
        try:
            return redirect(reverse("task_detail", kwargs={"task_code": task.code}))
        except NoReverseMatch:
            return redirect(f"compose_{task_type}")
    return _render_composer(
        request,
        task_type,
        composition.form,
        result=composition,
        editing=editing,
        from_template=from_template,
        validated=action == "validate",
    )


def _posted_template(request: HttpRequest) -> TaskTemplate | None:
    """The template a composer POST started from (kept across re-renders), if it is the person's."""
    return _template_of(request, request.POST.get("from_template", ""))


def _template_of(request: HttpRequest, code: Any) -> TaskTemplate | None:
    if not code or not isinstance(code, str):
        return None
    try:
        return get_for_user(TaskTemplate.objects.all(), request, code=code)
    except Http404:
        return None


def _draft_fields(form: ComposeForm, data: Any) -> dict[str, str]:
    """The composer's own fields of a posted form or stored draft (text values only)."""
    if not isinstance(data, dict) and not hasattr(data, "getlist"):
        return {}
    return {name: data[name] for name in form.fields if isinstance(data.get(name), str)}


@login_required
@require_POST
def draft_save(request: HttpRequest, task_type: str) -> HttpResponse:
    """Keep what is in the composer now (the browser calls this as the person types)."""
    task_type = _task_type(task_type)
    workspace = require_workspace(request)
    if _too_large(request):
        return JsonResponse({"saved": False, "reason": "too large to keep as a draft"}, status=413)
    data: dict[str, str] = _draft_fields(ComposeForm(task_type=task_type), request.POST)
    if _posted_template(request) is not None:
        # A draft begun from a template still counts towards it when it is finally submitted.
        data["from_template"] = request.POST["from_template"]
    draft, _ = Draft.objects.update_or_create(
        user=request.user, workspace=workspace, task_type=task_type, defaults={"data": data}
    )
    return JsonResponse({"saved": True, "at": timezone.localtime(draft.updated_at).strftime("%H:%M")})


@login_required
@require_POST
def draft_discard(request: HttpRequest, task_type: str) -> HttpResponse:
    task_type = _task_type(task_type)
    workspace = require_workspace(request)
    Draft.objects.filter(user=request.user, workspace=workspace, task_type=task_type).delete()
    messages.info(request, "Draft discarded: a fresh form.")
    return redirect(f"compose_{task_type}")


def field_issues(form: ComposeForm, result: composing.Composition | None) -> dict[str, list[composing.Issue]]:
    """Every problem by the field it is shown next to ("" for the form as a whole).

    A field with an error is marked for screen readers (aria-invalid, aria-describedby naming
    its problems), so the outline and the message are announced with the field.
    """
    by_field: dict[str, list[composing.Issue]] = {}
    if result is not None:
        issues = result.issues
    else:  # a form re-shown without a composition (e.g. refused for its size): its own errors
        issues = [
            composing.Issue("" if name == "__all__" else name, "", str(message), from_form=True)
            for name, messages in form.errors.items()
            for message in messages
        ]
    for issue in issues:
        name = issue.field if issue.field in form.fields else ""
        by_field.setdefault(name, []).append(issue)
    for name in form.fields:
        widget = form.fields[name].widget
        described = [f"issues-{name}"] + ([f"help-{name}"] if form.fields[name].help_text else [])
        widget.attrs["aria-describedby"] = " ".join(described)
        if any(issue.severity == "error" for issue in by_field.get(name, [])):
            widget.attrs["aria-invalid"] = "true"
    return by_field


def _import(request: HttpRequest, task_type: str, **context) -> HttpResponse:
    raw = request.POST.get("import_json", "")
    try:
        payload = importing.parse_pasted(raw)
    except importing.PasteError as error:
        # The form stays as it was and the pasted text stays in its box, to be fixed there.
        messages.error(request, f"The pasted text could not be read: {error}.")
        form = ComposeForm(request.POST, task_type=task_type)
        return _render_composer(request, task_type, form, pasted=raw, paste_error=error, **context)
    imported = importing.import_payload(task_type, payload)
    composition = composing.compose(task_type, imported.data, workspace=getattr(request, "workspace", None))
    _import_message(request, imported, copy_of=request.POST.get("duplicate_of", ""))
    return _render_composer(request, task_type, composition.form, result=composition, kept=imported.kept, **context)


def _import_message(request: HttpRequest, imported: importing.Imported, copy_of: str = "") -> None:
    total = len(imported.in_form) + len(imported.kept)
    text = f"Imported all {total} parameter{'s' if total != 1 else ''}"
    if copy_of.strip():
        # From a task's "Duplicate / edit as new": nothing was pasted, so "Imported" puzzled people.
        text = f"A copy of “{copy_of.strip()[:200]}” to edit: submitting it makes a new task with its own unique_id"
    if imported.kept:
        text += f"; {len(imported.kept)} kept as written under “Other parameters”: " + ", ".join(imported.kept)
    messages.info(request, text + ".")


def _save_to_library(request: HttpRequest, task_type: str, composition, action: str) -> HttpResponse:
    workspace = require_workspace(request)
    name = request.POST.get("library_name", "").strip()[:200]
    if not name:
        messages.error(request, "Give the library item a name.")
        return _render_composer(request, task_type, composition.form, result=composition)
    payload = composition.payload
    if action == "save_template":
        with transaction.atomic():
            template, _ = TaskTemplate.objects.update_or_create(
                workspace=workspace,
                name=name,
                defaults={"task_type": task_type, "payload": template_payload(payload), "created_by": request.user},
            )
            # Saving under a taken name replaces the content, and the previous one stays a version.
            template.keep_version(request.user, "saved from the composer")
        what = "Template"
    else:
        model, field, key = LIBRARY_KINDS[action]
        defaults: dict[str, Any] = {
            field: payload.get(key) or ({} if field != "labels" else []),
            "created_by": request.user,
        }
        if model is GeometryPreset:
            defaults["task_type"] = task_type
        model.objects.update_or_create(workspace=workspace, name=name, defaults=defaults)
        what = model._meta.verbose_name.capitalize()
    messages.success(request, f"{what} “{name}” saved to the library.")
    # The form stays as it was: saving a part to the library is not leaving the composer.
    return _render_composer(request, task_type, composition.form, result=None)


def _quota_refused(refused: fetch_quota.Refused) -> JsonResponse:
    """The per-person fetch quota is spent: the browser's queue waits as told and asks again."""
    response = JsonResponse({"problem": refused.message}, status=429)
    response["Retry-After"] = str(refused.retry_after)
    return response


def _project_check(request: HttpRequest, workspace, name: str) -> HttpResponse:
    """The task's project at Scale (?kind=project&url=<name>): the media checks' endpoint and
    queue carry it too, and it shares their per-person quota (it is one call to Scale)."""
    info = project_checks.cached(workspace, name)
    if info is None:
        try:
            with fetch_quota.proxy_slot(request.user.pk):
                info = project_checks.check(workspace, name)
        except fetch_quota.Refused as refused:
            return _quota_refused(refused)
    return JsonResponse({"kind": project_checks.KIND, "url": name, "summary": info.summary(),
                         "problem": info.problem, "found": info.found, "params": list(info.params)})  # fmt: skip


@login_required
@require_POST
def compose_preview(request: HttpRequest, task_type: str) -> HttpResponse:
    task_type = _task_type(task_type)
    workspace = require_workspace(request)
    too_large = _too_large(request)
    if too_large:
        # A 200 so htmx shows it where the preview goes; nothing of the request is parsed.
        return render(request, "composer/_preview_too_large.html", {"message": too_large})
    composition = composing.compose(task_type, request.POST, workspace=workspace)
    payload = composition.payload
    base_url = workspace.scale_base_url
    # Without the browser's list (no script), every problem is shown.
    shown, to_fill = _touched_issues(composition, request.POST.get("touched_fields", "*"))
    matrix = when_asked(
        composing.leaf_labels(task_type, payload),
        payload.get("annotation_attributes"),
        composing.instance_labels(task_type, payload),
    )
    ctx = {
        "task_type": task_type,
        "c": composition,
        "python": composing.python_snippet(task_type, payload, base_url),
        "curl": composing.curl_snippet(task_type, payload, base_url),
        "label_count": composing.label_count(task_type, payload),
        "max_labels": scale_rules.MAX_LABELS,
        "metadata_bytes": composing.metadata_bytes(payload),
        "max_metadata": scale_rules.MAX_METADATA_BYTES,
        "matrix": matrix,
        "labeller": labeller_view(task_type, payload, matrix),
        "media": [(kind, url, info) for (kind, url), info in composition.media.items()],
        # Media not checked yet: the browser asks for each (media_check) and then re-previews.
        "media_pending": json.dumps([pair for pair, info in composition.media.items() if info is None]),
        "instruction_html": markdown.render_markdown(payload.get("instruction") or ""),
        "field_names": list(composition.form.fields),
        "errors": [issue for issue in shown if issue.severity == "error"],
        "warnings": [i for i in shown if i.severity != "error" and i.code != project_checks.REFUSED],
        # Warnings that the project at Scale, asked, confirms: Scale will refuse the task.
        "refusals": [i for i in shown if i.code == project_checks.REFUSED],
        "to_fill": to_fill,
        # Every field with a place for its problems (key_order is bookkeeping, never shown).
        "issues_by_field": {
            name: [issue for issue in shown if issue.field == name]
            for name in composition.form.fields
            if name != "key_order"
        },
    }
    return render(request, "composer/_preview.html", ctx)


# A field left to the project is the one thing a person may never touch and still must know about.
SHOWN_UNTOUCHED = frozenset({project_checks.PROJECT_DEFINED, project_checks.REFUSED})


def _touched_issues(composition: composing.Composition, touched_fields: str) -> tuple[list, list[tuple[str, str]]]:
    """The issues to show now, and the untouched fields still to fill in, as (name, label).

    A blank form says nothing is "required" before the person has touched the field: its
    problems wait (listed quietly as still to fill in) until the field is touched or the
    form is validated or submitted. The browser sends the touched fields, or "*" for all.
    """
    form = composition.form
    if touched_fields.strip() == "*":
        return list(composition.issues), []
    touched = {name for name in touched_fields.split(",") if name}
    # What a field left alone will do at Scale is said at once: an omitted `geometries` is
    # taken from the project, which may not define it (the sample video's first submit failed
    # at the sandbox while the preview said nothing).
    shown = [
        issue
        for issue in composition.issues
        if not issue.field or issue.field in touched or issue.code in SHOWN_UNTOUCHED
    ]
    waiting: dict[str, str] = {}
    for issue in composition.issues:
        if issue.field and issue.field not in touched and issue.severity == "error":
            waiting.setdefault(issue.field, str(form[issue.field].label) if issue.field in form.fields else issue.field)
    return shown, list(waiting.items())


@login_required
@require_GET
def compose_from_template(request: HttpRequest, template_code) -> HttpResponse:
    template = get_for_user(TaskTemplate.objects.all(), request, code=template_code)
    imported = importing.import_payload(template.task_type, template.payload)
    blank = ComposeForm(task_type=template.task_type)
    form = ComposeForm(task_type=template.task_type, initial=importing.initial_for(imported.data, blank))
    messages.info(request, f"Started from the template “{template.name}”: add the attachment and submit.")
    return _render_composer(request, template.task_type, form, kept=imported.kept, from_template=template)


@login_required
@require_GET
def library(request: HttpRequest) -> HttpResponse:
    workspace = require_workspace(request)
    return render(request, "composer/library.html", _library(request, workspace))


def _delete(request: HttpRequest, model, code) -> HttpResponse:
    kind = next(kind for kind in lib.KINDS.values() if kind.model is model)
    return library_views.delete_with_undo(request, kind, code)


@login_required
@require_POST
def template_delete(request: HttpRequest, template_code) -> HttpResponse:
    return _delete(request, TaskTemplate, template_code)


@login_required
@require_POST
def labelset_delete(request: HttpRequest, labelset_code) -> HttpResponse:
    return _delete(request, LabelSet, labelset_code)


@login_required
@require_POST
def preset_delete(request: HttpRequest, preset_code) -> HttpResponse:
    return _delete(request, GeometryPreset, preset_code)


@login_required
@require_POST
def attributeset_delete(request: HttpRequest, attributeset_code) -> HttpResponse:
    return _delete(request, AttributeSet, attributeset_code)


@login_required
@require_POST
def template_rename(request: HttpRequest, template_code) -> HttpResponse:
    template = get_for_user(TaskTemplate.objects.all(), request, code=template_code)
    name = request.POST.get("name", "").strip()[:200]
    if name:
        try:
            with transaction.atomic():
                template.name = name
                template.save(update_fields=["name", "updated_at"])
        except IntegrityError:
            messages.error(request, f"Another template is already called “{name}”.")
    return redirect("composer_library")


@login_required
@require_GET
def media_proxy(request: HttpRequest) -> HttpResponse:
    """Same-origin copy of an image so the hypothesis mask can be read pixel by pixel on a canvas.

    Fetched through the guarded fetcher (public addresses, and the built-in sandbox's own files;
    never a workspace's configured API host), within a per-person quota, then decoded and
    re-encoded as a new PNG: only pixels reach the browser, never the upstream's bytes or type
    (an SVG served here ran script on our origin). Errors are short, generic and inert.
    """
    require_workspace(request)
    url = request.GET.get("url", "")
    try:
        with fetch_quota.proxy_slot(request.user.pk):
            fetched = fetcher.fetch(
                url,
                max_bytes=settings.MEDIA_PROXY_MAX_BYTES,
                timeout=settings.MEDIA_PROXY_TIMEOUT,
                trusted=fetcher.site_trusted(),
            )
            png = safe_files.reencode_png(fetched.content)
    except fetch_quota.Refused as refused:
        response = _proxy_error(refused.message, 429)
        response["Retry-After"] = str(refused.retry_after)
        return response
    except fetcher.FetchError as error:
        return _proxy_error(error.message, 502)
    except safe_files.UnsafeFile as error:
        return _proxy_error(error.message, 415)
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=300"
    return safe_files.harden(response, filename="image.png")


def _proxy_error(message: str, status: int) -> HttpResponse:
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    return safe_files.harden(response)


@login_required
@require_GET
def media_check(request: HttpRequest) -> HttpResponse:
    """What the media checks read from one medium (?kind=video|image&url=…), as JSON.

    The browser asks once per media URL of the form, off the typing preview's path; the
    answer is cached per URL, and the next preview turns it into warnings (media_checks).
    Fetching shares the image proxy's per-person quota; a cached answer costs none."""
    workspace = require_workspace(request)
    kind = request.GET.get("kind", "")
    url = request.GET.get("url", "")
    if kind == project_checks.KIND and url and len(url) <= 200:
        return _project_check(request, workspace, url)
    if kind not in media_checks.KINDS or not url or len(url) > 4096:
        return JsonResponse({"problem": "Give kind=video, image or project and a URL or name."}, status=400)
    info = media_checks.cached(kind, url)
    if info is None:
        if media_checks.unfetchable(url):
            info = media_checks.check(kind, url)  # nothing is fetched: the reason is the answer
        else:
            try:
                with fetch_quota.proxy_slot(request.user.pk):
                    info = media_checks.check(kind, url)
            except fetch_quota.Refused as refused:
                return _quota_refused(refused)
    return JsonResponse({"kind": kind, "url": url, "summary": info.summary(), "problem": info.problem,
                         "duration": info.duration, "width": info.width, "height": info.height,
                         "frame_rate": info.frame_rate})  # fmt: skip
