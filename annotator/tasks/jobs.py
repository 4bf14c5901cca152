"""Background jobs of the task domain. Thin: take ids, call plain functions."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="annotator.ping", queue="default", ignore_result=False)
def ping(value: str) -> str:
    # Used by the health check and the test that proves a job round-trips
    # through a real worker and broker.
    return f"pong:{value}"
