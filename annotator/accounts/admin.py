from __future__ import annotations

from django.contrib import admin

from annotator.accounts.models import Membership, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "target", "api_key_hint", "default_project", "created_at"]
    # The ciphertext stays out of the admin too; only the hint is shown.
    exclude = ["api_key_encrypted"]
    readonly_fields = ["code", "api_key_hint", "callback_token"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "notify"]
    list_filter = ["role", "notify"]
