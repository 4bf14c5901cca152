"""The reconciler: a missed callback never leaves a task wrong for long."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from annotator.tasks import reconcile
from annotator.tasks.models import Task, TaskEvent
from tests import support
from tests.test_callbacks_receiver import make_task

SANDBOX_FIXTURES = Path(__file__).parent / "fixtures" / "sandbox"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.django_db(transaction=True)
def test_a_task_whose_callback_never_came_ends_completed_after_reconcile(live_server, users, settings):
    from annotator.submission import pipeline

    settings.SITE_URL = live_server.url
    settings.SANDBOX_COMPLETE_AFTER = 0
    settings.SANDBOX_FAULTS = ""
    ws = users.ws_a
    ws.set_api_key("reconcile-test-key")
    ws.save()
    support.sandbox_account("reconcile-test-key", ws.callback_auth_key)  # with the projects the fixtures name
    payload = json.loads((SANDBOX_FIXTURES / "segmentannotation.json").read_text())
    payload.pop("unique_id")
    # Scale will call back into the void: only the reconciler can learn the outcome.
    payload["callback_url"] = "http://127.0.0.1:9/nowhere/"
    worker = support.Worker(SITE_URL=live_server.url, SANDBOX_COMPLETE_AFTER="0").start()
    try:
        task = pipeline.create_task(ws, users.alice, "segmentannotation", payload)
        support.wait_until(
            lambda: Task.objects.filter(pk=task.pk, state=Task.State.SUBMITTED).exists(),
            timeout=30,
            message="the submission",
        )
    finally:
        worker.stop()
    task.refresh_from_db()
    assert task.scale_status == "pending" and task.callback_count == 0

    settings.RECONCILE_AFTER = 60
    assert reconcile.due(timezone.now(), 10) == []  # not quiet for long enough yet
    later = timezone.now() + timedelta(seconds=61)
    counts = reconcile.reconcile(now=later)
    assert counts["changed"] == 1
    task.refresh_from_db()
    assert task.scale_status == "completed"
    assert "indexedImage" in task.response["annotations"]["combined"]
    change = task.events.get(kind=TaskEvent.Kind.STATUS)
    assert change.data["source"] == "reconciled" and change.data["to"] == "completed"
    assert task.events.filter(kind=TaskEvent.Kind.RECONCILED).count() == 1
    # Final now: the next pass leaves it alone.
    assert reconcile.due(later + timedelta(hours=1), 10) == []


def test_only_quiet_pending_submitted_tasks_are_checked(users, settings):
    settings.RECONCILE_AFTER = 600
    long_ago = timezone.now() - timedelta(hours=2)
    quiet = make_task(users.ws_a, users.alice, unique_id="quiet", submitted_at=long_ago)
    make_task(users.ws_a, users.alice, unique_id="fresh", scale_task_id="1" * 24, submitted_at=timezone.now())
    make_task(
        users.ws_a,
        users.alice,
        unique_id="heard",
        scale_task_id="2" * 24,
        submitted_at=long_ago,
        last_callback_at=timezone.now(),
    )
    make_task(
        users.ws_a,
        users.alice,
        unique_id="done",
        scale_task_id="3" * 24,
        submitted_at=long_ago,
        scale_status="completed",
    )
    make_task(
        users.ws_a, users.alice, unique_id="queued", scale_task_id="", state=Task.State.QUEUED, submitted_at=long_ago
    )
    assert [t.pk for t in reconcile.due(timezone.now(), 10)] == [quiet.pk]
    # Checked recently: not asked again until the threshold passes once more.
    TaskEvent.objects.create(task=quiet, kind=TaskEvent.Kind.RECONCILED, message="Checked at Scale: pending")
    assert reconcile.due(timezone.now(), 10) == []
