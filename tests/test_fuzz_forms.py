"""Issue 11, Low 12: no form or query parameter of any page answers 500.

First the twelve causes the attack found, each with the answer a person sees; then a Hypothesis
run over every route of the URLconf, posting and querying every parameter its view reads and
every field its page's forms hold, as a signed-in member, with hostile and random values.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import url_routes

SANDBOX_KEY = "test_fuzz_key"


@pytest.fixture
def member(client, users):
    client.force_login(users.bob)  # a member, not the owner
    return client


@pytest.fixture
def template(users):
    from annotator.composer.models import TaskTemplate

    return TaskTemplate.objects.create(
        workspace=users.ws_a, name="Streets", task_type="segmentannotation", payload={"labels": ["road", "car"]}
    )


# --- the twelve causes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["not-a-uuid", "-" * 36, "", "0" * 5000, "\x00"], ids=["text", "dashes", "empty", "digits", "nul"]
)
def test_a_non_uuid_workspace_switch_is_a_404_not_a_500(member, value):
    assert member.post("/workspace/switch/", {"workspace": value}).status_code == 404


@pytest.mark.parametrize("value", ["not-a-uuid", "-" * 36, "1" * 5000], ids=["text", "dashes", "digits"])
def test_a_non_uuid_go_ahead_says_to_upload_again(member, template, value):
    from annotator.tasks.models import Task

    response = member.post("/submit/confirm/", {"sha256": value, "template": value}, follow=True)
    assert response.status_code == 404 or "upload the file again" in response.content.decode()
    response = member.post("/submit/confirm/", {"sha256": "a" * 64, "template": str(template.code)}, follow=True)
    assert response.status_code == 200 and "upload the file again" in response.content.decode()
    assert Task.objects.count() == 0


@pytest.mark.parametrize("value", ["not-a-uuid", "-" * 36, "g" * 32, "\x00"])
def test_bulk_actions_on_non_uuid_task_codes_select_nothing(member, value):
    response = member.post("/tasks/bulk/", {"task": [value], "action": "cancel"}, follow=True)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "query",
    ["until=9999-12-31", "since=9999-12-31", "until=0001-01-01", "since=2026-02-30", "until=99999-01-01"],
)
def test_impossible_dates_in_the_table_filters_are_ignored(member, query):
    response = member.get(f"/tasks/?{query}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "top",
    ["2026-05-01T99:99:99", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "x" * 5000],
    ids=["T99", "max", "min", "long"],
)
def test_a_poll_with_an_impossible_top_or_since_answers(member, top):
    headers = {"HX-Request": "true"}
    assert member.get("/tasks/", {"poll": "1", "top": top, "since": top}, headers=headers).status_code < 500


def test_a_csv_cell_over_128_kb_is_a_clear_file_error(member, template):
    from annotator.tasks.models import Task

    content = b"attachment,metadata.note\nhttps://example.org/a.png," + b"x" * 200_000 + b"\n"
    response = member.post("/submit/", {"template": template.code, "file": SimpleUploadedFile("rows.csv", content)})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Row 1 cannot be read: a cell is longer than 131,072 characters" in body
    assert Task.objects.count() == 0


def test_deep_json_in_a_metadata_cell_is_an_error_on_its_row(member, template):
    deep = "[" * 5000 + "]" * 5000
    content = ('attachment,metadata\nhttps://example.org/a.png,"' + deep + '"\nhttps://example.org/b.png,\n').encode()
    response = member.post("/submit/", {"template": template.code, "file": SimpleUploadedFile("rows.csv", content)})
    body = response.content.decode()
    assert response.status_code == 200
    assert "the metadata nests too deeply" in body
    assert "Submit 1 task" in body  # the other row is fine


def test_a_jsonl_unique_id_with_a_lone_surrogate_is_an_error_on_its_row(member, template):
    content = b'{"attachment": "https://example.org/a.png", "unique_id": "\\ud800"}\n{"attachment": "https://example.org/b.png"}\n'
    response = member.post("/submit/", {"template": template.code, "file": SimpleUploadedFile("rows.jsonl", content)})
    body = response.content.decode()
    assert response.status_code == 200
    assert "this line contains an unpaired surrogate (\\ud800)" in body
    assert "Submit 1 task" in body


@pytest.mark.parametrize(
    "limit", ["9" * 5000, "1" * 30, "\u0663", "-1", "0"], ids=["5000", "30", "arabic", "neg", "zero"]
)
def test_a_sandbox_list_limit_that_is_not_a_small_number_is_a_400(client, db, limit):
    from annotator.sandbox.models import SandboxAccount

    SandboxAccount.objects.ensure(SANDBOX_KEY, "cb")
    auth = "Basic " + base64.b64encode(f"{SANDBOX_KEY}:".encode()).decode()
    response = client.get("/sandbox/v1/tasks", {"limit": limit}, HTTP_AUTHORIZATION=auth)
    assert response.status_code == 400
    assert "limit must be a whole number from 1 to 100" in response.json()["error"]


# --- every parameter of every route --------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
# Parameter names a view reads: request.GET/POST.get("x"), .getlist("x"), query/params/g.get("x").
_READS = re.compile(
    r"""(?:GET|POST|query|params|\bg|data)\s*(?:\.get|\.getlist|\.__getitem__)?\(\s*["']([\w.\-\[\]]+)["']"""
)
_SUBSCRIPT = re.compile(r"""(?:GET|POST)\[\s*["']([\w.\-]+)["']\s*\]""")
_FORM_NAMES = re.compile(r"""\bname="([\w.\-\[\]]+)\"""")

HOSTILE = [
    "",
    "0",
    "-1",
    "9" * 5000,
    "1e999",
    "NaN",
    "not-a-uuid",
    "-" * 36,
    str(uuid.uuid4()),
    "9999-12-31",
    "0001-01-01",
    "2026-02-30",
    "2026-05-01T99:99:99",
    "9999-12-31T23:59:59-23:59",
    "[" * 5000 + "]" * 5000,
    '{"a": ' * 300 + "1" + "}" * 300,
    '["\\ud800"]',
    '{"\\udfff": 1}',
    "\x00",
    "a\x00b",
    "x" * 100_000,
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "{}",
    "[]",
    "null",
    "true",
    "https://example.org/a.png",
    "segmentannotation",
    "cancel",
    "retry",
    "submit",
    "import",
]
_values = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40))


