from __future__ import annotations

import secrets
import socket
from urllib.parse import urlsplit

from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from annotator.accounts import throttle
from annotator.accounts.models import Membership, Workspace


class ThrottledLoginForm(AuthenticationForm):
    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if not username or not self.cleaned_data.get("password"):
            return super().clean()  # a field is missing: no password is checked, nothing to count
        attempt = throttle.begin(username, throttle.client_address(self.request))
        if attempt.wait:
            minutes = max(1, round(attempt.wait / 60))
            raise ValidationError(
                f"Too many failed sign-in attempts. Sign-in is paused for about {minutes} minute(s); try again later.",
                code="throttled",
            )
        cleaned = super().clean()  # a failure stays counted (it was counted before the check)
        attempt.succeeded()
        return cleaned


def sandbox_available() -> bool:
    return apps.is_installed("annotator.sandbox")


def sandbox_base_url() -> str:
    return settings.SITE_URL.rstrip("/") + "/sandbox/v1"


def new_sandbox_key() -> str:
    # test_ like Scale's test keys: the sandbox treats it as one.
    return "test_sandbox_" + secrets.token_hex(16)


def sync_sandbox_account(workspace: Workspace, rotate_from: str = "") -> None:
    """The sandbox plays Scale for a workspace that targets it: it must know the
    workspace's key and sign callbacks with the workspace's callback auth key.
    `rotate_from` (the previous sandbox key) moves that account to the new key,
    so the tasks already at the sandbox are still found under it."""
    if not sandbox_available() or workspace.target != Workspace.Target.SANDBOX or not workspace.has_api_key:
        return
    from annotator.sandbox.models import SandboxAccount, ensure_project

    key = workspace.get_api_key()
    if rotate_from and rotate_from != key:
        SandboxAccount.objects.filter(api_key=rotate_from).update(api_key=key)
    account = SandboxAccount.objects.ensure(key, workspace.callback_auth_key)
    if workspace.default_project:
        # As at Scale, a task may only name a project that exists: the default one does.
        ensure_project(account, workspace.default_project)


def _origin(url: str) -> tuple[str, str, int | None]:
    try:
        parts = urlsplit(url)
        return (
            parts.scheme.lower(),
            (parts.hostname or "").lower(),
            parts.port or (443 if parts.scheme == "https" else 80),
        )
    except ValueError:
        return "", "", None


def base_url_problem(url: str) -> str | None:
    """Why an owner may not point "Scale API" at `url`, or None.

    Only public addresses: a loopback or private base URL would make this server
    send the key, and let members fetch, wherever the owner pointed it. The one
    exception is this site's own sandbox. A host name this server cannot resolve
    right now is not refused (an offline machine cannot tell), the fetcher checks
    every address again when it connects."""
    from annotator import fetcher

    if (
        sandbox_available()
        and _origin(url) == _origin(settings.SITE_URL)
        and urlsplit(url).path.startswith("/sandbox/")
    ):
        return None
    problem = fetcher.public_url_problem(url)
    if problem is None or not _resolves(url):
        return None
    return (
        f"Scale API must be a public address: {problem.split(';')[0]}. "
        "To try the Scale API path on this machine, use the built-in sandbox."
    )


def _resolves(url: str) -> bool:
    host = _origin(url)[1].strip("[]")
    try:
        socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    return True


def _effective_base(url: str) -> str:
    return (url or settings.SCALE_API_BASE_URL).rstrip("/")


