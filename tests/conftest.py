from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM
# would otherwise refuse to run beside it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests import support


def pytest_configure(config):
    # Hashing three users' passwords with PBKDF2 per test costs seconds; the
    # tests are about our code, not the hasher. Worker subprocesses keep the
    # real settings (they never hash passwords).
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def users(db):
    """alice owns workspace A (bob is a member); charlie owns workspace B."""
    from django.contrib.auth.models import User

    from annotator.accounts.models import Membership, Workspace

    alice = User.objects.create_user("alice", "alice@example.org", "alice-password-1")
    bob = User.objects.create_user("bob", "bob@example.org", "bob-password-1")
    charlie = User.objects.create_user("charlie", "charlie@example.org", "charlie-password-1")
    ws_a = Workspace.objects.create(name="Team A")
    ws_b = Workspace.objects.create(name="Team B")
    Membership.objects.create(user=alice, workspace=ws_a, role=Membership.Role.OWNER)
    Membership.objects.create(user=bob, workspace=ws_a, role=Membership.Role.MEMBER)
    Membership.objects.create(user=charlie, workspace=ws_b, role=Membership.Role.OWNER)
    return _Users(alice=alice, bob=bob, charlie=charlie, ws_a=ws_a, ws_b=ws_b)


@dataclass
class _Users:
    alice: object
    bob: object
    charlie: object
    ws_a: object
    ws_b: object


@pytest.fixture
def alice_client(client, users):
    client.force_login(users.alice)
    return client


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker process on the test Redis, sharing the test database."""
    worker = support.Worker().start()
    yield worker
    worker.stop()


@pytest.fixture
def ephemeral_redis():
    """A Redis of the test's own, which the test may kill and restart."""
    from annotator.devstack import RedisServer

    server = RedisServer().start()
    yield server
    server.stop()


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        return len(self.messages)


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server, session, envelope):
        with self.box.lock:
            self.box.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server (aiosmtpd) on loopback; Django sends to it over SMTP."""
    from aiosmtpd.controller import Controller

    from annotator.devstack import free_port

    box = Mailbox()
    controller = Controller(_Handler(box), hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture(scope="session")
def browser():
    if not support.chromium_available():
        message = f"Chromium not found at {support.CHROMIUM}: browser tests cannot run"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true requires them)")
        print(f"\n\n!!! {message}; SKIPPING them. Install with: apt-get install chromium !!!\n", file=sys.stderr)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=support.CHROMIUM, args=support.CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.js_errors = errors
    yield page
    support.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        page.screenshot(path=str(support.ARTIFACTS / f"{request.node.name}-failure.png"), full_page=True)
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def login_in_browser(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


@pytest.fixture(autouse=True)
def _fresh_cache():
    # The cache (its own Redis database) holds sign-in throttles and rate-limit
    # buckets: each test starts from an empty one.
    from django.core.cache import cache

    from annotator.tasks import callbacks

    cache.clear()
    # The callback receiver remembers keys and its last drain wake-up per
    # process; a wake-up left by the previous test would hold back this one's.
    callbacks.forget_keys()
    callbacks.forget_wake()
    callbacks.clear_wake()
    yield
