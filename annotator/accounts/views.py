from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotator.accounts.access import require_workspace
from annotator.accounts.forms import NotificationForm, ThrottledLoginForm, WorkspaceSettingsForm
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
        else:
            if not is_owner:
                # Members may read the settings but only owners change them.
                raise Http404("Only owners can change workspace settings")
            form = WorkspaceSettingsForm(request.POST, instance=workspace)
            if form.is_valid():
                form.save()
                messages.success(request, "Workspace settings saved.")
                return redirect("workspace_settings")
    ctx = {
        "form": form,
        "notify_form": notify_form,
        "is_owner": is_owner,
        "members": workspace.membership_set.select_related("user").order_by("user__username"),
    }
    return render(request, "accounts/workspace_settings.html", ctx)


@login_required
@require_POST
def workspace_switch(request: HttpRequest) -> HttpResponse:
    code = request.POST.get("workspace", "")
    if not Workspace.objects.filter(members=request.user, code=code).exists():
        raise Http404("Not found")
    request.session[SESSION_KEY] = code
    return redirect("home")
