from __future__ import annotations

from django.db import models


class SandboxAccountManager(models.Manager["SandboxAccount"]):
    def ensure(self, api_key: str, callback_auth_key: str) -> SandboxAccount:
        account, _ = self.update_or_create(api_key=api_key, defaults={"callback_auth_key": callback_auth_key})
        return account


class SandboxAccount(models.Model):
    """A pretend Scale account: its API key and the key it signs callbacks with."""

    api_key = models.CharField(max_length=200, unique=True)
    callback_auth_key = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SandboxAccountManager()

    def __str__(self) -> str:
        return f"sandbox account …{self.api_key[-4:]}"
