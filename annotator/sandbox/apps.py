from __future__ import annotations

from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "annotator.sandbox"
    label = "sandbox"
    verbose_name = "Scale sandbox"