def _view_sources() -> dict[str, str]:
    sources = {}
    for path in (ROOT / "annotator").rglob("*.py"):
        if "migrations" not in path.parts:
            sources[str(path.relative_to(ROOT))] = path.read_text()
    return sources


def _names_read_by(module_source: str) -> set[str]:
    return set(_READS.findall(module_source)) | set(_SUBSCRIPT.findall(module_source))


def _fill(route: str, objects: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        kind, _, name = match.group(1).rpartition(":")
        if name in objects:
            return objects[name]
        return {"uuid": str(uuid.uuid4()), "int": "1"}.get(kind, "x")

    return "/" + re.sub(r"<([^>]+)>", one, route)


def _routes() -> list[str]:
    # The admin is Django's own (and needs staff); logging out would end the member's session.
    return [r for r in url_routes() if not r.startswith(("admin/", "accounts/logout/"))]


@pytest.fixture
def world(users, template):
    """One of each object the routes take, in the member's workspace."""
    from annotator.composer.models import AttributeSet, GeometryPreset, LabelSet
    from annotator.sandbox.models import SandboxAccount
    from annotator.submission import bulk
    from tests.test_callbacks_receiver import make_task

    SandboxAccount.objects.ensure(SANDBOX_KEY, "cb")
    task = make_task(users.ws_a, users.alice)
    group = bulk.submit_plan(bulk.plan(users.ws_a, template, b"https://example.org/a.png\n"), users.alice)
    objects = {
        "task_code": str(task.code),
        "template_code": str(template.code),
        "group_code": str(group.code),
        "labelset_code": str(LabelSet.objects.create(workspace=users.ws_a, name="L", labels=["a"]).code),
        "preset_code": str(
            GeometryPreset.objects.create(
                workspace=users.ws_a, name="G", task_type="videoannotation", geometries={"box": {}}
            ).code
        ),
        "attributeset_code": str(AttributeSet.objects.create(workspace=users.ws_a, name="A", attributes={}).code),
        "token": users.ws_a.callback_token,
        "task_id": task.scale_task_id,
        "name": "segmentannotation",
        "result_name": "mask",
        "rest": "tasks",
        # The library's generic routes (/library/<slug>/<code>/..., a template's version).
        "slug": "templates",
        "code": str(template.code),
        "number": "1",
    }
    return objects


def _parameters(client, route: str, path: str, sources: dict[str, str]) -> list[str]:
    from django.urls import resolve

    match = resolve(path)
    module = getattr(match.func, "__module__", "") or ""
    file = module.replace(".", "/") + ".py"
    names = _names_read_by(sources.get(file, ""))
    page = client.get(path)
    if page.status_code == 200 and "html" in page.get("Content-Type", ""):
        names |= set(_FORM_NAMES.findall(page.content.decode(errors="replace")))
    names.discard("csrfmiddlewaretoken")
    return sorted(names) or ["q"]


@pytest.mark.parametrize("route", _routes())
def test_no_parameter_of_any_route_answers_500(client, users, world, route):
    sources = _view_sources()
    path = _fill(route, world)
    client.force_login(users.bob)
    names = _parameters(client, route, path, sources)
    headers = {}
    if route.startswith("sandbox/v1"):
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"{SANDBOX_KEY}:".encode()).decode()

    def answered(status: int) -> bool:
        # The image proxy answers 502 for what it could not fetch (an empty or unreachable URL):
        # a gateway's answer by design, not a failure of ours.
        return status < 500 or (route == "compose/media/" and status == 502)

    @settings(
        max_examples=6,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(params=st.dictionaries(st.sampled_from(names), _values, min_size=1, max_size=4), htmx=st.booleans())
    def check(params, htmx):
        client.force_login(users.bob)
        extra = dict(headers)
        if htmx:
            extra["HTTP_HX_REQUEST"] = "true"
        got = client.get(path, params, **extra)
        assert answered(got.status_code), f"GET {path} {params!r}: {got.status_code}"
        posted = client.post(path, params, **extra)
        assert answered(posted.status_code), f"POST {path} {params!r}: {posted.status_code}"
        if route.startswith("sandbox/v1") and posted.status_code != 405:
            raw = client.post(path, json.dumps(params), content_type="application/json", **extra)
            assert answered(raw.status_code), f"POST JSON {path} {params!r}: {raw.status_code}"

    check()
