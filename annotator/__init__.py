from __future__ import annotations

# Load the Celery app whenever Django starts, so `delay_on_commit` in any module
# talks to the configured broker (Celery's documented Django integration).
from annotator.celery import app as celery_app

__all__ = ["celery_app"]
