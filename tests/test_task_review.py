"""Reviewing a completed task (an audit at Scale): asked for from the task page or the table,
saved first, sent once by a job, shown from Scale's answer and its audit callback."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client

from annotator.tasks import reviews, transitions
from annotator.tasks.models import CallbackEvent, Task, TaskEvent
from tests.test_callbacks_receiver import make_task, post


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def completed(users, **fields) -> Task:
    fields.setdefault("scale_status", "completed")
    return make_task(users.ws_a, users.alice, **fields)


def review(client, task, verdict: str, comment: str = "", seq: int | None = None, **kwargs):
    seq = task.review_seq if seq is None else seq
    data = {"verdict": verdict, "comment": comment, "seq": str(seq)}
    return client.post(f"/tasks/{task.code}/review/", data, **kwargs)


def test_a_review_is_saved_queued_once_and_recorded_on_the_timeline(
    alice_client, users, django_capture_on_commit_callbacks
):
    task = completed(users)
    page = alice_client.get(f"/tasks/{task.code}/").content.decode()
    assert 'id="review-form"' in page and 'id="act-accept"' in page and 'id="act-reject"' in page

    with django_capture_on_commit_callbacks(execute=False) as jobs:
        response = review(alice_client, task, "reject", "  The car is labelled as road.  ", follow=True)
    assert len(jobs) == 1
    body = response.content.decode()
    assert "Review queued: rejected" in body and 'id="review-queued"' in body
    assert 'id="review-form"' not in body  # no second review while this one is on its way
    task.refresh_from_db()
    assert task.review_state == "queued" and task.review_accepted is False and task.review_seq == 1
    assert task.review_comment == "The car is labelled as road." and task.review_by == users.alice
    event = task.events.get(kind=TaskEvent.Kind.REVIEW)
    assert event.message == "Rejected by alice: “The car is labelled as road.”"
    assert event.data["review"] == "rejected" and event.data["by"] == users.alice.pk
    # The page keeps polling until the review is settled.
    assert 'hx-trigger="every 3s"' in body

    # The same button pressed again (the same form, the same seq): nothing new.
    with django_capture_on_commit_callbacks(execute=False) as jobs:
        again = review(alice_client, task, "reject", "The car is labelled as road.", seq=0, follow=True)
    assert jobs == [] and reviews.ON_ITS_WAY in again.content.decode()
    task.refresh_from_db()
    assert task.review_seq == 1 and task.events.filter(kind=TaskEvent.Kind.REVIEW).count() == 1

    # Once sent, the old form still asks nothing new; a fresh one (seq 1) may change the review.
    Task.objects.filter(pk=task.pk).update(review_state="sent", review_status="rejected")
    with django_capture_on_commit_callbacks(execute=False) as jobs:
        stale = review(alice_client, task, "reject", seq=0, follow=True)
    assert jobs == [] and reviews.ASKED_BEFORE in stale.content.decode()
    with django_capture_on_commit_callbacks(execute=False) as jobs:
        review(alice_client, task, "accept", seq=1)
    task.refresh_from_db()
    assert len(jobs) == 1 and task.review_state == "queued" and task.review_accepted is True


@pytest.mark.parametrize("status", ["pending", "error", "canceled"])
def test_only_a_completed_task_can_be_reviewed(alice_client, users, status, django_capture_on_commit_callbacks):
    task = make_task(users.ws_a, users.alice, scale_status=status)
    assert 'id="review-form"' not in alice_client.get(f"/tasks/{task.code}/").content.decode()
    with django_capture_on_commit_callbacks(execute=False) as jobs:
        response = review(alice_client, task, "accept", follow=True)
    assert jobs == []
    assert f"Only a task completed at Scale can be reviewed; this one is {status}." in response.content.decode()
    task.refresh_from_db()
    assert task.review_state == "" and task.review_seq == 0


@pytest.mark.parametrize(
    "data",
    [
        {"verdict": "maybe", "seq": "0"},
        {"verdict": "accept", "seq": "x"},
        {"verdict": "accept"},
        {"verdict": "accept", "seq": "-1"},
        {"verdict": "accept", "seq": "9" * 40},
        {},
    ],
)
def test_a_malformed_review_is_a_400_not_a_500(alice_client, users, data):
    task = completed(users)
    response = alice_client.post(f"/tasks/{task.code}/review/", data)
    assert response.status_code == 400
    task.refresh_from_db()
    assert task.review_state == ""


def test_a_too_long_comment_is_refused_with_a_message(alice_client, users):
    task = completed(users)
    response = review(alice_client, task, "reject", "x" * (reviews.COMMENT_MAX_LENGTH + 1), follow=True)
    assert "A comment can have at most 5,000 characters" in response.content.decode()
    task.refresh_from_db()
    assert task.review_state == ""


def test_only_members_review_and_csrf_holds(client, users):
    task = completed(users)
    client.force_login(users.charlie)  # another workspace
    assert review(client, task, "accept").status_code == 404
    assert client.get(f"/tasks/{task.code}/review/").status_code in (404, 405)

    bob = Client(enforce_csrf_checks=True)  # a member, without the page's CSRF token
    bob.force_login(users.bob)
    assert review(bob, task, "accept").status_code == 403
    assert Client().post(f"/tasks/{task.code}/review/", {"verdict": "accept", "seq": "0"}).status_code == 302  # sign in
    task.refresh_from_db()
    assert task.review_state == "" and not task.events.exists()

    # With the token from the page, a member may.
    page = bob.get(f"/tasks/{task.code}/").content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    data = {"verdict": "accept", "seq": "0", "csrfmiddlewaretoken": token}
    assert bob.post(f"/tasks/{task.code}/review/", data).status_code == 302
    task.refresh_from_db()
    assert task.review_state == "queued" and task.review_by == users.bob


def test_reviewing_a_selection_asks_for_the_comment_then_queues_the_completed_ones(
    alice_client, users, django_capture_on_commit_callbacks
):
    done = [completed(users, unique_id=f"d-{i}", scale_task_id=f"{i:024x}") for i in range(2)]
    pending = make_task(users.ws_a, users.alice, unique_id="p-1", scale_task_id="f" * 24)
    picked = [str(t.code) for t in [*done, pending]]
    confirm = alice_client.post("/tasks/bulk/", {"task": picked, "action": "reject", "back": "status=completed"})
    page = confirm.content.decode()
    assert "Reject 2 tasks at Scale?" in page and 'name="comment"' in page
    assert "1 other selected task is not completed at Scale" in page
    assert "p-1" not in page

    data = {
        "task": picked,
        "action": "reject",
        "confirmed": "1",
        "comment": "Masks are offset.",
        "back": "status=completed",
        **{f"seq-{t.code}": "0" for t in done},
    }
    with django_capture_on_commit_callbacks(execute=False) as jobs:
        response = alice_client.post("/tasks/bulk/", data)
    assert response.status_code == 302 and response.url == "/tasks/?status=completed"
    assert len(jobs) == 2
    for t in done:
        t.refresh_from_db()
        assert (t.review_state, t.review_accepted, t.review_comment) == ("queued", False, "Masks are offset.")
    pending.refresh_from_db()
    assert pending.review_state == ""

    # The confirmation posted twice: nothing asked twice.
    with django_capture_on_commit_callbacks(execute=False) as jobs:
        again = alice_client.post("/tasks/bulk/", data, follow=True)
    assert jobs == [] and "2 already had this review on its way" in again.content.decode()
    # The table shows it.
    table = alice_client.get("/tasks/").content.decode()
    assert table.count(">review queued</span>") == 2


def test_another_workspace_cannot_review_through_the_table(client, users, django_capture_on_commit_callbacks):
    task = completed(users)
    client.force_login(users.charlie)
    data = {"task": [str(task.code)], "action": "accept", "confirmed": "1", f"seq-{task.code}": "0"}
    with django_capture_on_commit_callbacks(execute=False) as jobs:
        client.post("/tasks/bulk/", data)
    assert jobs == []
    task.refresh_from_db()
    assert task.review_state == ""


def audit_callback(task: Task, audits, updated_at: str = "2026-01-02T10:00:00.000Z") -> dict:
    snapshot = {
        "task_id": task.scale_task_id,
        "status": "completed",
        "updated_at": updated_at,
        "unique_id": task.unique_id,
        "response": {"annotations": {}},
    }
    if audits is not ...:
        snapshot["audits"] = audits
    return {"task_id": task.scale_task_id, "status": "completed", "response": snapshot["response"], "task": snapshot}


def apply_latest(client, users, body) -> str:
    response = post(client, users.ws_a, body)
    assert response.status_code == 200, response.content
    event = CallbackEvent.objects.order_by("-id").first()
    return transitions.apply_callback_event(event.pk)


AUDIT = {
    "audited_by": "api",
    "audited_at": "2026-01-02T10:00:00.000Z",
    "audit_time_secs": 0,
    "audit_result": "rejected",
    "audit_source": "customer",
    "comments": "Wrong lane.",
}


@pytest.mark.parametrize(
    "audits",
    [
        ...,
        None,
        "rejected",
        42,
        {},
        [],
        [None, 1, "x", []],
        [{}],
        [{"audit_result": None}],
        [{"audit_result": ["accepted"]}],
        [{"audit_result": "accepted", "audited_at": "not a date"}],
        [{"audit_result": "accepted", "audited_at": 1700000000}],
        [{"audit_result": "accepted", "audited_at": "9999-12-31T23:59:59Z"}],
        [{"audit_result": "accepted", "audited_at": "2026-13-45T99:99:99Z"}],
        [{"audit_result": "accepted", "comments": {"nested": True}}],
        [{"audit_result": "x" * 500}],
        [{"audit_result": "accepted", "comments": "\u0000\ud800 zero"}],
    ],
)
def test_an_audit_callback_of_any_shape_is_taken_without_an_error(client, users, audits):
    task = completed(users)
    outcome = apply_latest(client, users, audit_callback(task, audits))
    assert outcome.startswith("no change")
    task.refresh_from_db()
    assert len(task.review_status) <= 20
    assert alice_page(client, users, task).status_code == 200


def alice_page(client, users, task):
    client.force_login(users.alice)
    return client.get(f"/tasks/{task.code}/")


def test_the_audit_callback_sets_the_review_shown_and_a_stale_one_does_not_undo_it(client, users):
    task = completed(users)
    outcome = apply_latest(client, users, audit_callback(task, [AUDIT]))
    assert outcome == "no change; review: rejected"
    task.refresh_from_db()
    assert (task.review_status, task.review_comment) == ("rejected", "Wrong lane.")
    assert task.events.filter(kind=TaskEvent.Kind.REVIEW, message="Scale reports the review: rejected “Wrong lane.”")
    page = alice_page(client, users, task).content.decode()
    assert 'id="review-status">rejected<' in page and "“Wrong lane.”" in page

    # Accepted later, then the older callback arrives again out of order: still accepted.
    later = {**AUDIT, "audit_result": "accepted", "audited_at": "2026-01-03T10:00:00.000Z", "comments": ""}
    apply_latest(client, users, audit_callback(task, [AUDIT, later], "2026-01-03T10:00:00.000Z"))
    older = audit_callback(task, [AUDIT], "2026-01-02T10:00:00.000Z")
    older["task"]["metadata"] = {"again": True}  # another body: not dropped as a duplicate
    apply_latest(client, users, older)
    task.refresh_from_db()
    assert (task.review_status, task.review_comment) == ("accepted", "")
    assert task.events.filter(kind=TaskEvent.Kind.REVIEW).count() == 2


def test_the_callback_of_the_review_being_sent_settles_it(client, users, django_capture_on_commit_callbacks):
    """Scale's answer to the audit was lost, its callback was not: the review is done, and the
    job that would send it again stands down."""
    task = completed(users)
    alice = Client()
    alice.force_login(users.alice)
    with django_capture_on_commit_callbacks(execute=False):
        review(alice, task, "reject", "Wrong lane.")
    task.refresh_from_db()
    now = task.review_requested_at.isoformat().replace("+00:00", "Z")
    apply_latest(client, users, audit_callback(task, [{**AUDIT, "audited_at": now}], now))
    task.refresh_from_db()
    assert (task.review_state, task.review_status, task.review_comment) == ("sent", "rejected", "Wrong lane.")
    assert reviews.send(task.pk, task.review_seq) == "nothing to send"


def test_the_csv_export_has_the_review_and_its_comment(alice_client, users):
    completed(users, unique_id="a", scale_task_id="a" * 24, review_status="accepted", review_state="sent")
    completed(
        users,
        unique_id="r",
        scale_task_id="b" * 24,
        review_status="rejected",
        review_state="sent",
        review_comment="=HYPERLINK(bad)",
    )
    completed(users, unique_id="n", scale_task_id="c" * 24)
    response = alice_client.get("/tasks/export.csv")
    rows = {r["unique_id"]: r for r in csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))}
    assert (rows["a"]["review"], rows["a"]["review_comment"]) == ("accepted", "")
    assert (rows["r"]["review"], rows["r"]["review_comment"]) == ("rejected", "'=HYPERLINK(bad)")
    assert (rows["n"]["review"], rows["n"]["review_comment"]) == ("", "")


def test_the_latest_audit_is_read_from_any_list():
    assert reviews.latest_audit([AUDIT])[:2] == ("rejected", "Wrong lane.")
    newer_first = [{**AUDIT, "audited_at": "2026-02-01T00:00:00Z", "audit_result": "accepted"}, AUDIT]
    assert reviews.latest_audit(newer_first)[0] == "accepted"
    assert reviews.latest_audit([AUDIT, {"audit_result": "fixed"}])[0] == "fixed"  # undated: Scale's order
    assert reviews.latest_audit(json.loads('[{"audit_result": " "}]')) is None


def test_a_review_whose_job_was_lost_is_queued_again_by_the_sweep(users, settings):
    """Redis away when the review was asked for: the row is the record, the periodic pass re-queues it."""
    from datetime import timedelta

    from django.utils import timezone

    old = timezone.now() - timedelta(seconds=settings.SUBMIT_SWEEP_AFTER + 60)
    waiting = completed(users, unique_id="w", scale_task_id="a" * 24, review_state="queued", review_seq=1)
    fresh_one = completed(users, unique_id="f", scale_task_id="b" * 24, review_state="queued", review_seq=1)
    completed(users, unique_id="s", scale_task_id="c" * 24, review_state="sent", review_seq=1)
    dead = completed(users, unique_id="d", scale_task_id="d" * 24, review_state="sending", review_claimed_at=old)
    Task.objects.filter(pk__in=[waiting.pk, dead.pk]).update(updated_at=old)
    assert reviews.sweep() == 2  # the one just queued has its job; the sent one is done
    assert fresh_one.review_state == "queued"


def test_a_nul_in_a_comment_is_dropped_not_a_500(alice_client, users, django_capture_on_commit_callbacks):
    task = completed(users)
    with django_capture_on_commit_callbacks(execute=False):
        response = review(alice_client, task, "reject", "bad\x00mask")
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.review_comment == "badmask"


# --- Through a real worker and the sandbox over HTTP -------------------------


def sandbox_task(live_server, users) -> Task:
    from annotator.submission import pipeline

    payload = {"attachment": f"{live_server.url}/sandbox/media/street-1.png", "labels": ["road", "car"]}
    return pipeline.create_task(users.ws_a, users.alice, "segmentannotation", payload)


def fresh(task: Task) -> Task:
    task.refresh_from_db()
    return task


@pytest.mark.django_db(transaction=True)
def test_a_review_survives_a_scale_outage_is_sent_once_and_its_audit_callback_comes_back(live_server, users, settings):
    from annotator.accounts.models import Workspace
    from annotator.devstack import free_port
    from annotator.sandbox.models import CallbackDelivery, SandboxTask
    from tests import support
    from tests.test_task_page_browser import sandbox_worker

    # Quick retries, so the outage spans a few attempts.
    worker = sandbox_worker(
        live_server, users, settings, complete_after="1", SUBMIT_BACKOFF_BASE="0.2", SUBMIT_BACKOFF_CAP="0.5",
        SUBMIT_MAX_ATTEMPTS="100",
    )  # fmt: skip
    try:
        task = sandbox_task(live_server, users)
        support.wait_until(lambda: fresh(task).display_status == "completed", timeout=60, message="completed")
        alice = Client()
        alice.force_login(users.alice)

        # Scale is unreachable: the review waits, saved, and is retried.
        Workspace.objects.filter(pk=users.ws_a.pk).update(
            target=Workspace.Target.SCALE, api_base_url=f"http://127.0.0.1:{free_port()}/v1"
        )
        review(alice, task, "reject", "The car on the left is labelled as road.")
        support.wait_until(lambda: fresh(task).review_attempts >= 2, timeout=60, message="retries")
        assert task.review_state in ("queued", "sending")
        page = alice.get(f"/tasks/{task.code}/").content.decode()
        assert 'id="review-queued"' in page and "Review queued: rejected" in page
        assert "Could not connect to Scale" in fresh(task).review_error or task.review_state == "sending"
        # The button pressed again while it waits: nothing new.
        review(alice, task, "reject", "The car on the left is labelled as road.", seq=0)

        # Scale is back: the same review goes through, once.
        Workspace.objects.filter(pk=users.ws_a.pk).update(target=Workspace.Target.SANDBOX, api_base_url="")
        support.wait_until(lambda: fresh(task).review_state == "sent", timeout=60, message="the review sent")
        at_scale = SandboxTask.objects.get(task_id=task.scale_task_id)
        assert [(a["audit_result"], a.get("comments")) for a in at_scale.audits] == [
            ("rejected", "The car on the left is labelled as road.")
        ]
        assert (task.review_status, task.review_comment) == ("rejected", "The car on the left is labelled as road.")

        # The sandbox calls back about the audit; the receiver takes it and applies it.
        support.wait_until(
            lambda: (
                CallbackDelivery.objects.filter(task=at_scale, kind="audit", succeeded=True).exists()
                and CallbackEvent.objects.filter(scale_task_id=task.scale_task_id, processed_at__isnull=False).count()
                == 2
            ),
            timeout=60,
            message="the audit callback applied",
        )
    finally:
        worker.stop()
    audit_event = CallbackEvent.objects.filter(scale_task_id=task.scale_task_id).order_by("-id").first()
    assert json.loads(audit_event.body)["task"]["audits"][0]["audit_result"] == "rejected"
    task = fresh(task)
    assert task.callback_count == 2 and task.review_status == "rejected"
    steps = [e.data.get("step") for e in task.events.filter(kind=TaskEvent.Kind.REVIEW)]
    # Usually the job records Scale's answer before the audit callback makes its way back; if the
    # callback wins, it settles the review and the job stands down. Either way, one of each.
    assert (steps, audit_event.outcome) in (
        (["asked", "sent"], "no change; review rejected already known"),
        (["asked", "reported"], "no change; review: rejected"),
    ), (steps, audit_event.outcome)
    page = alice.get(f"/tasks/{task.code}/").content.decode()
    assert 'id="review-status">rejected<' in page and 'id="review-queued"' not in page
    assert 'id="review-form"' in page  # the review may be changed


@pytest.mark.django_db(transaction=True)
def test_scales_refusal_is_shown_in_clear_words_and_the_review_can_be_asked_again(live_server, users, settings):
    from tests import support
    from tests.test_task_page_browser import sandbox_worker

    worker = sandbox_worker(live_server, users, settings, complete_after="600")  # stays pending at the sandbox
    try:
        task = sandbox_task(live_server, users)
        support.wait_until(lambda: fresh(task).display_status == "pending", timeout=60, message="pending")
        # As if this side believed it completed (a recall at Scale we have not heard of yet).
        Task.objects.filter(pk=task.pk).update(scale_status="completed")
        alice = Client()
        alice.force_login(users.alice)
        review(alice, fresh(task), "accept")
        support.wait_until(lambda: fresh(task).review_state == "failed", timeout=60, message="refused")
    finally:
        worker.stop()
    assert task.review_attempts == 1  # a 400 is not retried
    assert task.review_error.startswith("Scale refused the review: HTTP 400: ")
    assert "only completed tasks can be audited" in task.review_error
    page = alice.get(f"/tasks/{task.code}/").content.decode()
    assert 'id="review-error"' in page and "The review (accepted) was not sent." in page
    assert "only completed tasks can be audited" in page and 'id="review-form"' in page
    assert task.events.filter(kind=TaskEvent.Kind.REVIEW, data__step="failed").count() == 1
    assert task.review_status == ""


@pytest.mark.django_db(transaction=True)
def test_a_try_after_one_that_reached_scale_sends_nothing_more(live_server, users, settings):
    """A worker POSTed the audit, Scale took it, and the worker died before recording it: the
    sweep's next try finds the audit on Scale's task and does not add a second one."""
    from datetime import timedelta

    from django.utils import timezone

    from annotator.sandbox.models import SandboxTask
    from annotator.submission import pipeline
    from tests import support
    from tests.test_task_page_browser import sandbox_worker

    worker = sandbox_worker(live_server, users, settings, complete_after="1")
    try:
        task = sandbox_task(live_server, users)
        support.wait_until(lambda: fresh(task).display_status == "completed", timeout=60, message="completed")
    finally:
        worker.stop()  # from here on nothing runs but what the test calls
    comment = "Sky bleeds into the trees."
    # The first try: claimed, sent, answered... and its worker gone before it wrote anything.
    long_ago = timezone.now() - timedelta(seconds=settings.SUBMIT_CLAIM_TIMEOUT + 60)
    Task.objects.filter(pk=task.pk).update(
        review_state="sending", review_accepted=False, review_comment=comment, review_seq=1, review_attempts=1,
        review_requested_at=timezone.now() - timedelta(seconds=1), review_claimed_at=long_ago,
    )  # fmt: skip
    pipeline.client_for(users.ws_a).audit_task(task.scale_task_id, False, comment)

    assert reviews.send(task.pk, 1) == "at Scale already"

    at_scale = SandboxTask.objects.get(task_id=task.scale_task_id)
    assert [(a["audit_result"], a.get("comments")) for a in at_scale.audits] == [("rejected", comment)]
    task = fresh(task)
    assert (task.review_state, task.review_status, task.review_attempts) == ("sent", "rejected", 2)
    found = task.events.get(kind=TaskEvent.Kind.REVIEW, data__step="found")
    assert "an earlier try reached it. Not sent again." in found.message
    # A try whose predecessor did not reach Scale still sends.
    Task.objects.filter(pk=task.pk).update(
        review_state="sending", review_accepted=True, review_comment="", review_seq=2, review_attempts=1,
        review_requested_at=timezone.now(), review_claimed_at=long_ago,
    )  # fmt: skip
    assert reviews.send(task.pk, 2) == "sent: accepted"
    at_scale.refresh_from_db()
    assert [a["audit_result"] for a in at_scale.audits] == ["rejected", "accepted"]
