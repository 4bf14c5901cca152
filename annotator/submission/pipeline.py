"""The one way a task row is created: saved first, then handed to the submitter."""

from __future__ import annotations

from django.db import transaction

from annotator.accounts.models import Workspace
from annotator.tasks.models import SubmissionGroup, Task, TaskEvent


def derived_unique_id(task: Task) -> str:
    # Scale's unique_id is global to the account, so prefix it with ours.
    return f"annotator:{task.workspace.code.hex[:8]}:{task.code.hex}"


@transaction.atomic
def create_task(
    workspace: Workspace,
    user,
    task_type: str,
    payload: dict,
    *,
    group: SubmissionGroup | None = None,
) -> Task:
    """Save a QUEUED task with the exact payload to send; the submitter picks it up after commit."""
    task = Task(workspace=workspace, created_by=user, task_type=task_type, payload=dict(payload), group=group)
    task.unique_id = str(payload.get("unique_id") or derived_unique_id(task))
    task.payload["unique_id"] = task.unique_id
    task.fill_denormalized()
    task.save()
    TaskEvent.objects.create(task=task, kind=TaskEvent.Kind.COMPOSED, message="Composed", data={"payload": task.payload})
    return task
