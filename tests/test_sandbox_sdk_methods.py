"""Every ScaleClient method of scaleapi 2.18.4 that applies to our three task types, through
the real SDK, against the sandbox served over HTTPS (so the SDK's own retries run too).

What real Scale answers comes from the SDK's own test suite (run against Scale with a test
key) and docstrings; docs/sandbox.md has the table of methods.
"""

from __future__ import annotations

import io
import json

import pytest
import requests
import scaleapi
from PIL import Image
from scaleapi.exceptions import (
    ScaleDuplicateResource,
    ScaleInvalidRequest,
    ScaleResourceNotFound,
    ScaleTooManyRequests,
)
from scaleapi.tasks import TaskReviewStatus, TaskStatus, TaskType

from tests import support
from tests.sandbox_tls import TlsServer
from tests.test_sandbox_callbacks import endpoint  # noqa: F401 (a fixture)
from tests.test_sandbox_sdk import payload

KEY = "test_sdk_methods_key"
AUTH = "sdk-methods-callback-key"
PROJECT = "street-segmentation"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tls(tmp_path, monkeypatch):
    server = TlsServer(tmp_path).start()
    # The SDK sets verify on its Session, which REQUESTS_CA_BUNDLE (exported on this
    # machine) overrides: the bundle must be our certificate for this test.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.cert_path))
    yield server
    server.stop()


@pytest.fixture
def account(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SANDBOX_COMPLETE_AFTER = 3600  # pending unless a test says otherwise
    settings.SANDBOX_FAULTS = ""
    settings.SANDBOX_INSTANT_TEST_KEYS = False
    return support.sandbox_account(KEY, AUTH)


@pytest.fixture
def sdk(tls, account):
    return scaleapi.ScaleClient(KEY, source="annotator-tests", api_instance_url=f"{tls.url}/sandbox/v1")


@pytest.fixture
def instant(settings):
    """Scale's test-key behaviour: tasks complete before the create is answered."""
    settings.SANDBOX_INSTANT_TEST_KEYS = True


def seg(**changes) -> dict:
    return payload("segmentannotation", **changes)


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 120, 200)).save(out, "PNG")
    return out.getvalue()


def _rules_accept_scaledata() -> bool:
    from annotator import scale_rules

    return not scale_rules.validate("segmentannotation", seg(attachment="scaledata://0123456789abcdef01234567/x"))


# scale_rules owns which URLs an attachment may be (issue 14 item 2 teaches it scaledata://);
# until then these run as strict expected failures, and pass on their own once it lands.
needs_scaledata_rules = pytest.mark.xfail(
    not _rules_accept_scaledata(), reason="scale_rules does not accept scaledata:// yet", strict=True
)


# --- tasks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "task_type", [TaskType.SegmentAnnotation, TaskType.VideoAnnotation, TaskType.VideoPlaybackAnnotation]
)
def test_create_task(sdk, task_type):
    sent = payload(task_type.value)
    task = sdk.create_task(task_type, **sent)
    assert task.type == task_type.value
    assert task.status == "pending"
    assert task.tags == sent["tags"]
    assert task.metadata == sent["metadata"]
    # A task created without tags has no `tags` key at all, as at Scale.
    bare = sdk.create_task(task_type, **payload(task_type.value, tags=None, unique_id=None))
    assert "tags" not in bare.as_dict()
    assert not hasattr(bare, "tags")


def test_create_task_null_optionals_mean_not_set(sdk):
    task = sdk.create_task(TaskType.SegmentAnnotation, **seg(unique_id=None), callback_url=None, batch=None)
    assert "batch" not in task.as_dict()
    assert "callback_url" not in task.params and "batch" not in task.params
    assert task.callback_url == ""


