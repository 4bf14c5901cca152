from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from annotator.accounts.access import get_for_user, require_workspace
from annotator.submission import bulk, uploads
from annotator.submission.forms import UploadForm
from annotator.tasks.models import SubmissionGroup, Task

FAILURES_SHOWN = 100


@login_required
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    """Step 1: upload and dry-run. Nothing is created here."""
    workspace = require_workspace(request)
    form = UploadForm(request.POST or None, request.FILES or None, workspace=workspace)
    ctx: dict = {"form": form, "groups": SubmissionGroup.objects.filter(workspace=workspace).order_by("-id")[:20]}
    too_large = uploads.too_large(request) if request.method == "POST" else {}
    if too_large:
        limit = settings.SUBMIT_MAX_UPLOAD_BYTES
        form.is_valid()
        form.add_error(
            None,
            f"The file is larger than {limit / 1_000_000:,.1f} MB, the most one upload may hold "
            "(SUBMIT_MAX_UPLOAD_BYTES). Split it into several files; nothing was checked or created.",
        )
        return render(request, "submission/upload.html", ctx, status=413)
    if request.method == "POST" and form.is_valid():
        source, filename = form.content()
        file_format = "urls" if not form.cleaned_data.get("file") else None
        # Kept first (streamed to disk), then read from there as a stream: the web process never
        # holds the whole file in memory.
        sha256 = bulk.keep_upload(workspace, source)
        try:
            the_plan = bulk.plan(
                workspace,
                form.cleaned_data["template"],
                bulk.load_upload(workspace, sha256),
                filename,
                batch=form.cleaned_data["batch"].strip(),
                file_format=file_format,
            )
        except bulk.FileError as e:
            bulk.forget_upload(workspace, sha256)
            form.add_error(None, str(e))
        else:
            ctx["plan"] = the_plan
            ctx["format"] = the_plan.file_format
            ctx["earlier"] = SubmissionGroup.objects.filter(workspace=workspace, source_sha256=the_plan.sha256).first()
    return render(request, "submission/upload.html", ctx)


@login_required
@require_POST
def confirm(request: HttpRequest) -> HttpResponse:
    """Step 2: the same file, validated again, becomes one group of queued tasks."""
    workspace = require_workspace(request)
    from annotator.composer.models import TaskTemplate

    template = get_for_user(TaskTemplate.objects.all(), request, code=request.POST.get("template", ""))
    try:
        content = bulk.load_upload(workspace, request.POST.get("sha256", ""))
        the_plan = bulk.plan(
            workspace,
            template,
            content,
            batch=request.POST.get("batch", "").strip(),
            file_format=request.POST.get("format") if request.POST.get("format") in ("csv", "jsonl", "urls") else None,
        )
        group = bulk.submit_plan(
            the_plan,
            request.user,
            name=request.POST.get("name", "").strip()[:200],
            finalize_batch=request.POST.get("finalize_batch") == "on",
        )
    except (bulk.FileError, bulk.NothingToSubmit) as e:
        messages.error(request, str(e))
        return redirect("submission_upload")
    skipped = len(the_plan.rows) - group.total
    note = f" ({skipped} row(s) skipped: invalid or already submitted)" if skipped else ""
    messages.success(request, f"{group.total} {'task' if group.total == 1 else 'tasks'} queued{note}.")
    return redirect("submission_group", group_code=group.code)


@login_required
@require_GET
def group_detail(request: HttpRequest, group_code) -> HttpResponse:
    from annotator.submission import runs

    group = get_for_user(SubmissionGroup.objects.all(), request, code=group_code)
    if request.htmx and request.GET.get("part") == "scale":
        # The run at Scale, followed until every task has finished.
        counts = runs.at_scale(group)
        html = render_to_string("submission/group.html#scale", {"group": group, "at_scale": counts}, request=request)
        return HttpResponseStopPolling(html) if counts.finished else HttpResponse(html)
    progress = bulk.progress(group)
    failures = Task.objects.filter(group=group, state=Task.State.FAILED).order_by("id")[:FAILURES_SHOWN]
    ctx = {"group": group, "progress": progress, "failures": failures, "at_scale": runs.at_scale(group)}
    if request.htmx:
        html = render_to_string("submission/group.html#progress", ctx, request=request)
        # 286 tells htmx to stop polling once nothing is left to wait for.
        return HttpResponseStopPolling(html) if progress.done else HttpResponse(html)
    return render(request, "submission/group.html", ctx)


@login_required
@require_POST
def group_email(request: HttpRequest, group_code) -> HttpResponse:
    """How the run's finished tasks are emailed: one summary (default) or each task."""
    group = get_for_user(SubmissionGroup.objects.all(), request, code=group_code)
    group.email_each = request.POST.get("email") == "each"
    group.save(update_fields=["email_each"])
    messages.success(
        request,
        "You will get an email for each task of this run as it finishes."
        if group.email_each
        else "You will get one summary email when every task of this run has finished.",
    )
    return redirect("submission_group", group_code=group.code)
