"""Callbacks end to end: real HTTP, a real worker on Redis, a real SMTP server."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests

from annotator.tasks.models import CallbackEvent, Notification, TaskEvent
from tests import support
from tests.test_callbacks_receiver import fixture, make_task


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def mail_worker(smtp_server, **env) -> support.Worker:
    # The worker is another process: it reaches aiosmtpd through its environment.
    return support.Worker(
        concurrency=2, EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(smtp_server.port), EMAIL_USE_TLS="false", **env
    ).start()


@pytest.mark.django_db(transaction=True)
def test_the_same_callback_50_times_10_at_once_changes_the_status_once_and_sends_one_email(
    live_server, users, smtp_server, settings
):
    settings.SITE_URL = live_server.url
    task = make_task(users.ws_a, users.alice, scale_task_id="6651b2e8a4c9f10017d3b8e2", unique_id="dash:err:1")
    body = json.dumps(fixture("callback-task-error.json"))
    url = f"{live_server.url}/callbacks/{users.ws_a.callback_token}/"
    headers = {"scale-callback-auth": users.ws_a.callback_auth_key, "content-type": "application/json"}
    worker = mail_worker(smtp_server, SITE_URL=live_server.url)
    try:
        with ThreadPoolExecutor(max_workers=10) as pool:
            codes = list(
                pool.map(lambda _: requests.post(url, data=body, headers=headers, timeout=10).status_code, range(50))
            )
        assert codes == [200] * 50
        support.wait_until(lambda: len(smtp_server.messages) >= 1, timeout=30, message="the email")
        support.wait_until(
            lambda: Notification.objects.filter(sent_at__isnull=False).count() == 1, timeout=10, message="sent"
        )
    finally:
        worker.stop()
    assert CallbackEvent.objects.count() == 1
    assert TaskEvent.objects.filter(task=task, kind=TaskEvent.Kind.STATUS).count() == 1
    assert TaskEvent.objects.filter(task=task, kind=TaskEvent.Kind.CALLBACK).count() == 1
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["To"] == "alice@example.org"
    assert "Error" in message["Subject"]
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    assert "One or more attachments could not be downloaded." in text
    assert f"{live_server.url}/tasks/{task.code}/" in text
    task.refresh_from_db()
    assert task.scale_status == "error" and task.callback_count == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_send_is_retried_and_never_blocks_the_status_update(live_server, users, smtp_server, settings):
    from annotator.devstack import free_port

    task = make_task(users.ws_a, users.alice, scale_task_id="6651b2e8a4c9f10017d3b8e2", unique_id="dash:err:2")
    # Nobody listens on this port: every send fails, the job retries with backoff.
    worker = support.Worker(
        concurrency=2, EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(free_port()), EMAIL_USE_TLS="false"
    ).start()
    try:
        response = requests.post(
            f"{live_server.url}/callbacks/{users.ws_a.callback_token}/",
            data=json.dumps(fixture("callback-task-error.json")),
            headers={"scale-callback-auth": users.ws_a.callback_auth_key},
            timeout=10,
        )
        assert response.status_code == 200
        support.wait_until(
            lambda: Notification.objects.filter(attempts__gte=1).exists(), timeout=30, message="a failed attempt"
        )
        task.refresh_from_db()
        assert task.scale_status == "error"  # applied although the email could not go
        row = Notification.objects.get()
        assert row.sent_at is None and row.claimed_at is None and row.last_error
        support.wait_until(lambda: "Retry in" in worker.log(), timeout=10, message="Celery's retry with backoff")
    finally:
        worker.stop()
    # The SMTP server is back: the pending email goes out on the next try.
    from annotator.tasks import emails

    assert emails.send_notification(row.id) == "sent"
    assert len(smtp_server.messages) == 1


@pytest.mark.django_db(transaction=True)
def test_callbacks_spread_over_several_wake_windows_are_each_applied_once(live_server, users):
    """Receivers wake a drain at most every WAKE_EVERY s; drains and their follow-ups miss nothing."""
    from annotator.tasks import callbacks

    url = f"{live_server.url}/callbacks/{users.ws_a.callback_token}/"
    headers = {"scale-callback-auth": users.ws_a.callback_auth_key, "content-type": "application/json"}
    worker = support.Worker(concurrency=2).start()
    try:
        session = requests.Session()
        ids = [f"{n:024x}" for n in range(60)]
        for task_id in ids:  # ~1.2 s in all: several wake windows, drains starting in between
            body = json.dumps({"task_id": task_id, "status": "completed"})
            assert session.post(url, data=body, headers=headers, timeout=10).status_code == 200
            time.sleep(callbacks.WAKE_EVERY / 12)
        support.wait_until(
            lambda: not CallbackEvent.objects.filter(processed_at__isnull=True).exists(),
            timeout=30,
            message="every event applied",
        )
    finally:
        worker.stop()
    events = CallbackEvent.objects.all()
    assert sorted(e.scale_task_id for e in events) == ids
    assert {e.outcome for e in events} == {"unknown task: kept"}  # applied once each: not "already processed"


def digest_passes(worker: support.Worker) -> int:
    return worker.log().count("Sending due task send-digests")


@pytest.mark.django_db(transaction=True)
def test_a_digest_goes_out_from_beat_once_its_period_has_passed_with_every_change_in_it(
    live_server, users, smtp_server, settings
):
    """Callbacks applied by the worker; beat's pass holds the digest, then sends one email for all."""
    from django.utils import timezone

    from annotator.accounts.models import Membership

    settings.SITE_URL = live_server.url
    Membership.objects.filter(user=users.alice, workspace=users.ws_a).update(notify="digest", digest_minutes=1)
    ids = [f"{n:024x}" for n in range(3)]
    for n, task_id in enumerate(ids):
        make_task(users.ws_a, users.alice, unique_id=f"bulk-{n}", scale_task_id=task_id)
    url = f"{live_server.url}/callbacks/{users.ws_a.callback_token}/"
    headers = {"scale-callback-auth": users.ws_a.callback_auth_key, "content-type": "application/json"}
    # One process with beat embedded, as `make run` has.
    worker = support.Worker(
        concurrency=1,
        beat=True,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_server.port),
        EMAIL_USE_TLS="false",
        SITE_URL=live_server.url,
        DIGEST_INTERVAL="1",
    ).start()
    try:
        for n, task_id in enumerate(ids):
            status = "error" if n == 0 else "completed"
            body = json.dumps({"task_id": task_id, "status": status, "task": {"updated_at": "2026-05-03T08:42:07Z"}})
            assert requests.post(url, data=body, headers=headers, timeout=10).status_code == 200
        support.wait_until(
            lambda: Notification.objects.filter(kind="digest").count() == 3, timeout=30, message="3 digest rows"
        )
        # Beat runs the digest pass every second; the period (1 minute) has not passed.
        support.wait_until(lambda: digest_passes(worker) >= 3, timeout=30, message="beat's passes")
        assert len(smtp_server.messages) == 0
        assert Notification.objects.filter(sent_at__isnull=False).count() == 0
        # A minute on: the changes are now as old as the period.
        Notification.objects.update(created_at=timezone.now() - timedelta(minutes=1, seconds=1))
        support.wait_until(lambda: len(smtp_server.messages) >= 1, timeout=30, message="the digest")
        passes = digest_passes(worker)
        support.wait_until(lambda: digest_passes(worker) >= passes + 3, timeout=30, message="more passes")
    finally:
        worker.stop()
    assert len(smtp_server.messages) == 1  # one email for the three changes, and no second one
    message = smtp_server.messages[0]
    assert message["To"] == "alice@example.org"
    assert message["Subject"] == "3 task updates in Team A"
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    assert "completed: 2" in text and "error: 1" in text
    assert all(f"bulk-{n}" in text for n in range(3))
    assert Notification.objects.filter(sent_at__isnull=False).count() == 3