def test_create_task_naming_an_unknown_project_or_batch_is_refused(sdk):
    from annotator.sandbox.models import SandboxBatch, SandboxProject, SandboxTask

    with pytest.raises(ScaleInvalidRequest, match='project: no project named "nowhere" exists'):
        sdk.create_task(TaskType.SegmentAnnotation, **seg(project="nowhere"))
    with pytest.raises(ScaleInvalidRequest, match='batch: no batch named "no-batch" exists'):
        sdk.create_task(TaskType.SegmentAnnotation, **seg(batch="no-batch"))
    sdk.create_project("other", TaskType.SegmentAnnotation)
    sdk.create_batch("other", "other-batch")
    with pytest.raises(ScaleInvalidRequest, match='batch "other-batch" belongs to project "other"'):
        sdk.create_task(TaskType.SegmentAnnotation, **seg(batch="other-batch"))
    # Nothing was invented along the way.
    assert not SandboxTask.objects.exists()
    assert not SandboxProject.objects.filter(name="nowhere").exists()
    assert not SandboxBatch.objects.filter(name="no-batch").exists()
    # A batch alone brings its project.
    task = sdk.create_task(TaskType.SegmentAnnotation, **seg(project=None, batch="other-batch"))
    assert (task.project, task.batch) == ("other", "other-batch")


def test_get_task(sdk):
    created = sdk.create_task(TaskType.SegmentAnnotation, **seg())
    got = sdk.get_task(created.id)
    assert got.as_dict() == created.as_dict()
    with pytest.raises(ScaleResourceNotFound, match=r"Task with that ID not found\."):
        sdk.get_task("fake_id_qwertyuiop")


def test_cancel_task(sdk, settings):
    task = sdk.create_task(TaskType.SegmentAnnotation, **seg())
    canceled = sdk.cancel_task(task.id, clear_unique_id=True)
    assert canceled.status == "canceled"
    assert "unique_id" not in canceled.as_dict()
    with pytest.raises(ScaleInvalidRequest, match="is already canceled"):
        task.cancel()


def test_test_keys_complete_at_once_when_the_setting_is_on(sdk, settings):
    task = sdk.create_task(TaskType.SegmentAnnotation, **seg())
    assert task.status == "pending"  # the default: the demo shows tasks pending for a while

    settings.SANDBOX_INSTANT_TEST_KEYS = True
    done = sdk.create_task(TaskType.SegmentAnnotation, **seg(unique_id="instant-1"))
    assert done.status == "completed"
    assert "indexedImage" in done.response["annotations"]["combined"]
    assert sdk.get_task(done.id).status == "completed"
    # So, as the SDK's own tests expect of a test key, it can no longer be canceled.
    with pytest.raises(ScaleInvalidRequest, match="is already completed"):
        done.cancel()

    # A live key's tasks are done by people: still pending.
    live = support.sandbox_account("live_sdk_methods_key", AUTH)
    live_sdk = scaleapi.ScaleClient(live.api_key, api_instance_url=sdk.api.base_api_url)
    assert live_sdk.create_task(TaskType.SegmentAnnotation, **seg()).status == "pending"


def test_audit_task_records_the_audit_filters_by_it_and_calls_back(sdk, instant, endpoint, settings):  # noqa: F811
    from annotator.sandbox import callbacks
    from annotator.sandbox.models import CallbackDelivery

    settings.FETCH_TRUSTED_URLS = [endpoint.url]  # a loopback receiver playing a public one

    accepted = sdk.create_task(TaskType.SegmentAnnotation, **seg(unique_id="a-1", callback_url=endpoint.url))
    rejected = sdk.create_task(TaskType.SegmentAnnotation, **seg(unique_id="a-2"))
    waiting = sdk.create_task(TaskType.SegmentAnnotation, **seg(unique_id="a-3"))

    assert sdk.audit_task(accepted.id, True) is None  # the SDK returns nothing
    rejected.audit(False, "Rejected due to quality")

    audits = sdk.get_task(rejected.id).audits
    assert [(a["audit_result"], a["audit_source"], a["comments"]) for a in audits] == [
        ("rejected", "customer", "Rejected due to quality")
    ]
    assert sdk.get_task(accepted.id).audits[0]["audit_result"] == "accepted"
    assert "audits" not in sdk.get_task(waiting.id).as_dict()

    def ids(review):
        return {t.id for t in sdk.get_tasks(project_name=PROJECT, review_status=review)}

    assert ids(TaskReviewStatus.Accepted) == {accepted.id}
    assert ids([TaskReviewStatus.Accepted, TaskReviewStatus.Rejected]) == {accepted.id, rejected.id}
    assert ids(TaskReviewStatus.Pending) == {waiting.id}  # completed, not audited yet
    assert ids(TaskReviewStatus.Fixed) == set()
    with pytest.raises(ScaleInvalidRequest, match="customer_review_status must be among"):
        sdk.tasks(customer_review_status="great")

    # The audit status change is called back, with the audit in the task.
    delivery = CallbackDelivery.objects.get(task__task_id=accepted.id, kind="audit")
    callbacks.attempt(str(delivery.code))
    audit_calls = [r for r in endpoint.received if r.body["task"].get("audits")]
    assert len(audit_calls) == 1
    assert audit_calls[0].headers["scale-callback-auth"] == AUTH
    assert audit_calls[0].body["task"]["audits"][0]["audit_result"] == "accepted"
    assert not CallbackDelivery.objects.filter(task__task_id=rejected.id, kind="audit").exists()  # no callback_url


