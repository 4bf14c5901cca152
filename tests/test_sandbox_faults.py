"""Fault injection, hostile input and races at the sandbox's create endpoint."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import requests

from tests import support

FIXTURES = Path(__file__).parent / "fixtures" / "sandbox"
KEY = "test_faults_key"

pytestmark = pytest.mark.django_db(transaction=True)


def payload(**changes) -> dict:
    data = json.loads((FIXTURES / "segmentannotation.json").read_text())
    data.update(changes)
    return data


@pytest.fixture
def create(live_server, settings):
    """POST a segmentannotation create; returns the requests.Response."""

    settings.SANDBOX_COMPLETE_AFTER = 3600
    settings.SANDBOX_FAULTS = ""
    support.sandbox_account(KEY, "cb")
    url = f"{live_server.url}/sandbox/v1/task/segmentannotation"

    def post(body=None, *, faults: str | None = None, data: bytes | None = None, **headers) -> requests.Response:
        if faults is not None:
            headers["X-Sandbox-Faults"] = faults
        if data is not None:
            headers.setdefault("Content-Type", "application/json")
            return requests.post(url, data=data, auth=(KEY, ""), headers=headers, timeout=30)
        return requests.post(url, json=payload() if body is None else body, auth=(KEY, ""), headers=headers, timeout=30)

    return post


def task_count() -> int:
    from annotator.sandbox.models import SandboxTask

    return SandboxTask.objects.count()


def test_error_500_creates_nothing(create):
    answer = create(faults="error_500=1")
    assert answer.status_code == 500
    assert answer.json()["status_code"] == 500
    assert task_count() == 0


def test_a_false_500_creates_the_task_and_the_retry_gets_409(create):
    from annotator.sandbox.models import SandboxTask

    answer = create(faults="false_500=1")
    assert answer.status_code == 500
    task = SandboxTask.objects.get()
    retry = create()
    assert retry.status_code == 409
    assert retry.json() == {
        "status_code": 409,
        "error": f'The unique_id ("dash:seg:street_000123") is already used for a different task ({task.task_id}).',
    }
    assert task_count() == 1


def test_429_carries_retry_after(create):
    answer = create(faults="error_429=1,retry_after=7")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    assert answer.json()["status_code"] == 429
    assert task_count() == 0


def test_latency_is_added_to_creates(create):
    started = time.monotonic()
    answer = create(faults="latency_ms=300")
    assert answer.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_the_setting_applies_and_the_header_overrides_it_key_by_key(create, settings):
    settings.SANDBOX_FAULTS = "error_500=1"
    assert create().status_code == 500
    assert create(faults="error_500=0").status_code == 200


def test_a_seed_replays_the_same_faults(create):
    from annotator.sandbox import faults
    from annotator.sandbox.models import SandboxTask

    def run() -> list[int]:
        faults.reset_seeds()
        codes = [create(payload(unique_id=f"s{i}"), faults="error_500=0.5,seed=42").status_code for i in range(12)]
        SandboxTask.objects.all().delete()
        return codes

    first = run()
    assert set(first) == {200, 500}
    assert run() == first


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("error_500=2", "X-Sandbox-Faults: error_500 must be a number from 0 to 1, got '2'"),
        ("bogus=1", "X-Sandbox-Faults: unknown fault 'bogus'"),
        ("latency_ms=fast", "X-Sandbox-Faults: latency_ms must be a whole number, got 'fast'"),
        ("error_500", "X-Sandbox-Faults: expected name=value, got 'error_500'"),
        ("seed=1,seed=2", "X-Sandbox-Faults: seed is given twice"),
    ],
)
def test_a_bad_fault_spec_is_a_400_naming_the_problem(create, spec, message):
    answer = create(faults=spec)
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert task_count() == 0


def test_a_bad_fault_setting_stops_start_up(settings):
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured

    settings.SANDBOX_FAULTS = "error_500=lots"
    with pytest.raises(ImproperlyConfigured, match="SANDBOX_FAULTS: error_500 must be a number"):
        apps.get_app_config("sandbox").ready()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"attachment": ', "The request body is not valid JSON"),
        (b"\xff\xfe{}", "The request body is not valid UTF-8."),
        (b"[" * 10_000 + b"]" * 10_000, "nested too deeply"),
        (b'{"metadata": {"a": ' + b"[" * 100 + b"1" + b"]" * 100 + b"}}", "nested too deeply"),
        (b'{"attachment": NaN}', "NaN is not valid JSON"),
        (b'{"instruction": "a\\u0000b"}', "must not contain NUL"),
        (b'{"instruction": "\\ud800"}', "unpaired surrogates"),
        (b"[1, 2]", "The request body must be a JSON object, got list."),
        (b"1" * 5000, "not valid JSON"),
    ],
)
def test_malformed_bodies_are_400_and_create_nothing(create, data, message):
    answer = create(data=data)
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]
    assert task_count() == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"labels": "road"}, 'labels: must be an array, got the string "road"'),
        ({"metadata": ["a"]}, "metadata: must be an object, got an array"),
        ({"priority": "10"}, "priority:"),
        ({"tags": "pilot"}, "tags:"),
        ({"attachment": 12}, "attachment:"),
        ({"labels": [{"choice": {"nested": True}}]}, "labels[0].choice:"),
    ],
)
def test_wrong_types_anywhere_are_400_and_create_nothing(create, changes, message):
    answer = create(payload(**changes))
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]
    assert task_count() == 0


def test_a_body_over_10_mb_is_refused_with_413(create):
    body = json.dumps({**payload(), "instruction": "x" * (10 * 1024 * 1024)}).encode()
    answer = create(data=body)
    assert answer.status_code == 413
    assert "larger than 10 MB" in answer.json()["error"]
    assert task_count() == 0


def test_concurrent_creates_with_one_unique_id_make_one_task(create):
    results: list[int] = []
    start = threading.Barrier(8)

    def one() -> None:
        start.wait()
        results.append(create().status_code)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [409] * 7
    assert task_count() == 1


def test_unknown_endpoints_and_methods_answer_json(create, live_server):
    missing = requests.get(f"{live_server.url}/sandbox/v1/nothing/here", auth=(KEY, ""), timeout=5)
    assert missing.status_code == 404 and missing.json()["status_code"] == 404
    wrong = requests.delete(f"{live_server.url}/sandbox/v1/tasks", auth=(KEY, ""), timeout=5)
    assert wrong.status_code == 405 and wrong.json()["status_code"] == 405
    unknown = requests.post(f"{live_server.url}/sandbox/v1/task/catpictures", json={}, auth=(KEY, ""), timeout=5)
    assert unknown.status_code == 400
    assert "Unknown task type 'catpictures'" in unknown.json()["error"]


def test_tasks_complete_without_a_worker_through_reads_and_the_sweep(create, settings):
    from annotator.sandbox import jobs
    from annotator.sandbox.models import SandboxTask

    settings.SANDBOX_COMPLETE_AFTER = 0
    first = create(payload(unique_id="a")).json()["task_id"]
    second = create(payload(unique_id="b")).json()["task_id"]
    jobs.sweep_sandbox()  # the periodic job, run here directly
    assert set(SandboxTask.objects.values_list("status", flat=True)) == {"completed"}
    # Completing again is a no-op: the conditional update claims the row once.
    jobs.finish_sandbox_task(first)
    assert SandboxTask.objects.get(task_id=second).completed_at is not None
    assert SandboxTask.objects.get(task_id=first).response["labelMapping"]
