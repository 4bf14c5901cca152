from __future__ import annotations

from django.apps import AppConfig


class ExportsConfig(AppConfig):
    # The converters in this package are pure Python; only models, jobs and
    # views (this app's Django side) touch the database.
    name = "annotator.exports"
    label = "exports"
    verbose_name = "Exports"
