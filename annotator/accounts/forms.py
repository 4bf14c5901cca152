from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from annotator.accounts import throttle
from annotator.accounts.models import Membership, Workspace


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "") if request else ""


class ThrottledLoginForm(AuthenticationForm):
    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = client_address(self.request)
        wait = throttle.seconds_blocked(username, address)
        if wait:
            minutes = max(1, round(wait / 60))
            raise ValidationError(
                f"Too many failed sign-in attempts. Sign-in is paused for about {minutes} minute(s); try again later.",
                code="throttled",
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            throttle.record_failure(username, address)
            raise
        throttle.clear(username, address)
        return cleaned


class WorkspaceSettingsForm(forms.ModelForm):
    # Write-only: the stored key is never rendered back into the page.
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Leave empty to keep the stored key.",
        label="Scale API key",
    )
    clear_api_key = forms.BooleanField(required=False, label="Remove the stored API key")
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
        labels = {"callback_auth_key": "Callback auth key", "target": "Send tasks to"}
        help_texts = {"callback_auth_key": "The 'Live Callback Auth Key' from Scale's dashboard."}

    def clean_rate_limit_per_second(self) -> float:
        value = self.cleaned_data["rate_limit_per_second"]
        if not 0 < value <= 1000:
            raise ValidationError("Must be more than 0 and at most 1000 requests per second.")
        return value

    def save(self, commit: bool = True) -> Workspace:
        workspace = super().save(commit=False)
        if self.cleaned_data.get("clear_api_key"):
            workspace.set_api_key("")
        elif self.cleaned_data.get("api_key"):
            workspace.set_api_key(self.cleaned_data["api_key"].strip())
        if commit:
            workspace.save()
        return workspace


class NotificationForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["notify", "digest_minutes", "subscribed"]
        labels = {"notify": "Email me", "digest_minutes": "Digest at most every (minutes)"}
