"""The reusable library of a workspace: whole task templates and the parts they are made of."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models, transaction

from annotator.accounts.models import Workspace
from annotator.tasks.models import TaskType

# What a template never keeps: these differ for every task made from it.
PER_TASK_FIELDS = ("attachment", "attachments", "unique_id")


class LibraryItem(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    name = models.CharField(max_length=200)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TaskTemplate(LibraryItem):
    """A payload-shaped dict without the per-task fields; bulk rows and new tasks start from it.

    Tasks copy the payload when they are created, so editing a template never changes them.
    """

    task_type = models.CharField(max_length=32, choices=TaskType.choices)
    payload = models.JSONField(default=dict)

    class Meta(LibraryItem.Meta):
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="composer_template_unique_name")]

    def save(self, *args, **kwargs) -> None:
        self.payload = {key: value for key, value in (self.payload or {}).items() if key not in PER_TASK_FIELDS}
        super().save(*args, **kwargs)

    def keep_version(self, user, note: str = "") -> TemplateVersion | None:
        """Record what the template holds now as its next version, unless the latest one is the same.

        Called after every save that may change it (composer, editor, restore, import), so the
        previous content is always one of the versions: nothing saved is ever lost.
        """
        with transaction.atomic():
            # Two saves at once take turns on the template's row, so each gets its own number.
            list(TaskTemplate.objects.select_for_update().filter(pk=self.pk).values_list("pk", flat=True))
            latest = self.versions.order_by("-number").first()
            if latest is not None and latest.payload == self.payload and latest.task_type == self.task_type:
                return None
            return TemplateVersion.objects.create(
                template=self,
                number=(latest.number + 1) if latest else 1,
                task_type=self.task_type,
                payload=self.payload,
                saved_by=user if getattr(user, "pk", None) else None,
                note=note[:200],
            )


class TemplateVersion(models.Model):
    """One saved state of a template. Restoring one saves it again as a new version."""

    template = models.ForeignKey(TaskTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    task_type = models.CharField(max_length=32, choices=TaskType.choices)
    payload = models.JSONField(default=dict)
    saved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    saved_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["template", "number"], name="composer_version_unique_number")]

    def __str__(self) -> str:
        return f"{self.template} v{self.number}"


class TemplateUse(models.Model):
    """Which template (and which of its versions) a task was made from.

    Keyed by the template's code rather than a foreign key: a template deleted and then put
    back with Undo keeps its code, and so its count of tasks.
    """

    task = models.OneToOneField("tasks.Task", on_delete=models.CASCADE, related_name="template_use")
    template_code = models.UUIDField(db_index=True)
    version = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.task_id} from {self.template_code}"

    @staticmethod
    def template_model() -> type[TaskTemplate]:
        return TaskTemplate


class LabelSet(LibraryItem):
    """A label list in Scale's format (strings and nested LabelDescription objects)."""

    labels = models.JSONField(default=list)

    class Meta(LibraryItem.Meta):
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="composer_labelset_unique_name")]


class GeometryPreset(LibraryItem):
    """A `geometries` object for the video task types."""

    task_type = models.CharField(max_length=32, choices=TaskType.choices, blank=True)
    geometries = models.JSONField(default=dict)

    class Meta(LibraryItem.Meta):
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="composer_preset_unique_name")]


class AttributeSet(LibraryItem):
    """An `annotation_attributes` object, conditions included."""

    attributes = models.JSONField(default=dict)

    class Meta(LibraryItem.Meta):
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="composer_attributeset_unique_name")]


class Draft(models.Model):
    """What one person last had in the composer for one task type, kept as they type.

    `data` is the form as the browser posts it (field name -> text), so restoring it is the
    same path as an import or a template: nothing is re-interpreted.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    task_type = models.CharField(max_length=32, choices=TaskType.choices)
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace", "task_type"], name="composer_draft_one_per_type")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.task_type} draft"
