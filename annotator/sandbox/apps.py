from __future__ import annotations

from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "annotator.sandbox"
    label = "sandbox"
    verbose_name = "Scale sandbox"

    def ready(self) -> None:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        from .faults import FaultSpecError, parse

        # A typo in SANDBOX_FAULTS stops start-up, rather than failing every create.
        try:
            parse(settings.SANDBOX_FAULTS, source="SANDBOX_FAULTS")
        except FaultSpecError as e:
            raise ImproperlyConfigured(str(e)) from None
