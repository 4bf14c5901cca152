"""Background jobs of the sandbox, all on the `sandbox` queue. Thin: ids in, plain functions."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from . import callbacks, lifecycle, results
from .models import SandboxTask


@shared_task(name="annotator.finish_sandbox_task", queue="sandbox")
def finish_sandbox_task(task_id: str) -> None:
    task = SandboxTask.objects.select_related("account").filter(task_id=task_id).first()
    if task is None or task.due_at is None:
        return
    if task.due_at > timezone.now():  # woke early (clock skew): try again when due
        lifecycle.schedule_finish(task)
    elif lifecycle.finish(task) and task.status == SandboxTask.Status.COMPLETED:
        results.materialize_all(task)  # draw the masks now rather than on first download


@shared_task(name="annotator.deliver_sandbox_callback", queue="sandbox")
def deliver_sandbox_callback(code: str) -> None:
    delay = callbacks.attempt(code)
    if delay is not None:
        callbacks.enqueue(code, countdown=delay)


@shared_task(name="annotator.sweep_sandbox", queue="sandbox")
def sweep_sandbox() -> None:
    lifecycle.sweep()
