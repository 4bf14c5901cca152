"""The export pages: what a person sees before, during and after an export."""

from __future__ import annotations

import pytest

from annotator.exports import service
from annotator.exports.models import Export
from tests.test_callbacks_receiver import make_task

pytestmark = pytest.mark.django_db


def seg(users, n: int, **fields):
    defaults = {"unique_id": f"street-{n}", "scale_task_id": f"{n:024x}", "scale_status": "completed",
                "payload": {"attachment": f"https://x/{n}.png", "labels": ["a"], "project": "street"}}  # fmt: skip
    defaults.update(fields)
    return make_task(users.ws_a, users.alice, **defaults)


def test_the_export_page_counts_the_selection_and_suggests_formats(alice_client, users):
    seg(users, 1)
    seg(users, 2, scale_status="pending")
    seg(users, 3, payload={"attachment": "https://x/3.png", "labels": ["a"], "project": "other"})
    page = alice_client.get("/exports/new/?project=street")
    assert page.status_code == 200
    assert page.context["total"] == 2 and page.context["completed"] == 1
    checked = {f["key"] for f in page.context["formats"] if f["checked"]}
    assert checked == {"scale", "coco", "segmentation_mask"}
    html = page.content.decode()
    assert 'name="project" value="street"' in html and "project street" in html
    assert "not completed go into Scale's JSON Lines file only" in html


def test_the_export_title_names_the_type_as_people_know_it(alice_client, users):
    seg(users, 1)
    page = alice_client.get("/exports/new/?type=segmentannotation&q=street")
    html = page.content.decode()
    assert "Tasks: segmentation tasks, matching “street”" in html
    assert "type segmentannotation" not in html


def test_an_empty_selection_says_what_to_do_and_creates_nothing(alice_client, users):
    page = alice_client.get("/exports/new/?project=nothing-here")
    assert b"Nothing to export" in page.content and b"task table" in page.content
    response = alice_client.post("/exports/new/", {"project": "nothing-here", "format": ["coco"]})
    assert response.status_code == 200
    assert "no task matches this selection" in response.content.decode()
    assert not Export.objects.exists()


def test_no_format_chosen_is_a_clear_error_and_keeps_the_selection(alice_client, users):
    seg(users, 1)
    response = alice_client.post("/exports/new/", {"project": "street"})
    assert response.status_code == 200
    assert "Choose at least one format." in response.content.decode()
    assert 'name="project" value="street"' in response.content.decode()
    assert not Export.objects.exists()


def test_unknown_filters_and_formats_are_ignored_not_500(alice_client, users):
    seg(users, 1)
    response = alice_client.post(
        "/exports/new/", {"project": "street", "status": "bogus", "since": "yesterday", "format": ["nope", "scale"]}
    )
    export = Export.objects.get()
    assert response.status_code == 302
    assert export.formats == ["scale"] and export.selection == {"project": "street"}


