"""Acting on one task from its page: resubmit (a new linked task, once), cancel (after a
confirmation, only while pending at Scale), duplicate (the composer, filled)."""

from __future__ import annotations

import json

import pytest

from annotator.tasks.models import Task, TaskEvent
from tests.test_callbacks_receiver import make_task


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def errored(users, **fields) -> Task:
    payload = {
        "attachment": "https://x.org/a.png",
        "labels": ["road"],
        "unique_id": "u-1",
        "callback_url": "https://old/cb/",
    }
    return make_task(users.ws_a, users.alice, unique_id="u-1", payload=payload, scale_status="error", **fields)


def test_an_errored_task_is_resubmitted_once_as_a_new_linked_task(
    alice_client, users, django_capture_on_commit_callbacks
):
    old = errored(users, name="Shop front")
    with django_capture_on_commit_callbacks(execute=False):
        response = alice_client.post(f"/tasks/{old.code}/resubmit/")
    new = Task.objects.exclude(pk=old.pk).get()
    assert response.status_code == 302 and response.url == f"/tasks/{new.code}/"
    assert new.resubmission_of == old and new.name == "Shop front" and new.state == Task.State.QUEUED
    assert new.unique_id != "u-1" and new.payload["unique_id"] == new.unique_id
    assert new.payload["callback_url"] == users.ws_a.callback_url  # the workspace's, not the old one
    assert {k: v for k, v in new.payload.items() if k not in ("unique_id", "callback_url")} == {
        "attachment": "https://x.org/a.png",
        "labels": ["road"],
    }
    assert TaskEvent.objects.filter(task=old, message=f"Resubmitted as {new.unique_id}").exists()
    # Both pages show the link.
    assert (
        f'href="/tasks/{new.code}/" class="link-resubmitted-as"'
        in alice_client.get(f"/tasks/{old.code}/").content.decode()
    )
    assert (
        f'href="/tasks/{old.code}/" id="link-resubmission-of"'
        in alice_client.get(f"/tasks/{new.code}/").content.decode()
    )

    # A second click makes nothing new: it leads to the first resubmission.
    again = alice_client.post(f"/tasks/{old.code}/resubmit/", follow=True)
    assert Task.objects.count() == 2
    assert "already resubmitted" in again.content.decode()


def test_a_failed_submission_can_be_resubmitted_too(alice_client, users):
    refusal = "Scale refused the task (HTTP 400): geometries: is required for videoplaybackannotation"
    old = make_task(users.ws_a, users.alice, state=Task.State.FAILED, scale_task_id="", scale_status="",
                    last_error=refusal)  # fmt: skip
    page = alice_client.get(f"/tasks/{old.code}/").content.decode()
    # Its response card says why there is none, not that Scale has yet to answer.
    assert f'id="response-refused">Scale did not take this task, so it has no response: {refusal}<' in page
    assert "No response from Scale yet" not in page
    # Without an attempt on record (a row failed by other means), resubmitting is offered as usual.
    assert ">Resubmit as a new task<" in page
    alice_client.post(f"/tasks/{old.code}/resubmit/")
    assert Task.objects.filter(resubmission_of=old).count() == 1


@pytest.mark.parametrize("status", ["pending", "completed", "canceled"])
def test_only_failed_or_errored_tasks_are_resubmitted(alice_client, users, status):
    task = make_task(users.ws_a, users.alice, scale_status=status)
    response = alice_client.post(f"/tasks/{task.code}/resubmit/", follow=True)
    assert f"Only a failed or errored task can be resubmitted; this one is {status}." in response.content.decode()
    assert Task.objects.count() == 1
    assert 'id="act-resubmit"' not in alice_client.get(f"/tasks/{task.code}/").content.decode()


def test_another_workspace_cannot_act_on_a_task(client, users):
    task = errored(users)
    client.force_login(users.charlie)
    assert client.post(f"/tasks/{task.code}/resubmit/").status_code == 404
    assert client.get(f"/tasks/{task.code}/cancel/").status_code == 404
    assert client.post(f"/tasks/{task.code}/cancel/").status_code == 404
    assert Task.objects.count() == 1


def test_cancel_asks_first_and_only_a_pending_task_can_be_cancelled(
    alice_client, users, django_capture_on_commit_callbacks
):
    pending = make_task(users.ws_a, users.alice, scale_status="pending")
    confirm = alice_client.get(f"/tasks/{pending.code}/cancel/").content.decode()
    assert "This cannot be undone" in confirm and 'id="confirm-cancel"' in confirm
    with django_capture_on_commit_callbacks(execute=False) as jobs:
        response = alice_client.post(f"/tasks/{pending.code}/cancel/", follow=True)
    assert len(jobs) == 1 and "Asked Scale to cancel" in response.content.decode()

    done = make_task(users.ws_a, users.alice, unique_id="done", scale_task_id="e" * 24, scale_status="completed")
    response = alice_client.get(f"/tasks/{done.code}/cancel/", follow=True)
    assert "Only a task pending at Scale can be cancelled; this one is completed." in response.content.decode()


def test_duplicate_posts_the_payload_without_its_unique_id_to_the_composer(alice_client, users):
    task = errored(users)
    page = alice_client.get(f"/tasks/{task.code}/").content.decode()
    assert 'action="/compose/segmentannotation/"' in page and 'id="act-edit-as-new"' in page
    sent = json.loads(alice_client.get(f"/tasks/{task.code}/").context["again_json"])
    assert sent == {"attachment": "https://x.org/a.png", "labels": ["road"]}
    composer = alice_client.post("/compose/segmentannotation/", {"action": "import", "import_json": json.dumps(sent)})
    assert composer.status_code == 200 and "https://x.org/a.png" in composer.content.decode()


def test_a_payload_scale_refused_is_offered_for_fixing_first(alice_client, users):
    """Resubmitting a payload Scale refused sends the same refusal again (a new user did, and got a
    second failure and a second email): fixing it in the composer is the first button."""
    from django.utils import timezone

    from annotator.tasks.models import SubmissionAttempt

    refused = make_task(users.ws_a, users.alice, state=Task.State.FAILED, scale_task_id="", scale_status="",
                        last_error="geometries: is required")  # fmt: skip
    SubmissionAttempt.objects.create(
        task=refused, started_at=timezone.now(), status_code=400, outcome="permanent", error="geometries: is required"
    )
    page = alice_client.get(f"/tasks/{refused.code}/").content.decode()
    assert 'class="small primary" id="act-edit-as-new">Fix and resubmit…<' in page
    assert 'id="act-resubmit" aria-describedby="resubmit-unchanged-help">Resubmit unchanged<' in page
    assert 'id="resubmit-unchanged-help"' in page
    # Gave up after temporary errors: the same payload may well go through now.
    gave_up = make_task(users.ws_a, users.alice, unique_id="g", state=Task.State.FAILED, scale_task_id="",
                        scale_status="", last_error="Gave up after 3 attempts")  # fmt: skip
    SubmissionAttempt.objects.create(
        task=gave_up, started_at=timezone.now(), status_code=503, outcome="temporary", error="Service unavailable"
    )
    page = alice_client.get(f"/tasks/{gave_up.code}/").content.decode()
    assert 'class="small primary" id="act-resubmit">Resubmit as a new task<' in page
    assert ">Duplicate / edit as new<" in page and "Fix and resubmit" not in page
