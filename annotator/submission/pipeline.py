"""The one way a task row is created: saved first, then handed to the submitter."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotator import fetcher
from annotator.accounts.models import Workspace
from annotator.scale_client import ScaleClient
from annotator.tasks.models import SubmissionGroup, Task, TaskEvent


def derived_unique_id(task: Task) -> str:
    # Scale's unique_id is global to the account, so prefix it with ours.
    return f"annotator:{task.workspace.code.hex[:8]}:{task.code.hex}"


def client_for(workspace: Workspace) -> ScaleClient:
    """The client for this workspace's Scale endpoint.

    Settings refuse a private base URL, but a name can resolve elsewhere later: unless the
    URL is trusted (the built-in sandbox, the operator's FETCH_TRUSTED_URLS), every connection
    is checked against the address it really reached, as the fetcher checks its own."""
    timeout = (settings.SUBMIT_CONNECT_TIMEOUT, settings.SUBMIT_READ_TIMEOUT)
    base_url = workspace.scale_base_url
    trusted = fetcher.is_trusted_url(base_url + "/", fetcher.site_trusted())
    return ScaleClient(
        base_url,
        workspace.get_api_key(),
        timeout=timeout,
        address_allowed=None if trusted else fetcher.is_public_ip_text,
    )


def enqueue(task_id: int) -> None:
    """Hand a saved row to the submitter once the transaction commits (nothing if it rolls back)."""
    from annotator.submission import jobs

    jobs.submit_to_scale.delay_on_commit(task_id)


def new_task(workspace: Workspace, user, task_type: str, payload: dict, group: SubmissionGroup | None) -> Task:
    """An unsaved QUEUED row with its unique_id and callback URL in the payload (bulk_create uses it too)."""
    task = Task(workspace=workspace, created_by=user, task_type=task_type, payload=dict(payload), group=group)
    task.unique_id = str(payload.get("unique_id") or derived_unique_id(task))
    task.payload["unique_id"] = task.unique_id
    # Callbacks must come back to this workspace's own URL, not the account's default.
    task.payload.setdefault("callback_url", workspace.callback_url)
    task.fill_denormalized()
    return task


@transaction.atomic
def create_task(
    workspace: Workspace,
    user,
    task_type: str,
    payload: dict,
    *,
    group: SubmissionGroup | None = None,
    name: str = "",
) -> Task:
    """Save a QUEUED task with the exact payload to send; the submitter picks it up after commit.

    `name` is for people only (the table, the task page, emails); Scale never sees it."""
    task = new_task(workspace, user, task_type, payload, group)
    task.name = name.strip()[:200]
    task.save()
    TaskEvent.objects.create(
        task=task, kind=TaskEvent.Kind.COMPOSED, message="Composed", data={"payload": task.payload}
    )
    enqueue(task.id)
    return task


@transaction.atomic
def retry(task: Task) -> bool:
    """Put a FAILED task back in the queue with a fresh set of attempts. False if it was not failed."""
    updated = Task.objects.filter(id=task.id, state=Task.State.FAILED).update(
        state=Task.State.QUEUED,
        attempts=0,
        next_attempt_at=None,
        claimed_at=None,
        last_error="",
        updated_at=timezone.now(),
    )
    if updated != 1:
        return False
    TaskEvent.objects.create(task=task, kind=TaskEvent.Kind.SUBMISSION, message="Queued again by hand")
    enqueue(task.id)
    task.refresh_from_db()
    return True
