from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")

app = Celery("annotator")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Background functions live in `jobs.py` modules: "tasks" means Scale tasks here.
app.autodiscover_tasks(related_name="jobs")
