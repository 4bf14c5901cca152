"""Draw the sandbox's demo media now (otherwise it is drawn on first request)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from annotator.sandbox import media


class Command(BaseCommand):
    help = "Create the demo images and videos under MEDIA_ROOT/sandbox/media/ and print their URLs."

    def handle(self, *args, **options) -> None:
        for path in media.ensure_all():
            self.stdout.write(f"{path} ({path.stat().st_size} bytes)")
        for name, url in media.demo_media_urls(settings.SITE_URL).items():
            self.stdout.write(f"{name}: {url}")
