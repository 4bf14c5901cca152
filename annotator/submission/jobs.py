"""Background jobs of submission. Thin: take ids, call plain functions."""

from __future__ import annotations

from celery import shared_task


@shared_task(
    name="annotator.submit_to_scale",
    queue="submission",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def submit_to_scale(self, task_id: int) -> str:
    # Idempotent: submitter claims the row first, so a redelivered or duplicate
    # message for the same row does nothing.
    from annotator.submission import submitter

    return submitter.submit(task_id).outcome


@shared_task(name="annotator.sweep_submissions", queue="default", ignore_result=True)
def sweep_submissions() -> int:
    from annotator.submission import submitter

    return submitter.sweep()


@shared_task(name="annotator.enqueue_group", queue="default", bind=True, acks_late=True, ignore_result=True)
def enqueue_group(self, group_id: int) -> int:
    from annotator.scale_client import TemporaryError
    from annotator.submission import bulk

    try:
        return bulk.enqueue_group(group_id)
    except TemporaryError as e:  # creating the Scale batch failed for now
        raise self.retry(countdown=5, max_retries=10, exc=e) from e


@shared_task(name="annotator.finalize_group_batch", queue="submission", bind=True, acks_late=True, ignore_result=True)
def finalize_group_batch(self, group_id: int) -> bool:
    from annotator.scale_client import TemporaryError
    from annotator.submission import bulk

    try:
        return bulk.finalize_batch(group_id)
    except TemporaryError as e:
        raise self.retry(countdown=10, max_retries=10, exc=e) from e


@shared_task(bind=True, name="annotator.send_run_summary", queue="email", max_retries=6, ignore_result=True)
def send_run_summary(self, group_id: int) -> int:
    from annotator.submission import runs

    try:
        return runs.send_summary(group_id)
    except Exception as e:  # SMTP down: back off, the rows were released
        raise self.retry(exc=e, countdown=min(10 * 2**self.request.retries, 600)) from e


@shared_task(name="annotator.send_due_run_summaries", queue="email", ignore_result=True)
def send_due_run_summaries() -> int:
    from annotator.submission import runs

    due = runs.due_runs()
    for group_id in due:
        send_run_summary.delay(group_id)
    return len(due)
