"""The official scaleapi SDK (2.18) against the sandbox over real HTTP."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import requests
import scaleapi
from scaleapi.exceptions import (
    ScaleDuplicateResource,
    ScaleInvalidRequest,
    ScaleNotEnabled,
    ScaleResourceNotFound,
    ScaleUnauthorized,
)
from scaleapi.tasks import TaskStatus, TaskType

FIXTURES = Path(__file__).parent / "fixtures" / "sandbox"
FIXTURE_PROJECTS = ("street-segmentation", "vehicle-tracking", "elsewhere")
KEY = "test_sdk_key_1"
TYPES = {
    "segmentannotation": TaskType.SegmentAnnotation,
    "videoannotation": TaskType.VideoAnnotation,
    "videoplaybackannotation": TaskType.VideoPlaybackAnnotation,
}

pytestmark = pytest.mark.django_db(transaction=True)


def payload(task_type: str, **changes) -> dict:
    data = json.loads((FIXTURES / f"{task_type}.json").read_text())
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def account(transactional_db, settings):
    from annotator.sandbox.models import SandboxAccount, ensure_project

    settings.SANDBOX_COMPLETE_AFTER = 3600  # tests below finish tasks explicitly
    settings.SANDBOX_FAULTS = ""
    account = SandboxAccount.objects.ensure(KEY, "callback-secret-1")
    for name in FIXTURE_PROJECTS:  # as at Scale, tasks name projects that exist
        ensure_project(account, name)
    return account


@pytest.fixture
def sdk(live_server, account):
    return scaleapi.ScaleClient(KEY, api_instance_url=f"{live_server.url}/sandbox/v1")


@pytest.mark.parametrize("task_type", TYPES)
def test_it_creates_and_gets_each_task_type(sdk, task_type):
    sent = payload(task_type)
    task = sdk.create_task(TYPES[task_type], **sent)

    assert re.fullmatch(r"[0-9a-f]{24}", task.id)
    data = task.as_dict()
    assert data["type"] == task_type
    assert data["status"] == "pending"
    assert data["is_test"] is True
    assert data["urgency"] == "standard"
    assert data["work_started"] is False
    assert data["unique_id"] == sent["unique_id"]
    assert data["tags"] == sent["tags"]
    assert data["metadata"] == sent["metadata"]
    assert data["project"] == sent["project"]
    assert data["instruction"] == sent["instruction"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["created_at"])
    assert "response" not in data
    # params echo what was sent (minus the task-level fields), with defaults filled.
    for key in ("project", "unique_id", "tags", "metadata", "instruction"):
        assert key not in data["params"]
    if task_type == "segmentannotation":
        assert data["params"]["labels"] == sent["labels"]
        assert data["params"]["attachment_type"] == "image"
    else:
        assert data["params"]["geometries"]["box"]["can_rotate"] is False
        assert data["params"]["events_to_annotate"] == sent["events_to_annotate"]
    if task_type == "videoplaybackannotation":
        assert data["params"]["with_labels"] is True

    again = sdk.get_task(task.id)
    assert again.as_dict() == data


def test_it_lists_newest_first_in_keyset_pages_with_filters(sdk):
    created = []
    for i in range(7):
        tags = ["even"] if i % 2 == 0 else ["odd", "x"]
        task = sdk.create_task(
            TaskType.SegmentAnnotation, **payload("segmentannotation", unique_id=f"page-{i}", tags=tags)
        )
        created.append(task.id)
    sdk.create_task(
        TaskType.VideoAnnotation, **payload("videoannotation", unique_id="other-project", project="elsewhere")
    )

    seen, token, pages = [], None, 0
    while True:
        page = sdk.tasks(project="street-segmentation", limit=3, next_token=token)
        pages += 1
        assert page.total == 7
        assert page.limit == 3
        seen += [t.id for t in page.docs]
        if not page.has_more:
            assert page.next_token is None
            break
        token = page.next_token
    assert pages == 3
    assert seen == list(reversed(created))  # newest first, no duplicates, no gaps

    # A task created between pages neither shifts nor repeats the next page (keyset paging).
    first = sdk.tasks(project="street-segmentation", limit=3)
    sdk.create_task(TaskType.SegmentAnnotation, **payload("segmentannotation", unique_id="late"))
    second = sdk.tasks(project="street-segmentation", limit=3, next_token=first.next_token)
    assert [t.id for t in second.docs] == list(reversed(created))[3:6]

    assert [t.id for t in sdk.tasks(tags="even").docs] == [created[6], created[4], created[2], created[0]]
    assert [t.id for t in sdk.tasks(tags=["odd", "x"]).docs] == [created[5], created[3], created[1]]
    assert [t.id for t in sdk.tasks(unique_id=["page-1", "page-2"]).docs] == [created[2], created[1]]
    assert sdk.tasks(type="videoannotation").total == 1
    assert sdk.tasks(status="completed").total == 0
    assert sdk.tasks(start_time="2000-01-01", end_time="2999-01-01T00:00:00Z").total == 9
    assert sdk.tasks(start_time="2999-01-01").total == 0
    assert sdk.tasks(updated_after="2000-01-01 00:00:00.000000").total == 9
    assert sdk.get_tasks_count(project_name="street-segmentation") == 8
    generated = list(sdk.get_tasks(project_name="street-segmentation", limit=2))
    assert len(generated) == 8
    assert len({t.id for t in generated}) == 8
    assert all(t.project == "street-segmentation" for t in generated)


def test_it_rejects_bad_list_parameters(sdk):
    with pytest.raises(ScaleInvalidRequest, match="limit must be a whole number from 1 to 100"):
        sdk.tasks(limit=101)
    with pytest.raises(ScaleInvalidRequest, match="next_token is not valid"):
        sdk.tasks(next_token="garbage")
    with pytest.raises(ScaleInvalidRequest, match="start_time must be an ISO-8601 date"):
        sdk.tasks(start_time="yesterday")
    with pytest.raises(ScaleInvalidRequest, match="status must be one of"):
        sdk.tasks(status="done")


def test_it_cancels_once_and_can_clear_the_unique_id(sdk):
    task = sdk.create_task(TaskType.SegmentAnnotation, **payload("segmentannotation"))
    canceled = sdk.cancel_task(task.id, clear_unique_id=True)
    assert canceled.status == "canceled"
    assert "unique_id" not in canceled.as_dict()
    with pytest.raises(ScaleInvalidRequest, match=f"Task {task.id} is already canceled and cannot be canceled."):
        sdk.cancel_task(task.id)
    # The cleared unique_id can be used again.
    again = sdk.create_task(TaskType.SegmentAnnotation, **payload("segmentannotation"))
    assert again.id != task.id
    assert sdk.tasks(status=TaskStatus.Canceled.value).total == 1


def test_it_refuses_to_cancel_a_completed_task(sdk, settings):
    from annotator.sandbox import lifecycle
    from annotator.sandbox.models import SandboxTask

    task = sdk.create_task(TaskType.SegmentAnnotation, **payload("segmentannotation"))
    SandboxTask.objects.filter(task_id=task.id).update(due_at=SandboxTask.objects.get(task_id=task.id).created_at)
    assert lifecycle.finish(SandboxTask.objects.get(task_id=task.id))
    with pytest.raises(ScaleInvalidRequest, match="is already completed and cannot be canceled"):
        sdk.cancel_task(task.id)


def test_a_reused_unique_id_gets_scales_exact_409(sdk):
    first = sdk.create_task(TaskType.SegmentAnnotation, **payload("segmentannotation"))
    with pytest.raises(ScaleDuplicateResource) as caught:
        sdk.create_task(TaskType.VideoAnnotation, **payload("videoannotation", unique_id="dash:seg:street_000123"))
    assert caught.value.code == 409
    assert caught.value.message == (
        f'The unique_id ("dash:seg:street_000123") is already used for a different task ({first.id}).'
    )


def _errors(**changes) -> dict:
    base = payload("segmentannotation")
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("task_type", "body", "message"),
    [
        (
            "segmentannotation",
            _errors(labels=[f"label {i}" for i in range(51)]),
            "labels: at most 50 labels are allowed (got 51)",
        ),
        (
            "segmentannotation",
            _errors(tags=["a", "b", "c", "d", "e", "f"]),
            "tags: at most 5 tags are allowed (got 6)",
        ),
        (
            "videoplaybackannotation",
            payload("videoplaybackannotation", attachment="https://assets.example.com/clip.avi"),
            "attachment:",
        ),
        (
            "videoannotation",
            {
                **payload("videoannotation"),
                "annotation_attributes": {
                    "moving": {
                        "choices": ["yes", "no"],
                        "conditions": {"label_condition": ["small vehicle"], "attribute_conditions": {"a": "b"}},
                    }
                },
            },
            "annotation_attributes.moving.conditions.label_condition:",
        ),
        ("segmentannotation", _errors(labels="road"), 'labels: must be an array, got the string "road"'),
        ("segmentannotation", _errors(metadata=[1]), "metadata: must be an object, got an array"),
    ],
)
def test_invalid_payloads_get_the_precise_message(sdk, task_type, body, message):
    from annotator import scale_rules
    from annotator.sandbox.models import SandboxTask

    # The sandbox, like Scale, refuses on errors only; warnings are not in its message.
    expected = "; ".join(str(e) for e in scale_rules.errors(scale_rules.validate(task_type, body)))
    with pytest.raises(ScaleInvalidRequest) as caught:
        sdk.create_task(TYPES[task_type], **copy.deepcopy(body))
    assert caught.value.code == 400
    assert caught.value.message == expected
    assert message in caught.value.message
    assert not SandboxTask.objects.exists()


def test_all_errors_are_reported_at_once(sdk):
    body = _errors(labels=[f"l{i}" for i in range(51)], tags=list("abcdef"))
    with pytest.raises(ScaleInvalidRequest) as caught:
        sdk.create_task(TaskType.SegmentAnnotation, **body)
    assert "labels: at most 50 labels are allowed (got 51)" in caught.value.message
    assert "tags: at most 5 tags are allowed (got 6)" in caught.value.message


def test_a_bad_key_is_unauthorized(live_server, account):
    bad = scaleapi.ScaleClient("test_not_a_key", api_instance_url=f"{live_server.url}/sandbox/v1")
    with pytest.raises(ScaleUnauthorized):
        bad.tasks()
    with pytest.raises(ScaleUnauthorized):
        bad.create_task(TaskType.SegmentAnnotation, **payload("segmentannotation"))
    answer = requests.get(f"{live_server.url}/sandbox/v1/tasks", timeout=5)
    assert answer.status_code == 401
    assert answer.json()["status_code"] == 401
    assert answer.json()["error"]


def test_accounts_see_only_their_own_tasks(sdk, live_server):
    from annotator.sandbox.models import SandboxAccount, ensure_project

    task = sdk.create_task(TaskType.SegmentAnnotation, **payload("segmentannotation"))
    other_account = SandboxAccount.objects.ensure("test_other", "k")
    with pytest.raises(ScaleInvalidRequest, match='no project named "street-segmentation" exists'):
        # Projects are per account too.
        scaleapi.ScaleClient("test_other", api_instance_url=f"{live_server.url}/sandbox/v1").create_task(
            TaskType.SegmentAnnotation, **payload("segmentannotation")
        )
    ensure_project(other_account, "street-segmentation")
    other = scaleapi.ScaleClient("test_other", api_instance_url=f"{live_server.url}/sandbox/v1")
    with pytest.raises(ScaleResourceNotFound, match=r"Task with that ID not found\."):
        other.get_task(task.id)
    assert other.tasks().total == 0
    # unique_id is unique per account: the other account may use the same one.
    assert other.create_task(TaskType.SegmentAnnotation, **payload("segmentannotation")).id != task.id


def test_other_scale_task_types_are_not_enabled(sdk):
    with pytest.raises(ScaleNotEnabled, match="imageannotation is not enabled"):
        sdk.create_task(TaskType.ImageAnnotation, attachment="https://x.example/a.png", geometries={})
    with pytest.raises(ScaleResourceNotFound):
        sdk.get_task("0" * 24)


def test_rapid_batches_hold_tasks_until_finalized(sdk, settings):
    from annotator.sandbox.models import SandboxTask

    settings.SANDBOX_COMPLETE_AFTER = 0
    sdk.create_project("rapid-streets", TaskType.SegmentAnnotation, params={"instruction": "Label it"}, rapid=True)
    batch = sdk.create_batch("rapid-streets", "batch-1")
    assert batch.status == "staging"  # Rapid batches wait for finalize_batch
    with pytest.raises(ScaleDuplicateResource):
        sdk.create_batch("rapid-streets", "batch-1")
    task = sdk.create_task(
        TaskType.SegmentAnnotation, **payload("segmentannotation", project="rapid-streets", batch="batch-1")
    )
    assert sdk.get_task(task.id).status == "pending"  # staging: nobody works on it
    assert sdk.batch_status("batch-1") == {"status": "staging", "pending": 1, "completed": 0, "error": 0, "canceled": 0}

    assert sdk.finalize_batch("batch-1").status == "in_progress"
    assert SandboxTask.objects.get(task_id=task.id).due_at is not None
    assert sdk.get_task(task.id).status == "completed"
    assert sdk.batch_status("batch-1")["status"] == "completed"
    assert sdk.get_batch("batch-1").project == "rapid-streets"
    assert [b.name for b in sdk.get_batches(project_name="rapid-streets")] == ["batch-1"]


def test_projects_are_created_listed_and_versioned(sdk):
    project = sdk.create_project("p1", TaskType.VideoAnnotation, params={"instruction": "Track cars"})
    assert project.name == "p1"
    assert project.type == "videoannotation"
    assert project.version == 0
    assert project.instruction == "Track cars"
    with pytest.raises(ScaleDuplicateResource):
        sdk.create_project("p1", TaskType.VideoAnnotation)
    updated = sdk.update_project("p1", instruction="Track all cars")
    assert updated.version == 1
    assert sdk.get_project("p1").instruction == "Track all cars"
    assert [p.name for p in sdk.projects()] == [*FIXTURE_PROJECTS, "p1"]
    with pytest.raises(ScaleInvalidRequest, match="type: must be one of"):
        sdk.create_project("p2", TaskType.ImageAnnotation)
    with pytest.raises(ScaleResourceNotFound):
        sdk.get_project("missing")
