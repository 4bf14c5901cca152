"""The export job. Thin: it takes an id and calls service.run."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="annotator.run_export", queue="default", acks_late=True, ignore_result=True)
def run_export(export_id: int) -> str:
    from annotator.exports import service

    return service.run(export_id)


@shared_task(bind=True, name="annotator.send_export_email", queue="email", max_retries=6, ignore_result=True)
def send_export_email(self, export_id: int) -> str:
    from annotator.exports import service

    try:
        return service.send_ready_email(export_id)
    except Exception as e:
        raise self.retry(exc=e, countdown=min(10 * 2**self.request.retries, 600)) from e


@shared_task(name="annotator.delete_old_exports", queue="default", ignore_result=True)
def delete_old_exports() -> int:
    from annotator.exports import service

    return service.delete_old()
