from __future__ import annotations

from django.apps import AppConfig


class ComposerConfig(AppConfig):
    name = "annotator.composer"
    label = "composer"
    verbose_name = "Task composer and library"
