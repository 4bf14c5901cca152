from __future__ import annotations

from django.apps import AppConfig


class TasksConfig(AppConfig):
    # "Task" always means a Scale annotation task in this project; background
    # functions are "jobs" (see annotator/celery.py).
    name = "annotator.tasks"
    label = "tasks"
    verbose_name = "Scale tasks"
