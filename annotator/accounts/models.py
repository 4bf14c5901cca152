from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models

from annotator.accounts import crypto


def new_token() -> str:
    return secrets.token_urlsafe(32)


class Workspace(models.Model):
    """A team: its members share tasks, templates and one Scale account."""

    class Target(models.TextChoices):
        SANDBOX = "sandbox", "Built-in sandbox"
        SCALE = "scale", "Scale API"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces")
    # Scale's API key, Fernet-encrypted; only the hint is ever shown back.
    api_key_encrypted = models.TextField(blank=True, editable=False)
    api_key_hint = models.CharField(max_length=32, blank=True, editable=False)
    # What Scale sends in the `scale-callback-auth` header.
    callback_auth_key = models.CharField(max_length=128, default=new_token)
    # The secret path segment of this workspace's callback URL.
    callback_token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    target = models.CharField(max_length=10, choices=Target.choices, default=Target.SANDBOX)
    api_base_url = models.URLField(blank=True, help_text="Leave empty for Scale's own API.")
    default_project = models.CharField(max_length=200, blank=True)
    default_batch = models.CharField(max_length=200, blank=True)
    rate_limit_per_second = models.FloatField(
        default=10.0, help_text="Requests per second to Scale, across all workers."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_api_key(self, key: str) -> None:
        self.api_key_encrypted = crypto.encrypt(key) if key else ""
        self.api_key_hint = crypto.hint(key)

    def get_api_key(self) -> str:
        return crypto.decrypt(self.api_key_encrypted) if self.api_key_encrypted else ""

    @property
    def has_api_key(self) -> bool:
        return bool(self.api_key_encrypted)

    @property
    def callback_url(self) -> str:
        # The receiver is routed at callbacks/<token>/ (annotator/urls.py).
        return f"{settings.SITE_URL}/callbacks/{self.callback_token}/"

    @property
    def scale_base_url(self) -> str:
        """The v1 base URL submissions go to (no trailing slash, like the SDK)."""
        if self.target == self.Target.SANDBOX:
            return settings.SITE_URL + "/sandbox/v1"
        return (self.api_base_url or settings.SCALE_API_BASE_URL).rstrip("/")

    def is_owner(self, user) -> bool:
        return self.membership_set.filter(user=user, role=Membership.Role.OWNER).exists()


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    class Notify(models.TextChoices):
        EVERY = "every", "Every event"
        DIGEST = "digest", "A digest"
        NONE = "none", "Nothing"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    # Email about tasks this person submitted; `subscribed` adds everyone's tasks.
    notify = models.CharField(max_length=10, choices=Notify.choices, default=Notify.EVERY)
    digest_minutes = models.PositiveIntegerField(default=60)
    subscribed = models.BooleanField(default=False, help_text="Also email me about tasks others submit.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "workspace"], name="one_membership_per_workspace")]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"