def test_audit_task_of_a_pending_task_is_refused(sdk):
    task = sdk.create_task(TaskType.SegmentAnnotation, **seg())
    with pytest.raises(ScaleInvalidRequest, match="only completed tasks can be audited"):
        sdk.audit_task(task.id, True)
    with pytest.raises(ScaleInvalidRequest, match="accepted: must be true or false"):
        sdk.audit_task(task.id, "yes")
    with pytest.raises(ScaleResourceNotFound):
        sdk.audit_task("0" * 24, True)


def test_update_task_unique_id(sdk):
    first = sdk.create_task(TaskType.SegmentAnnotation, **seg(unique_id="u-1"))
    second = sdk.create_task(TaskType.SegmentAnnotation, **seg(unique_id="u-2"))
    assert sdk.update_task_unique_id(first.id, "u-new").unique_id == "u-new"
    with pytest.raises(ScaleDuplicateResource) as caught:
        sdk.update_task_unique_id(first.id, "u-2")
    assert caught.value.message == f'The unique_id ("u-2") is already used for a different task ({second.id}).'
    assert sdk.get_task(first.id).unique_id == "u-new"  # unchanged by the refused update
    with pytest.raises(ScaleInvalidRequest, match="unique_id: must be a non-empty string"):
        sdk.update_task_unique_id(first.id, "")
    with pytest.raises(ScaleInvalidRequest, match="unique_id: at most 1,024 characters"):
        sdk.update_task_unique_id(first.id, "u" * 1025)
    # The freed id can be used again.
    assert sdk.create_task(TaskType.SegmentAnnotation, **seg(unique_id="u-1")).unique_id == "u-1"


def test_clear_task_unique_id(sdk):
    task = sdk.create_task(TaskType.SegmentAnnotation, **seg(unique_id="c-1"))
    cleared = sdk.clear_task_unique_id(task.id)
    assert "unique_id" not in cleared.as_dict()
    task.update_unique_id("c-2")  # the Task helpers call the same endpoints
    assert sdk.get_task(task.id).unique_id == "c-2"
    task.clear_unique_id()
    assert "unique_id" not in sdk.get_task(task.id).as_dict()
    assert sdk.create_task(TaskType.SegmentAnnotation, **seg(unique_id="c-1")).id != task.id


def test_set_task_metadata(sdk):
    original = sdk.create_task(TaskType.SegmentAnnotation, **seg(metadata=None))
    assert original.metadata == {}
    updated = sdk.set_task_metadata(original.id, {"myKey": "myValue"})
    assert updated.metadata == {"myKey": "myValue"}
    original.set_metadata({"fromTask": 1})
    original.refresh()
    assert original.metadata == {"fromTask": 1}
    with pytest.raises(ScaleInvalidRequest, match="metadata: must be at most 10 KB"):
        sdk.set_task_metadata(original.id, {"blob": "x" * 11_000})
    with pytest.raises(ScaleInvalidRequest, match="must be a JSON object"):
        sdk.set_task_metadata(original.id, ["not", "an", "object"])
    assert sdk.get_task(original.id).metadata == {"fromTask": 1}  # refused changes change nothing