def test_the_page_polls_until_done_then_keeps_the_download_link(alice_client, users, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    seg(users, 1)
    export = service.create(users.ws_a, users.alice, {"project": "street"}, ["scale"])
    page = alice_client.get(f"/exports/{export.code}/")
    assert b'hx-trigger="every 1s"' in page.content and b"Waiting for a worker" in page.content
    assert alice_client.get(f"/exports/{export.code}/download").status_code == 404
    assert service.run(export.id) == "done"
    assert service.run(export.id) == "not claimed"  # a redelivered job does nothing
    poll = alice_client.get(f"/exports/{export.code}/", HTTP_HX_REQUEST="true")
    assert poll.status_code == 286  # htmx stops polling
    assert b"Download the zip" in poll.content and b"every 1s" not in poll.content
    download = alice_client.get(f"/exports/{export.code}/download")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment; filename=")
    listing = alice_client.get("/exports/")
    assert export.title.encode() in listing.content


def test_a_failed_export_says_why_and_offers_a_retry(alice_client, users, settings, tmp_path, monkeypatch):
    from annotator.exports import archive

    settings.MEDIA_ROOT = tmp_path
    seg(users, 1)
    export = service.create(users.ws_a, users.alice, {"project": "street"}, ["scale"])

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(service, "write_export", disk_full)
    assert service.run(export.id) == "failed"
    page = alice_client.get(f"/exports/{export.code}/").content.decode()
    assert "No space left on device" in page and "Try again" in page and "project=street" in page
    assert archive  # the real writer is untouched for other tests


def test_another_workspace_cannot_see_or_download_an_export(client, users, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    seg(users, 1)
    export = service.create(users.ws_a, users.alice, {}, ["scale"])
    service.run(export.id)
    client.force_login(users.charlie)
    assert client.get(f"/exports/{export.code}/").status_code == 404
    assert client.get(f"/exports/{export.code}/download").status_code == 404
    assert export.title.encode() not in client.get("/exports/").content


def test_the_table_filters_by_bulk_run_and_links_to_its_export(alice_client, users):
    from annotator.tasks.models import SubmissionGroup

    group = SubmissionGroup.objects.create(workspace=users.ws_a, name="Run 1")
    seg(users, 1, group=group)
    seg(users, 2)
    page = alice_client.get(f"/tasks/?run={group.code}")
    assert [t.unique_id for t in page.context["rows"]] == ["street-1"]
    html = page.content.decode()
    assert f'name="run" value="{group.code}"' in html
    assert f"/exports/new/?run={group.code}" in html
    assert alice_client.get("/tasks/?run=not-a-uuid").status_code == 200


def test_the_table_csv_has_name_metadata_and_the_urls_of_our_copies(alice_client, users, settings):
    import csv
    import io
    import json

    from annotator.tasks.models import ResultFile

    settings.SITE_URL = "https://dash.example"
    done = seg(users, 1, payload={"attachment": "https://x/photos/kitchen%20left.png", "labels": ["a"],
                                  "project": "street", "metadata": {"shelf": "B4", "=x": 1}})  # fmt: skip
    ResultFile.objects.create(task=done, name="indexedImage", source_url="https://s3/i", path="results/x/i.png")
    ResultFile.objects.create(task=done, name="image", source_url="https://s3/c", path="")  # the copy failed
    seg(users, 2, scale_status="pending")
    response = alice_client.get("/tasks/export.csv?project=street")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_id = {r["unique_id"]: r for r in rows}
    row = by_id["street-1"]
    assert row["name"] == "kitchen left.png"  # the attachment's file name, decoded
    assert json.loads(row["metadata"]) == {"shelf": "B4", "=x": 1}
    assert json.loads(row["result_urls"]) == {
        "indexedImage": f"https://dash.example/tasks/{done.code}/results/indexedImage"
    }
    assert by_id["street-2"]["result_urls"] == "" and by_id["street-2"]["metadata"] == ""
    # Not reviewed yet: the review columns are there, and empty (test_task_review fills them).
    assert (row["review"], row["review_comment"]) == ("", "")


def test_old_zips_are_deleted_and_the_page_offers_to_make_it_again(alice_client, users, settings, tmp_path):
    from datetime import timedelta

    from django.utils import timezone

    settings.MEDIA_ROOT = tmp_path
    seg(users, 1)
    old = service.create(users.ws_a, users.alice, {"project": "street"}, ["scale"])
    fresh = service.create(users.ws_a, users.alice, {"project": "street"}, ["scale"])
    service.run(old.id)
    service.run(fresh.id)
    Export.objects.filter(id=old.id).update(finished_at=timezone.now() - timedelta(days=settings.EXPORT_KEEP_DAYS + 1))
    zip_path = tmp_path / Export.objects.get(id=old.id).path
    assert zip_path.exists()
    assert service.delete_old() == 1
    assert not zip_path.exists() and (tmp_path / Export.objects.get(id=fresh.id).path).exists()
    page = alice_client.get(f"/exports/{old.code}/").content.decode()
    assert "Expired" in page and "Make it again" in page and "project=street" in page
    assert alice_client.get(f"/exports/{old.code}/download").status_code == 404
    assert "expired" in alice_client.get("/exports/").content.decode()
