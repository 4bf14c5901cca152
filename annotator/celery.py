from __future__ import annotations

import functools
import logging
import os

from celery import Celery
from celery.contrib.django.task import DjangoTask
from kombu.exceptions import OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")

log = logging.getLogger("annotator.jobs")


class Task(DjangoTask):
    """Jobs queued after a commit never turn a saved change into an error.

    By then the row that needs the job is in the database, and every such job has a
    periodic sweep that finds its rows (queued submissions, stored callbacks, unsent
    emails). Raising would only answer a 500 for work that was done, and invite the
    person to do it twice; so a broker that does not answer is logged and left to
    the sweeps.
    """

    def delay_on_commit(self, *args, **kwargs) -> None:
        self._on_commit(args, kwargs, {})

    def apply_async_on_commit(self, args=None, kwargs=None, **options) -> None:
        self._on_commit(args or (), kwargs or {}, options)

    def _on_commit(self, args, kwargs, options) -> None:
        from django.db import transaction

        transaction.on_commit(functools.partial(self._publish_saved, args, kwargs, options))

    def _publish_saved(self, args, kwargs, options) -> None:
        try:
            self.apply_async(args, kwargs, **options)
        except (OperationalError, OSError) as error:
            log.warning("broker unreachable, %s%s not queued now (a periodic sweep will): %s", self.name, args, error)


app = Celery("annotator", task_cls=Task)
app.config_from_object("django.conf:settings", namespace="CELERY")
# Background functions live in `jobs.py` modules: "tasks" means Scale tasks here.
app.autodiscover_tasks(related_name="jobs")