def test_set_add_and_delete_task_tags(sdk):
    task = sdk.create_task(TaskType.SegmentAnnotation, **seg(tags=None))
    assert not hasattr(task, "tags")
    assert sdk.set_task_tags(task.id, ["tag1", "tag2"]).tags == ["tag1", "tag2"]
    assert sdk.add_task_tags(task.id, ["tag2", "tag3"]).tags == ["tag1", "tag2", "tag3"]  # present ones ignored
    assert sdk.delete_task_tags(task.id, ["tag1", "absent"]).tags == ["tag2", "tag3"]  # absent ones ignored
    task.set_tags(["a", "b", "c"])
    task.add_tags(["d"])
    task.delete_tags(["a", "b"])
    task.refresh()
    assert task.tags == ["c", "d"]
    with pytest.raises(ScaleInvalidRequest, match="tags: at most 5 tags are allowed"):
        sdk.add_task_tags(task.id, ["e", "f", "g", "h"])
    with pytest.raises(ScaleInvalidRequest, match="JSON array of non-empty strings"):
        sdk.set_task_tags(task.id, "c")
    with pytest.raises(ScaleInvalidRequest, match=r"tags\[2\]: at most 500 characters"):
        sdk.add_task_tags(task.id, ["t" * 501])
    with pytest.raises(ScaleInvalidRequest, match=r"tags\[0\]: at most 500 characters"):
        sdk.create_task(TaskType.SegmentAnnotation, **seg(tags=["t" * 501]))
    assert sdk.get_task(task.id).tags == ["c", "d"]
    # The list filter follows the edits.
    assert [t.id for t in sdk.tasks(tags=["c", "d"]).docs] == [task.id]
    assert sdk.tasks(tags="a").total == 0


def test_tasks(sdk):
    ids = [sdk.create_task(TaskType.SegmentAnnotation, **seg(unique_id=f"t-{i}")).id for i in range(3)]
    page = sdk.tasks(limit=2, project=PROJECT, status=TaskStatus.Pending.value)
    assert [t.id for t in page.docs] == ids[::-1][:2]
    assert (page.total, page.limit, page.has_more) == (3, 2, True)
    rest = sdk.tasks(limit=2, project=PROJECT, next_token=page.next_token)
    assert [t.id for t in rest.docs] == [ids[0]]
    limited = sdk.tasks(limited_response=True, limit=1)
    assert set(limited.docs[0].as_dict()) == {"task_id", "status", "metadata", "project"}
    with pytest.raises(ScaleInvalidRequest, match="Illegal parameter bogus"):
        sdk.tasks(bogus=0)  # refused by the SDK itself


def test_tasks_include_attachment_url(sdk):
    task = sdk.create_task(TaskType.SegmentAnnotation, **seg())
    plain = sdk.tasks(unique_id=task.unique_id).docs[0].as_dict()
    assert "attachmentS3Downloads" not in plain
    with_urls = sdk.tasks(unique_id=task.unique_id, include_attachment_url=True).docs[0]
    assert with_urls.attachmentS3Downloads == [
        {"attachmentURL": task.params["attachment"], "s3URL": task.params["attachment"], "isConvertedImage": False}
    ]


def test_get_tasks_and_get_tasks_count(sdk):
    sdk.create_batch(PROJECT, "b/1")  # names may hold a slash: the SDK %-encodes it
    in_batch = {
        sdk.create_task(TaskType.SegmentAnnotation, **seg(unique_id=f"g-{i}", batch="b/1")).id for i in range(3)
    }
    sdk.create_task(TaskType.SegmentAnnotation, **seg(unique_id="outside"))
    assert {t.id for t in sdk.get_tasks(batch_name="b/1", limit=1)} == in_batch
    assert sdk.get_tasks_count(batch_name="b/1") == 3
    assert sdk.get_tasks_count(project_name=PROJECT) == 4
    assert sdk.get_tasks_count(project_name=PROJECT, task_type=TaskType.VideoAnnotation) == 0
    with pytest.raises(ValueError):
        list(sdk.get_tasks())


# --- batches ------------------------------------------------------------------------


def test_create_batch_starts_in_progress_on_a_standard_project(sdk):
    batch = sdk.create_batch(PROJECT, "standard-1", callback="https://example.org/cb", metadata={"k": "v"})
    assert batch.status == "in_progress"  # what the SDK's own tests see at Scale
    assert batch.metadata == {"k": "v"}
    with pytest.raises(ScaleDuplicateResource):
        sdk.create_batch(PROJECT, "standard-1")
    with pytest.raises(ScaleInvalidRequest, match='project: no project named "nowhere" exists'):
        sdk.create_batch("nowhere", "lost-batch")


