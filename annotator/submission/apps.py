from __future__ import annotations

from django.apps import AppConfig


class SubmissionConfig(AppConfig):
    name = "annotator.submission"
    label = "submission"
    verbose_name = "Submission to Scale"
