"""The sandbox's pretend Scale: accounts, projects, batches, tasks and callback deliveries.

Nothing here knows the dashboard: the sandbox plays a remote service and must be
removable (SANDBOX_ENABLED=false) without touching the other apps.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import struct
import time
import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


def new_task_id() -> str:
    # Shaped like Scale's ids (MongoDB ObjectIds): 4 bytes of seconds, then
    # random bytes, 24 hex characters in all.
    return struct.pack(">I", int(time.time()) & 0xFFFFFFFF).hex() + secrets.token_hex(8)


def iso(moment: datetime | None) -> str | None:
    """Scale's timestamp format: ISO-8601 in UTC with milliseconds and a Z."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class SandboxAccountManager(models.Manager["SandboxAccount"]):
    def ensure(self, api_key: str, callback_auth_key: str) -> SandboxAccount:
        account, _ = self.update_or_create(api_key=api_key, defaults={"callback_auth_key": callback_auth_key})
        return account


class SandboxAccount(models.Model):
    """A pretend Scale account: its API key and the key it signs callbacks with."""

    api_key = models.CharField(max_length=200, unique=True)
    callback_auth_key = models.CharField(max_length=200)
    # Scale's profile setting: used when a task is created without callback_url.
    default_callback_url = models.CharField(max_length=2000, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SandboxAccountManager()

    def __str__(self) -> str:
        return f"sandbox account …{self.api_key[-4:]}"

    @property
    def scaledata_owner(self) -> str:
        # The first part of a scaledata:// URL: 24 hex characters, like Scale's
        # (an id of the owner), derived from the key without revealing it.
        return hashlib.sha256(f"scaledata:{self.pk}:{self.api_key}".encode()).hexdigest()[:24]

    @property
    def is_test_key(self) -> bool:
        # Scale's SDK tests take a key as a test key by these two shapes.
        return self.api_key.startswith("test_") or self.api_key.endswith("|test")


class SandboxProject(models.Model):
    account = models.ForeignKey(SandboxAccount, models.CASCADE, related_name="projects")
    name = models.CharField(max_length=200)
    task_type = models.CharField(max_length=40, blank=True, default="")
    param_history = models.JSONField(default=list)
    # Rapid and Studio projects stage their batches until finalized; standard ones
    # start them at once (the SDK's own tests see `in_progress` after create_batch).
    rapid = models.BooleanField(default=False)
    studio = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="sandbox_project_name_unique")]

    def __str__(self) -> str:
        return self.name

    def defaults(self) -> dict:
        """The current project-level params: what a task of this project gets when it omits them."""
        if not self.param_history:
            return {}
        return {k: v for k, v in self.param_history[-1].items() if k not in ("version", "created_at")}

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "type": self.task_type,
            "param_history": self.param_history,
            "created_at": iso(self.created_at),
        }


class SandboxBatch(models.Model):
    class Status(models.TextChoices):
        STAGING = "staging"
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"

    account = models.ForeignKey(SandboxAccount, models.CASCADE, related_name="batches")
    name = models.CharField(max_length=200)
    project = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.STAGING)
    callback = models.CharField(max_length=2000, blank=True, default="")
    calibration_batch = models.BooleanField(default=False)
    self_label_batch = models.BooleanField(default=False)
    metadata = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="sandbox_batch_name_unique")]

    def __str__(self) -> str:
        return self.name

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("pending", "completed", "error", "canceled"), 0)
        rows = SandboxTask.objects.filter(account_id=self.account_id, batch=self.name)
        for row in rows.values("status").annotate(n=models.Count("id")):
            counts[row["status"]] = row["n"]
        return counts

    def current_status(self, counts: dict[str, int] | None = None) -> str:
        # A finalized batch is completed once none of its tasks is pending any more.
        if self.status != self.Status.IN_PROGRESS:
            return self.status
        counts = counts if counts is not None else self.counts()
        if sum(counts.values()) and not counts["pending"]:
            return self.Status.COMPLETED
        return self.status

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "project": self.project,
            "status": self.current_status(),
            "callback": self.callback,
            "calibration_batch": self.calibration_batch,
            "self_label_batch": self.self_label_batch,
            "metadata": self.metadata,
            "created_at": iso(self.created_at),
        }