def test_finalize_batch_and_batch_status(sdk, settings):
    sdk.create_project("rapid", TaskType.SegmentAnnotation, rapid=True)
    staged = sdk.create_batch("rapid", "rapid-1")
    assert staged.status == "staging"
    sdk.create_task(TaskType.SegmentAnnotation, **seg(project="rapid", batch="rapid-1"))
    assert sdk.batch_status("rapid-1") == {"status": "staging", "pending": 1, "completed": 0, "error": 0, "canceled": 0}
    assert sdk.finalize_batch("rapid-1").status == "in_progress"
    standard = sdk.create_batch(PROJECT, "std-2")
    standard.finalize()  # finalizing a running batch changes nothing
    assert standard.status == "in_progress"
    status = standard.get_status()
    assert status["status"] == "in_progress" and standard.tasks_pending == 0
    with pytest.raises(ScaleResourceNotFound):
        sdk.batch_status("missing")


def test_get_batch_batches_and_get_batches(sdk):
    names = [sdk.create_batch(PROJECT, f"list-{i}").name for i in range(3)]
    assert sdk.get_batch("list-1").project == PROJECT
    page = sdk.batches(limit=2, project=PROJECT)
    assert [b.name for b in page] == names[::-1][:2] and page.total == 3 and page.has_more
    assert [b.name for b in sdk.get_batches(project_name=PROJECT)] == names[::-1]
    assert [b.name for b in sdk.get_batches(project_name=PROJECT, batch_status=scaleapi.BatchStatus.Staging)] == []
    assert [b.name for b in sdk.get_batches(project_name=PROJECT, created_after="2000-01-01")] == names[::-1]
    assert list(sdk.get_batches(project_name=PROJECT, created_before="2000-01-01 00:00:00.000000")) == []
    assert list(sdk.get_batches(project_name=PROJECT, created_after="2999-01-01", exclude_archived=True)) == []
    with pytest.raises(ScaleInvalidRequest, match="start_time must be an ISO-8601 date"):
        sdk.batches(start_time="last week")
    with pytest.raises(ScaleResourceNotFound):
        sdk.get_batch("missing")


def test_set_batch_metadata(sdk):
    sdk.create_batch(PROJECT, "meta/batch", metadata={"old": 1})
    batch = sdk.set_batch_metadata("meta/batch", {"new_key": "new_value"})
    assert batch.metadata == {"new_key": "new_value"}
    assert sdk.get_batch("meta/batch").metadata == {"new_key": "new_value"}
    with pytest.raises(ScaleResourceNotFound):
        sdk.set_batch_metadata("missing", {})
    with pytest.raises(ScaleInvalidRequest, match="must be a JSON object"):
        sdk.set_batch_metadata("meta/batch", [1])


# --- projects -----------------------------------------------------------------------


def test_create_get_and_list_projects(sdk):
    project = sdk.create_project("roads", TaskType.VideoAnnotation, params={"instruction": "Track cars"})
    assert (project.name, project.type, project.version, project.instruction) == (
        "roads",
        "videoannotation",
        0,
        "Track cars",
    )
    assert sdk.get_project("roads").instruction == "Track cars"
    assert "roads" in [p.name for p in sdk.projects()]
    assert [p.name for p in sdk.get_projects()] == [p.name for p in sdk.projects()]
    with pytest.raises(ScaleDuplicateResource):
        sdk.create_project("roads", TaskType.VideoAnnotation)
    with pytest.raises(ScaleResourceNotFound):
        sdk.get_project("missing")


