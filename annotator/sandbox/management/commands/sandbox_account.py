"""Create or update a sandbox account, so any workspace can get sandbox keys."""

from __future__ import annotations

import json
import secrets

from django.core.management.base import BaseCommand, CommandError

from annotator.sandbox.models import SandboxAccount, ensure_project


class Command(BaseCommand):
    help = "Create (or update) a sandbox account: its API key and the key its callbacks carry."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--api-key", help="The API key (default: a new test_... key).")
        parser.add_argument(
            "--callback-auth-key", help="Sent as scale-callback-auth on callbacks (default: a new random key)."
        )
        parser.add_argument("--callback-url", default=None, help="Default callback URL for tasks sent without one.")
        parser.add_argument(
            "--project",
            action="append",
            default=[],
            help="Create this project unless it exists (repeatable). As at Scale, tasks and batches may "
            "only name projects that exist.",
        )
        parser.add_argument("--json", action="store_true", help="Print the account as one JSON object.")

    def handle(self, *args, **options) -> None:
        api_key = options["api_key"] or "test_" + secrets.token_hex(16)
        if not api_key.strip() or ":" in api_key:
            raise CommandError("--api-key must be non-empty and must not contain ':' (HTTP Basic's separator)")
        existing = SandboxAccount.objects.filter(api_key=api_key).first()
        callback_key = options["callback_auth_key"] or (existing.callback_auth_key if existing else "")
        account = SandboxAccount.objects.ensure(api_key, callback_key or secrets.token_urlsafe(24))
        if options["callback_url"] is not None:
            account.default_callback_url = options["callback_url"]
            account.save(update_fields=["default_callback_url"])
        for name in options["project"]:
            if not name.strip() or len(name) > 200:
                raise CommandError("--project must be a name of 1 to 200 characters")
            ensure_project(account, name)
        details = {
            "api_key": account.api_key,
            "callback_auth_key": account.callback_auth_key,
            "default_callback_url": account.default_callback_url,
            "projects": sorted(account.projects.values_list("name", flat=True)),
        }
        if options["json"]:
            self.stdout.write(json.dumps(details))
        else:
            for name, value in details.items():
                self.stdout.write(f"{name}: {value}")