class WorkspaceSettingsForm(forms.ModelForm):
    # Write-only: the stored key is never rendered back into the page.
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Leave empty to keep the stored key. Changing the target or the base URL needs the key again.",
        label="Scale API key",
    )
    clear_api_key = forms.BooleanField(required=False, label="Remove the stored API key")
    # Write-only like the API key: it proves callbacks come from Scale, so it is not
    # shown on a page that can be screenshotted or shared. Its last characters say which.
    callback_auth_key = forms.CharField(
        required=False,
        max_length=128,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        label="Callback auth key",
    )
    api_base_url = forms.URLField(
        required=False, assume_scheme="https", label="API base URL", help_text="Leave empty for Scale's own API."
    )

    class Meta:
        model = Workspace
        fields = [
            "name",
            "target",
            "api_base_url",
            "default_project",
            "default_batch",
            "callback_auth_key",
            "rate_limit_per_second",
        ]
        labels = {"target": "Send tasks to"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # What the workspace was before this form: clean() compares against it.
        self.was_target = self.instance.target
        self.was_base = _effective_base(self.instance.api_base_url)
        self.had_key = self.instance.has_api_key
        self.new_sandbox_key = False
        stored = self.instance.callback_auth_key
        self.fields["callback_auth_key"].help_text = "The 'Live Callback Auth Key' from Scale's dashboard. " + (
            f"Stored: one ending in …{stored[-4:]}; leave empty to keep it." if stored else "None stored."
        )

    def clean_callback_auth_key(self) -> str:
        value = (self.cleaned_data.get("callback_auth_key") or "").strip()
        return value or self.instance.callback_auth_key

    def clean_rate_limit_per_second(self) -> float:
        value = self.cleaned_data["rate_limit_per_second"]
        if not 0 < value <= 1000:
            raise ValidationError("Must be more than 0 and at most 1000 requests per second.")
        return value

    def clean(self):
        cleaned = super().clean()
        target = cleaned.get("target")
        key = (cleaned.get("api_key") or "").strip()
        base = cleaned.get("api_base_url") or ""
        if target == Workspace.Target.SANDBOX:
            if not sandbox_available():
                self.add_error("target", "The built-in sandbox is switched off on this site: choose Scale API.")
            elif key:
                self.add_error(
                    "api_key",
                    "The built-in sandbox makes its own key (reset it below if needed). "
                    "To use a Scale key, choose Scale API under Send tasks to.",
                )
        elif target == Workspace.Target.SCALE:
            problem = base_url_problem(base) if base else None
            if problem:
                self.add_error("api_base_url", problem)
            moved = self.was_target != Workspace.Target.SCALE or _effective_base(base) != self.was_base
            keeps_key = self.had_key and not moved and not cleaned.get("clear_api_key")
            if not key and not keeps_key:
                if moved and self.had_key and self.was_target == Workspace.Target.SCALE:
                    message = (
                        f"Enter the Scale API key again: tasks will go to {_effective_base(base)}, "
                        "and the stored key is never sent to a new host."
                    )
                elif cleaned.get("clear_api_key") and self.had_key:
                    message = (
                        "Scale API cannot work without a key: paste the key that replaces the one you remove, "
                        "or send tasks to the built-in sandbox."
                    )
                else:
                    message = (
                        "Scale API needs your API key (Scale's dashboard → API keys). "
                        "Paste it here, or send tasks to the built-in sandbox."
                    )
                self.add_error("api_key", message)
        return cleaned

    def save(self, commit: bool = True) -> Workspace:
        workspace = super().save(commit=False)
        key = (self.cleaned_data.get("api_key") or "").strip()
        rotate_from = ""
        sandbox = workspace.target == Workspace.Target.SANDBOX
        if not sandbox and key:
            workspace.set_api_key(key)
        # The sandbox's key is made here: switching to the sandbox never leaves a
        # workspace without one, and a Scale key is never handed to the sandbox.
        if sandbox and (
            self.cleaned_data.get("clear_api_key") or self.was_target != workspace.target or not self.had_key
        ):
            rotate_from = workspace.get_api_key() if self.was_target == workspace.target else ""
            workspace.set_api_key(new_sandbox_key())
            self.new_sandbox_key = True
        if commit:
            workspace.save()
            sync_sandbox_account(workspace, rotate_from)
        return workspace


class NotificationForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["notify", "digest_minutes", "subscribed"]
        labels = {"notify": "Email me", "digest_minutes": "Digest at most every (minutes)"}