def test_update_project_params_are_inherited_by_tasks_that_omit_them(sdk):
    sdk.create_project("inherit", TaskType.SegmentAnnotation, params={"instruction": "v0"})
    project = sdk.update_project("inherit", instruction="Label roads.", labels=["road", "sky"], allow_unlabeled=True)
    assert project.version == 1
    bare = {"attachment": "https://assets.example.com/a-640x400.png", "project": "inherit"}
    task = sdk.create_task(TaskType.SegmentAnnotation, **bare)  # no labels: the project has them
    assert task.instruction == "Label roads."
    assert task.params["labels"] == ["road", "sky"]
    assert task.params["allow_unlabeled"] is True
    own = sdk.create_task(TaskType.SegmentAnnotation, **bare, labels=["car"], instruction="Mine")
    assert own.params["labels"] == ["car"] and own.instruction == "Mine"  # the task's own params win
    with pytest.raises(ScaleInvalidRequest, match="labels"):
        sdk.create_task(TaskType.SegmentAnnotation, **{**bare, "project": PROJECT})  # that one has no labels


def test_get_project_template(sdk):
    with pytest.raises(ScaleInvalidRequest, match="task templates exist only for textcollection and chat"):
        sdk.get_project_template(PROJECT)
    with pytest.raises(ScaleResourceNotFound, match='Project "missing" not found'):
        sdk.get_project_template("missing")


# --- files ----------------------------------------------------------------------------


@needs_scaledata_rules
def test_upload_file_gives_a_scaledata_url_usable_as_an_attachment(sdk, instant, tls):
    image = png(320, 200)
    uploaded = sdk.upload_file(file=("street.png", io.BytesIO(image), "image/png"), project_name=PROJECT)
    assert uploaded.attachment_url.startswith("scaledata://")
    assert uploaded.as_dict()["mime_type"] == "image/png"
    assert uploaded.as_dict()["size"] == len(image)
    assert uploaded.as_dict()["project_names"] == [PROJECT]

    task = sdk.create_task(TaskType.SegmentAnnotation, **seg(attachment=uploaded.attachment_url))
    assert task.status == "completed"
    # The result is drawn at the uploaded image's own size.
    mask = requests.get(task.response["annotations"]["combined"]["indexedImage"], timeout=10)
    assert Image.open(io.BytesIO(mask.content)).size == (320, 200)
    # The sandbox serves the file it stored: the bytes that were uploaded.
    download = sdk.tasks(unique_id=task.unique_id, include_attachment_url=True).docs[0].attachmentS3Downloads[0]
    assert download["attachmentURL"] == uploaded.attachment_url
    got = requests.get(download["s3URL"], timeout=10)
    assert got.status_code == 200 and got.content == image
    assert got.headers["Content-Type"] == "image/png"
    assert got.headers["X-Content-Type-Options"] == "nosniff"


@needs_scaledata_rules
def test_a_scaledata_url_of_another_account_ends_the_task_in_error(sdk, instant):
    other = support.sandbox_account("test_someone_else", "k")
    other_sdk = scaleapi.ScaleClient(other.api_key, api_instance_url=sdk.api.base_api_url)
    theirs = other_sdk.upload_file(file=("x.png", io.BytesIO(png(8, 8)), "image/png"))
    task = sdk.create_task(TaskType.SegmentAnnotation, **seg(attachment=theirs.attachment_url))
    assert task.status == "error"
    assert task.response["attachments"] == [{"statusCode": 404, "url": theirs.attachment_url}]


def test_upload_file_refusals(sdk, tls):
    with pytest.raises(ScaleInvalidRequest, match='project_name: no project named "nowhere"'):
        sdk.upload_file(file=("a.png", io.BytesIO(png(4, 4)), "image/png"), project_name="nowhere")
    answer = requests.post(f"{tls.url}/sandbox/v1/files/upload", auth=(KEY, ""), data={"x": "1"}, timeout=10)
    assert answer.status_code == 400 and answer.json()["error"].startswith("file: send the file")
    # An upload that is not an image or a video is served as a download, never rendered.
    page = sdk.upload_file(file=("page.html", io.BytesIO(b"<script>alert(1)</script>"), "text/html"))
    record_url = f"{tls.url}/sandbox/files/{page.id}"
    got = requests.get(record_url, timeout=10)
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert got.headers["Content-Disposition"] == "attachment"