class SandboxTask(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        COMPLETED = "completed"
        ERROR = "error"
        CANCELED = "canceled"

    account = models.ForeignKey(SandboxAccount, models.CASCADE, related_name="tasks")
    task_id = models.CharField(max_length=24, unique=True, default=new_task_id)
    task_type = models.CharField(max_length=40)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    params = models.JSONField(default=dict)
    instruction = models.TextField(blank=True, default="")
    callback_url = models.CharField(max_length=2000, blank=True, default="")
    metadata = models.JSONField(default=dict)
    project = models.CharField(max_length=200, blank=True, default="")
    batch = models.CharField(max_length=200, blank=True, default="")
    # NULL when absent or cleared: NULLs never collide in the unique constraint.
    unique_id = models.CharField(max_length=1024, null=True, blank=True)  # noqa: DJ001
    # NULL when never set: Scale leaves `tags` out of such a task.
    tags = models.JSONField(null=True, blank=True, default=None)
    clear_unique_id_on_error = models.BooleanField(default=False)
    # What fault injection decided for this task at creation (end in error,
    # duplicate or reorder its callback, fail a share of callback attempts).
    faults = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    # When the pretend labellers finish; NULL while its batch is still staging.
    due_at = models.DateTimeField(null=True, blank=True)
    work_started = models.BooleanField(default=False)
    # scheme://host the client used: result URLs point back at the same sandbox.
    origin = models.CharField(max_length=300, blank=True, default="")
    response = models.JSONField(null=True, blank=True)
    callback_succeeded = models.BooleanField(null=True, blank=True)
    # Customer audits (audit_task): Scale's `audits` list, newest last, and the
    # latest result, which the list's customer_review_status filter reads.
    audits = models.JSONField(default=list)
    review_status = models.CharField(max_length=20, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "unique_id"], name="sandbox_task_unique_id_unique"),
        ]
        indexes = [
            models.Index(fields=["account", "-created_at", "-task_id"], name="sandbox_task_newest"),
            models.Index(fields=["status", "due_at"], name="sandbox_task_due"),
        ]

    def __str__(self) -> str:
        return self.task_id

    def to_json(self) -> dict:
        data: dict = {
            "task_id": self.task_id,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "type": self.task_type,
            "status": self.status,
            "instruction": self.instruction,
            "params": self.params,
            "callback_url": self.callback_url,
            "is_test": True,
            "urgency": "standard",
            "metadata": self.metadata,
            "work_started": self.work_started,
        }
        if self.tags is not None:
            data["tags"] = self.tags
        if self.completed_at:
            data["completed_at"] = iso(self.completed_at)
        if self.project:
            data["project"] = self.project
        if self.batch:
            data["batch"] = self.batch
        if self.unique_id is not None:
            data["unique_id"] = self.unique_id
        if self.callback_succeeded is not None:
            data["callback_succeeded"] = self.callback_succeeded
        if self.response is not None:
            data["response"] = self.response
        if self.audits:
            data["audits"] = self.audits
        return data


class SandboxTaskTag(models.Model):
    # One row per tag, so the list filter is an exact, case-sensitive match on
    # SQLite too (JSON containment is not available there).
    task = models.ForeignKey(SandboxTask, models.CASCADE, related_name="tag_rows")
    tag = models.CharField(max_length=500)

    class Meta:
        indexes = [models.Index(fields=["tag"], name="sandbox_tag")]

    def __str__(self) -> str:
        return self.tag


class CallbackDelivery(models.Model):
    """One callback event for one task, with its retries (Scale: up to 20 attempts)."""

    class Kind(models.TextChoices):
        FINAL = "final"  # the completion or error event
        DUPLICATE = "duplicate"  # fault injection: the same event again
        STALE = "stale"  # fault injection: an older pending event after the final one
        AUDIT = "audit"  # a customer audit changed the task's review status

    code = models.UUIDField(default=uuid.uuid4, unique=True)
    task = models.ForeignKey(SandboxTask, models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.FINAL)
    url = models.CharField(max_length=2000)
    auth_key = models.CharField(max_length=200)
    body = models.JSONField()
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    succeeded = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.kind} callback of {self.task_id}"


class CallbackAttempt(models.Model):
    delivery = models.ForeignKey(CallbackDelivery, models.CASCADE, related_name="attempt_rows")
    number = models.PositiveIntegerField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    succeeded = models.BooleanField(default=False)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="sandbox_callback_attempt_unique"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number}"


def ensure_project(account: SandboxAccount, name: str, task_type: str = "") -> SandboxProject:
    """Create a project unless it exists (an empty task_type accepts all three types)."""
    project, _ = SandboxProject.objects.get_or_create(
        account=account,
        name=name,
        defaults={"task_type": task_type, "param_history": [{"version": 0, "created_at": iso(timezone.now())}]},
    )
    return project


def new_file_id() -> str:
    return str(uuid.uuid4())


class SandboxFile(models.Model):
    """A file given to files/upload or files/import; tasks name it by its scaledata:// URL."""

    account = models.ForeignKey(SandboxAccount, models.CASCADE, related_name="files")
    file_id = models.CharField(max_length=36, unique=True, default=new_file_id)
    filename = models.CharField(max_length=255, blank=True, default="")
    mime_type = models.CharField(max_length=120, blank=True, default="")
    size = models.BigIntegerField(null=True, blank=True)
    # An uploaded image's size, so results drawn for it match it.
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    project_names = models.JSONField(default=list)
    # Set for files/import: the sandbox never fetches, so the file is served by
    # redirecting to where it came from.
    source_url = models.CharField(max_length=2000, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.file_id

    @property
    def attachment_url(self) -> str:
        return f"scaledata://{self.account.scaledata_owner}/{self.file_id}"

    def to_json(self) -> dict:
        data = {
            "id": self.file_id,
            "attachment_url": self.attachment_url,
            "mime_type": self.mime_type,
            "project_names": self.project_names,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.created_at),
        }
        if self.size is not None:
            data["size"] = self.size
        return data


def files_dir() -> str:
    return os.path.join(settings.MEDIA_ROOT, "sandbox", "files")


def results_dir() -> str:
    return os.path.join(settings.MEDIA_ROOT, "sandbox", "results")


def due_at_from_now() -> datetime:
    return timezone.now() + timedelta(seconds=settings.SANDBOX_COMPLETE_AFTER)
