from __future__ import annotations

from django.contrib import admin

from annotator.tasks.models import (
    CallbackEvent,
    Notification,
    ResultFile,
    SubmissionAttempt,
    SubmissionGroup,
    Task,
    TaskEvent,
)


class SubmissionAttemptInline(admin.TabularInline):
    model = SubmissionAttempt
    extra = 0
    readonly_fields = ["started_at", "duration_ms", "status_code", "outcome", "error"]


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["unique_id", "task_type", "workspace", "state", "scale_status", "scale_task_id", "created_at"]
    list_filter = ["task_type", "state", "scale_status", "workspace"]
    search_fields = ["unique_id", "scale_task_id", "attachment"]
    readonly_fields = ["code", "created_at", "updated_at"]
    inlines = [SubmissionAttemptInline]


@admin.register(TaskEvent)
class TaskEventAdmin(admin.ModelAdmin):
    list_display = ["task", "kind", "at", "message"]
    list_filter = ["kind"]


@admin.register(CallbackEvent)
class CallbackEventAdmin(admin.ModelAdmin):
    list_display = ["scale_task_id", "status", "workspace", "received_at", "processed_at", "outcome"]
    list_filter = ["status", "workspace"]


@admin.register(SubmissionGroup)
class SubmissionGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "total", "created_at"]


@admin.register(ResultFile)
class ResultFileAdmin(admin.ModelAdmin):
    list_display = ["task", "name"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["user", "task", "kind", "status", "created_at", "sent_at"]