def test_import_file(sdk, tls):
    imported = sdk.import_file(file_url="https://static.example.com/uploads/sample.png", project_name=PROJECT)
    assert imported.attachment_url.startswith("scaledata://")
    assert imported.as_dict()["mime_type"] == "image/png"
    # The sandbox never fetches: its URL for the file redirects to the source.
    answer = requests.get(f"{tls.url}/sandbox/files/{imported.id}", allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "https://static.example.com/uploads/sample.png"
    assert sdk.import_file(file_url="s3://bucket/key.png").attachment_url.startswith("scaledata://")
    with pytest.raises(ScaleInvalidRequest, match="file_url: must be an http"):
        sdk.import_file(file_url="file:///etc/passwd")


# --- account ----------------------------------------------------------------------------


def test_list_teammates(sdk):
    teammates = sdk.list_teammates()
    assert len(teammates) == 1
    assert teammates[0].role == "admin"
    assert teammates[0].email.endswith("@sandbox.invalid")


# --- the SDK's own retries, over TLS ------------------------------------------------------


def test_the_sdk_retries_a_false_500_and_recovers_the_task_from_the_409(sdk, settings, tls):
    from annotator.sandbox.models import SandboxTask

    settings.SANDBOX_FAULTS = "false_500=1"  # the task is created, the answer is a 500
    task = sdk.create_task(TaskType.SegmentAnnotation, **seg(unique_id="recover-me"))
    # urllib3 retried the POST (→ 409, the unique_id is taken), then the SDK looked the task up.
    assert tls.requests[("POST", "/sandbox/v1/task/segmentannotation")] == 2
    assert tls.requests[("GET", "/sandbox/v1/tasks")] == 1
    assert task.unique_id == "recover-me"
    assert list(SandboxTask.objects.values_list("task_id", flat=True)) == [task.id]  # exactly once


def test_the_sdk_retries_429s_then_gives_up(sdk, settings, tls):
    from annotator.sandbox.models import SandboxTask

    settings.SANDBOX_FAULTS = "error_429=1,retry_after=1"
    with pytest.raises(ScaleTooManyRequests):
        sdk.create_task(TaskType.SegmentAnnotation, **seg())
    assert tls.requests[("POST", "/sandbox/v1/task/segmentannotation")] == 4  # 1 + Retry(total=3)
    assert not SandboxTask.objects.exists()


# --- every route answers JSON ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/sandbox/v1/nothing-here", 404),
        ("GET", "/sandbox/v2/tasks", 404),
        ("GET", "/sandbox/", 404),
        ("POST", "/sandbox/v1/task/0123/unknown-action", 404),
        ("GET", "/sandbox/v1/task/0123/tags", 405),
        ("PATCH", "/sandbox/v1/batches/x/setMetadata", 405),
        ("GET", "/sandbox/files/not-a-file", 404),
    ],
)
def test_every_route_answers_json(tls, account, method, path, status):
    answer = requests.request(method, f"{tls.url}{path}", auth=(KEY, ""), timeout=10)
    assert answer.status_code == status
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert body["status_code"] == status and body["error"]


def test_projects_come_from_the_sdk_or_the_account_command_and_demo_setup():
    from django.core.management import call_command

    from annotator.sandbox.models import SandboxAccount, SandboxProject

    out = io.StringIO()
    call_command("sandbox_account", "--api-key", "test_cmd_key", "--project", "team-a", "--project", "b/c", "--json",
                 stdout=out)  # fmt: skip
    assert json.loads(out.getvalue())["projects"] == ["b/c", "team-a"]
    call_command("demo_setup", "--json", stdout=io.StringIO())
    demo = SandboxAccount.objects.exclude(api_key="test_cmd_key").get()
    assert list(SandboxProject.objects.filter(account=demo).values_list("name", flat=True)) == ["demo-project"]


def test_an_unexpected_failure_is_a_json_500_not_an_html_page(tls, account, monkeypatch):
    from annotator.sandbox import lifecycle
    from annotator.sandbox.models import SandboxTask

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(lifecycle, "set_metadata", broken)
    row = SandboxTask.objects.create(account=account, task_type="segmentannotation", params={"attachment": "x"})
    # Plain requests, not the SDK: the SDK would retry a 500 three times.
    answer = requests.post(
        f"{tls.url}/sandbox/v1/task/{row.task_id}/setMetadata", json={"a": 1}, auth=(KEY, ""), timeout=10
    )
    assert answer.status_code == 500
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {
        "status_code": 500,
        "error": "Internal server error (sandbox); the server log has the details.",
    }
