"""Create (or refresh) the demo login and a workspace that targets the sandbox."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings

from annotator.accounts.models import Membership, Workspace
from annotator.devstack import running_site_url

DEMO_USERNAME = "demo"
DEMO_WORKSPACE = "Demo workspace"


class Command(BaseCommand):
    help = "Idempotently create a demo user and a demo workspace that targets the built-in sandbox."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the details as one JSON object.")

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        password = os.environ.get("DEMO_PASSWORD", "annotator-demo")
        user, _ = get_user_model().objects.get_or_create(username=DEMO_USERNAME, defaults={"email": "demo@localhost"})
        # Only when it differs: a new hash (new salt) signs the demo user out of every browser,
        # so each `make run` used to end the session of whoever was trying the demo.
        if not user.check_password(password):
            user.set_password(password)
            user.save()

        workspace = Workspace.objects.filter(name=DEMO_WORKSPACE, members=user).first()
        if workspace is None:
            workspace = Workspace(name=DEMO_WORKSPACE, target=Workspace.Target.SANDBOX)
            # Scale's SDK treats keys starting with test_ as test keys; the sandbox does too.
            workspace.set_api_key("test_demo_" + secrets.token_hex(12))
            workspace.default_project = "demo-project"
            workspace.save()
            Membership.objects.create(user=user, workspace=workspace, role=Membership.Role.OWNER)
        api_key = workspace.get_api_key()

        if apps.is_installed("annotator.sandbox"):
            # The sandbox plays Scale: it must know this key and sign its
            # callbacks with the workspace's callback auth key.
            from annotator.sandbox.models import SandboxAccount, ensure_project

            account = SandboxAccount.objects.ensure(api_key=api_key, callback_auth_key=workspace.callback_auth_key)
            if workspace.default_project:
                # As at Scale, tasks may only name a project that exists.
                ensure_project(account, workspace.default_project)

        # Run beside `make run`, report the URL the running stack serves (it may
        # have moved off port 8000), unless SITE_URL says otherwise.
        site_url = settings.SITE_URL
        if "SITE_URL" not in os.environ:
            site_url = running_site_url(Path(settings.DATA_DIR)) or site_url
        with override_settings(SITE_URL=site_url):
            details = {
                "username": DEMO_USERNAME,
                "password": password,
                "workspace": workspace.name,
                "site_url": site_url,
                "callback_url": workspace.callback_url,
                "callback_auth_key": workspace.callback_auth_key,
                "api_base_url": workspace.scale_base_url,
                "api_key": api_key,
            }
        if options["json"]:
            self.stdout.write(json.dumps(details))
            return
        self.stdout.write(f"Demo login: {DEMO_USERNAME} / {password}  (workspace: {workspace.name})")
        self.stdout.write(f"Scale endpoint: {details['api_base_url']}  site: {site_url}")
