from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotator import inbound
from annotator.accounts.access import require_workspace
from annotator.accounts.forms import (
    NotificationForm,
    ThrottledLoginForm,
    WorkspaceSettingsForm,
    new_sandbox_key,
    sandbox_available,
    sync_sandbox_account,
)
from annotator.accounts.middleware import SESSION_KEY
from annotator.accounts.models import Membership, Workspace

login = auth_views.LoginView.as_view(template_name="accounts/login.html", authentication_form=ThrottledLoginForm)
logout = auth_views.LogoutView.as_view()
password_change = auth_views.PasswordChangeView.as_view(
    template_name="accounts/password_change.html", success_url=reverse_lazy("password_change_done")
)
password_change_done = auth_views.PasswordChangeDoneView.as_view(template_name="accounts/password_change_done.html")


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/home.html", {})


@login_required
@require_http_methods(["GET", "POST"])
def workspace_settings(request: HttpRequest) -> HttpResponse:
    workspace = require_workspace(request)
    membership = Membership.objects.get(user=request.user, workspace=workspace)
    is_owner = membership.role == Membership.Role.OWNER
    form = WorkspaceSettingsForm(instance=workspace)
    notify_form = NotificationForm(instance=membership, prefix="notify")
    if request.method == "POST":
        if "notify-notify" in request.POST:
            notify_form = NotificationForm(request.POST, instance=membership, prefix="notify")
            if notify_form.is_valid():
                notify_form.save()
                messages.success(request, "Your email preferences are saved.")
                return redirect("workspace_settings")
        elif not is_owner:
            # Members may read the settings but only owners change them.
            raise Http404("Only owners can change workspace settings")
        elif "reset_sandbox_key" in request.POST:
            return _reset_sandbox_key(request, workspace)
        else:
            form = WorkspaceSettingsForm(request.POST, instance=workspace)
            if form.is_valid():
                form.save()
                messages.success(request, "Workspace settings saved.")
                if form.new_sandbox_key:
                    messages.info(request, f"The sandbox made a key for this workspace: {workspace.api_key_hint}.")
                return redirect("workspace_settings")
    ctx = {
        "form": form,
        # The stored target: an invalid form has already copied the posted one onto the instance.
        "can_reset_sandbox_key": is_owner and sandbox_available() and form.was_target == Workspace.Target.SANDBOX,
        "notify_form": notify_form,
        "is_owner": is_owner,
        "members": workspace.membership_set.select_related("user").order_by("user__username"),
    }
    return render(request, "accounts/workspace_settings.html", ctx)


def _reset_sandbox_key(request: HttpRequest, workspace: Workspace) -> HttpResponse:
    if not sandbox_available() or workspace.target != Workspace.Target.SANDBOX:
        messages.error(request, "Only a workspace that sends tasks to the built-in sandbox has a sandbox key to reset.")
        return redirect("workspace_settings")
    old = workspace.get_api_key()
    workspace.set_api_key(new_sandbox_key())
    workspace.save(update_fields=["api_key_encrypted", "api_key_hint"])
    sync_sandbox_account(workspace, rotate_from=old)
    messages.success(
        request,
        f"The sandbox key is reset: {workspace.api_key_hint}. "
        "Tasks already sent keep working; the old key no longer does.",
    )
    return redirect("workspace_settings")


@login_required
@require_POST
def workspace_switch(request: HttpRequest) -> HttpResponse:
    code = inbound.parse_uuid(request.POST.get("workspace", ""))
    if code is None or not Workspace.objects.filter(members=request.user, code=code).exists():
        raise Http404("Not found")
    code = str(code)
    request.session[SESSION_KEY] = code
    return redirect("home")
