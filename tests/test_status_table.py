"""The status table: filters, search, keyset pages, counts, live cells, bulk actions, CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotator.tasks.models import Task
from tests.test_callbacks_receiver import make_task


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def many(users, n: int, **fields) -> list[Task]:
    tasks = []
    for i in range(n):
        f = {"unique_id": f"row-{i:04d}", "scale_task_id": f"{i:024x}", **fields}
        tasks.append(make_task(users.ws_a, users.alice, **f))
    return tasks


def codes(response) -> list[str]:
    return [str(t.code) for t in response.context["rows"]]


def test_it_lists_only_the_current_workspace_tasks(alice_client, users):
    mine = make_task(users.ws_a, users.alice, unique_id="mine")
    make_task(users.ws_b, users.charlie, unique_id="theirs")
    response = alice_client.get("/tasks/")
    assert response.status_code == 200
    assert codes(response) == [str(mine.code)]
    assert b"theirs" not in response.content


def test_it_shows_a_helpful_empty_state(alice_client, users):
    page = alice_client.get("/tasks/").content.decode()
    assert "No tasks yet" in page
    page = alice_client.get("/tasks/?status=error").content.decode()
    assert "No task matches these filters" in page


def test_it_filters_by_status_type_project_batch_tag_and_date(alice_client, users):
    seg = make_task(
        users.ws_a,
        users.alice,
        unique_id="seg",
        payload={"attachment": "https://x/a.png", "project": "p1", "batch": "b1", "tags": ["red", "blue"]},
        scale_status="completed",
    )
    vid = make_task(
        users.ws_a,
        users.alice,
        unique_id="vid",
        task_type="videoannotation",
        payload={"attachment": "https://x/v.mp4", "project": "p2", "tags": ["green"]},
        scale_task_id="b" * 24,
    )
    failed = make_task(users.ws_a, users.alice, unique_id="failed", state=Task.State.FAILED, scale_task_id="")
    Task.objects.filter(pk=failed.pk).update(created_at=timezone.now() - timedelta(days=10))
    assert codes(alice_client.get("/tasks/?status=completed")) == [str(seg.code)]
    assert codes(alice_client.get("/tasks/?status=pending")) == [str(vid.code)]
    assert codes(alice_client.get("/tasks/?status=failed")) == [str(failed.code)]
    assert codes(alice_client.get("/tasks/?type=videoannotation")) == [str(vid.code)]
    assert codes(alice_client.get("/tasks/?project=p1")) == [str(seg.code)]
    assert codes(alice_client.get("/tasks/?batch=b1")) == [str(seg.code)]
    assert codes(alice_client.get("/tasks/?tag=blue")) == [str(seg.code)]
    assert codes(alice_client.get("/tasks/?tag=blu")) == []  # whole tags only
    since = (timezone.now() - timedelta(days=2)).date().isoformat()
    assert set(codes(alice_client.get(f"/tasks/?since={since}"))) == {str(seg.code), str(vid.code)}
    until = (timezone.now() - timedelta(days=5)).date().isoformat()
    assert codes(alice_client.get(f"/tasks/?until={until}")) == [str(failed.code)]
    # Junk filter values are ignored, not errors.
    assert alice_client.get("/tasks/?status=nope&since=2026-99-99&sort=x").status_code == 200


def test_it_searches_by_scale_id_unique_id_prefix_and_attachment_url(alice_client, users):
    a = make_task(users.ws_a, users.alice, unique_id="dash:seg:one", payload={"attachment": "https://cdn.x/one.png"})
    b = make_task(
        users.ws_a,
        users.alice,
        unique_id="other",
        scale_task_id="c" * 24,
        payload={"attachment": "https://cdn.x/two.png"},
    )
    assert codes(alice_client.get("/tasks/?q=" + "c" * 24)) == [str(b.code)]
    assert codes(alice_client.get("/tasks/?q=dash:seg")) == [str(a.code)]
    assert codes(alice_client.get("/tasks/?q=https://cdn.x/two")) == [str(b.code)]
    assert codes(alice_client.get("/tasks/?q=one.png")) == [str(a.code)]


def test_keyset_pages_cover_every_row_once_in_both_orders(alice_client, users):
    tasks = many(users, 120)
    # Ties on created_at are broken by id: give half the rows the same instant.
    Task.objects.filter(pk__in=[t.pk for t in tasks[:60]]).update(created_at=timezone.now())
    for sort in ("created_desc", "created_asc", "updated_desc", "updated_asc"):
        seen, url = [], f"/tasks/?sort={sort}"
        while url:
            response = alice_client.get(url)
            seen += codes(response)
            nxt = response.context["next_query"]
            url = f"/tasks/?{nxt}" if nxt else ""
        assert len(seen) == 120 and len(set(seen)) == 120, sort
    first = codes(alice_client.get("/tasks/"))
    assert len(first) == 50


def test_a_page_uses_no_offset_and_no_count_of_the_filtered_set(alice_client, users):
    many(users, 60)
    cursor = alice_client.get("/tasks/").context["next_cursor"]
    cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        alice_client.get(f"/tasks/?cursor={cursor}&status=pending")
    sql = " ".join(q["sql"].upper() for q in ctx.captured_queries)
    assert "OFFSET" not in sql
    counts = [q["sql"].upper() for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    # Only the capped per-status counts (each stops at COUNT_CAP), never a COUNT(*) of the whole set.
    assert counts and all("LIMIT 10001" in q for q in counts)


def test_a_junk_cursor_means_the_first_page(alice_client, users):
    many(users, 3)
    assert len(codes(alice_client.get("/tasks/?cursor=not-base64!"))) == 3


def test_counts_above_the_cap_show_a_plus(alice_client, users, monkeypatch):
    from annotator.tasks import views

    monkeypatch.setattr(views, "COUNT_CAP", 2)
    many(users, 3)
    response = alice_client.get("/tasks/")
    assert response.context["counts"]["pending"] == 3
    assert "<b>2+</b>" in response.content.decode()


def test_it_counts_tasks_per_status(alice_client, users):
    make_task(users.ws_a, users.alice, unique_id="a", scale_status="completed")
    make_task(users.ws_a, users.alice, unique_id="b", scale_task_id="b" * 24)
    make_task(users.ws_a, users.alice, unique_id="c", state=Task.State.QUEUED, scale_task_id="")
    make_task(users.ws_b, users.charlie, unique_id="d", scale_status="completed")
    counts = alice_client.get("/tasks/").context["counts"]
    assert counts["completed"] == 1 and counts["pending"] == 1 and counts["queued"] == 1 and counts["error"] == 0


def test_the_poll_swaps_only_the_cells_of_changed_rows(alice_client, users):
    old, changing = many(users, 2)
    since = timezone.now().isoformat()
    top = changing.created_at.isoformat()
    Task.objects.filter(pk=changing.pk).update(scale_status="completed", updated_at=timezone.now())
    response = alice_client.get("/tasks/", {"poll": "1", "since": since, "top": top}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert f'<template data-changed-cells><td id="st-{changing.code}" data-label="Status">' in page
    assert "status-completed" in page
    assert f"st-{old.code}" not in page
    # Rows and checkboxes are not in the poll answer when no task is new: selection and focus survive.
    assert "<tr" not in page and 'type="checkbox"' not in page and "data-new-rows" not in page
    assert 'id="task-counts"' in page and 'hx-trigger="every 4s"' in page
    # No out-of-band swap can miss its target (htmx:oobErrorNoTarget): only the counts are oob.
    assert page.count("hx-swap-oob") == 1


def test_the_poll_sends_the_rows_of_new_tasks_and_moves_its_top(alice_client, users):
    (first,) = many(users, 1)
    top = first.created_at.isoformat()
    since = timezone.now().isoformat()
    newer = make_task(users.ws_a, users.alice, unique_id="newer-one", scale_task_id="d" * 24)
    response = alice_client.get("/tasks/", {"poll": "1", "since": since, "top": top}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert f'<template data-new-rows><tr id="row-{newer.code}">' in page
    assert f"st-{first.code}" not in page  # unchanged since
    # Its cells are in its row, not sent a second time as changed cells.
    assert page.count(f'id="st-{newer.code}"') == 1
    # The next poll asks for what is newer than this one.
    assert f"top={quote(newer.created_at.isoformat())}" in page.replace("&amp;", "&")


def test_the_first_page_of_an_empty_table_polls_for_new_rows(alice_client, users):
    page = alice_client.get("/tasks/")
    assert page.context["top"] and 'id="task-rows"' in page.content.decode()
    task = make_task(users.ws_a, users.alice, unique_id="first-ever")
    response = alice_client.get(
        "/tasks/",
        {"poll": "1", "since": page.context["since_token"], "top": page.context["top"]},
        HTTP_HX_REQUEST="true",
    )
    assert f'<tr id="row-{task.code}">' in response.content.decode()


def test_more_new_tasks_than_a_page_are_offered_as_a_reload(alice_client, users, settings):
    from annotator.tasks import views

    (first,) = many(users, 1)
    top = first.created_at.isoformat()
    for i in range(views.PAGE_SIZE + 1):
        make_task(users.ws_a, users.alice, unique_id=f"burst-{i}", scale_task_id=f"{i + 1:024x}")
    response = alice_client.get("/tasks/", {"poll": "1", "since": top, "top": top}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert f"{views.PAGE_SIZE + 1} newer tasks — show" in page and "data-new-rows" not in page


def test_later_pages_and_other_sorts_never_insert_rows(alice_client, users):
    (first,) = many(users, 1)
    top = first.created_at.isoformat()
    make_task(users.ws_a, users.alice, unique_id="newer-one", scale_task_id="d" * 24)
    for extra in ({"sort": "updated_desc"}, {"cursor": "junk"}):
        response = alice_client.get("/tasks/", {"poll": "1", "since": top, "top": top, **extra}, HTTP_HX_REQUEST="true")
        assert "data-new-rows" not in response.content.decode()


def test_rows_carry_labels_for_phone_width(alice_client, users):
    many(users, 1)
    page = alice_client.get("/tasks/").content.decode()
    assert 'class="responsive tasks"' in page
    for label in ("Status", "Task", "Type", "Project", "Tags", "Created", "Updated", "Callbacks"):
        assert f'data-label="{label}"' in page


def test_long_pending_tasks_without_a_callback_are_flagged(alice_client, users, settings):
    settings.RECONCILE_AFTER = 60
    make_task(users.ws_a, users.alice, submitted_at=timezone.now() - timedelta(minutes=5))
    assert "no callback yet" in alice_client.get("/tasks/").content.decode()


def test_bulk_retry_requeues_failed_tasks_only(alice_client, users, django_capture_on_commit_callbacks):
    failed = make_task(users.ws_a, users.alice, unique_id="f", state=Task.State.FAILED, scale_task_id="")
    done = make_task(users.ws_a, users.alice, unique_id="d", scale_status="completed", scale_task_id="e" * 24)
    other = make_task(users.ws_b, users.charlie, unique_id="o", state=Task.State.FAILED, scale_task_id="")
    with django_capture_on_commit_callbacks(execute=False):
        response = alice_client.post(
            "/tasks/bulk/",
            {"action": "retry", "task": [str(failed.code), str(done.code), str(other.code)], "back": "status=failed"},
        )
    assert response.status_code == 302 and response["Location"] == "/tasks/?status=failed"
    failed.refresh_from_db()
    other.refresh_from_db()
    assert failed.state == Task.State.QUEUED
    assert other.state == Task.State.FAILED  # another workspace's task is untouched
    assert "1 skipped" in " ".join(str(m) for m in response.wsgi_request._messages)


def test_bulk_cancel_enqueues_a_cancel_for_pending_tasks_only(alice_client, users, django_capture_on_commit_callbacks):
    pending = make_task(users.ws_a, users.alice, unique_id="p")
    done = make_task(users.ws_a, users.alice, unique_id="d", scale_status="completed", scale_task_id="e" * 24)
    selected = {"action": "cancel", "task": [str(pending.code), str(done.code)], "back": "status=pending"}
    # First a confirmation: nothing is cancelled yet.
    with django_capture_on_commit_callbacks(execute=False) as jobs:
        confirm = alice_client.post("/tasks/bulk/", selected)
    assert confirm.status_code == 200 and len(jobs) == 0
    page = confirm.content.decode()
    assert "Cancel 1 task at Scale?" in page and "This cannot be undone." in page
    assert f'name="task" value="{pending.code}"' in page and str(done.code) not in page
    with django_capture_on_commit_callbacks(execute=False) as jobs:
        response = alice_client.post("/tasks/bulk/", {**selected, "confirmed": "1"})
    assert len(jobs) == 1 and response["Location"] == "/tasks/?status=pending"


def test_bulk_resubmit_makes_one_linked_task_per_failed_or_errored_task(alice_client, users):
    errored = make_task(users.ws_a, users.alice, unique_id="e1", scale_status="error")
    failed = make_task(
        users.ws_a, users.alice, unique_id="f1", state=Task.State.FAILED, scale_status="", scale_task_id=""
    )
    done = make_task(users.ws_a, users.alice, unique_id="d1", scale_status="completed", scale_task_id="e" * 24)
    picked = {"action": "resubmit", "task": [str(errored.code), str(failed.code), str(done.code)]}
    response = alice_client.post("/tasks/bulk/", picked, follow=True)
    assert "Resubmitted 2 tasks as new linked tasks. 1 skipped" in response.content.decode()
    assert set(Task.objects.filter(resubmission_of__isnull=False).values_list("resubmission_of", flat=True)) == {
        errored.pk,
        failed.pk,
    }
    again = alice_client.post("/tasks/bulk/", picked, follow=True)  # twice: nothing new
    assert "Resubmitted 0 tasks as new linked tasks. 2 had been resubmitted before." in again.content.decode()
    assert Task.objects.count() == 5


def test_it_exports_the_current_view_as_csv(alice_client, users):
    make_task(users.ws_a, users.alice, unique_id="=cmd|calc", payload={"attachment": "https://x/a.png", "tags": ["t"]})
    make_task(users.ws_a, users.alice, unique_id="plain", scale_status="completed", scale_task_id="f" * 24)
    response = alice_client.get("/tasks/export.csv?status=pending")
    assert response.streaming
    assert response["Content-Disposition"].startswith('attachment; filename="tasks-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1
    assert rows[0]["unique_id"] == "'=cmd|calc"  # never a formula in a spreadsheet
    assert rows[0]["status"] == "pending" and rows[0]["tags"] == "t"


def test_the_overview_shows_counts_and_recent_tasks(alice_client, users):
    task = make_task(users.ws_a, users.alice, unique_id="recent-one", scale_status="completed")
    page = alice_client.get("/").content.decode()
    assert "a.png" in page and f"/tasks/{task.code}/" in page  # no name given: the attachment's file name
    assert 'href="/tasks/?status=completed"' in page
    # Named as the table names them: the person's name, else the attachment's file name.
    named = make_task(users.ws_a, users.alice, unique_id="a1b2c3", name="Crossing at dusk", scale_task_id="1" * 24)
    make_task(users.ws_a, users.alice, unique_id="d4e5f6", scale_task_id="2" * 24,
              payload={"attachment": "s3://bucket/frames/cam-7.png", "labels": ["road"]})  # fmt: skip
    page = alice_client.get("/").content.decode()
    assert "Crossing at dusk" in page and "cam-7.png" in page and named.unique_id not in page


@pytest.mark.django_db(transaction=True)
def test_cancel_goes_through_scale_and_records_the_change(live_server, users, settings):
    from annotator.sandbox.models import SandboxAccount
    from annotator.scale_client import ScaleClient
    from annotator.tasks import transitions
    from annotator.tasks.models import TaskEvent

    settings.SITE_URL = live_server.url
    settings.SANDBOX_COMPLETE_AFTER = 3600  # stays pending until we cancel it
    settings.SANDBOX_FAULTS = ""
    users.ws_a.set_api_key("cancel-test-key")
    users.ws_a.save()
    SandboxAccount.objects.ensure("cancel-test-key", users.ws_a.callback_auth_key)
    at_scale = ScaleClient(f"{live_server.url}/sandbox/v1", "cancel-test-key").create_task(
        "segmentannotation", {"attachment": "https://example.org/a-640x400.png", "labels": ["road"]}
    )
    task = make_task(users.ws_a, users.alice, scale_task_id=at_scale["task_id"])
    outcome = transitions.cancel_at_scale(task.id, users.alice.id)
    task.refresh_from_db()
    assert outcome == "pending → canceled" and task.scale_status == "canceled"
    change = task.events.get(kind=TaskEvent.Kind.STATUS)
    assert change.data == {**change.data, "from": "pending", "to": "canceled", "source": "cancel"}
    assert transitions.cancel_at_scale(task.id) == "not cancellable"  # only pending tasks
