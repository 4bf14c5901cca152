from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from django.db import connection

from tests.support import url_routes

CANARY = "live_CANARY_9f8e7d6c5b4a3f2e1d0c"


def _object_routes():
    # The whole route, prefixes included: a kwarg in an include() prefix counts too.
    return [r for r in url_routes() if "<" in r and not r.startswith(("sandbox/", "admin/"))]


def _objects_of(workspace, user) -> dict[str, str]:
    """One object of each kind in `workspace`, by the URL kwarg that names it."""
    from annotator.tasks.models import SubmissionGroup, Task

    task = Task.objects.create(
        workspace=workspace,
        created_by=user,
        task_type="segmentannotation",
        payload={"attachment": "https://example.org/a.png", "labels": ["car"]},
        unique_id="iso-1",
    )
    group = SubmissionGroup.objects.create(workspace=workspace, name="g")
    objects = {"task_code": str(task.code), "group_code": str(group.code), "token": workspace.callback_token}
    # A result file's name is only looked up under its task: the task code is what isolates it.
    objects["result_name"] = "mask"
    from annotator.exports.models import Export

    objects["export_code"] = str(Export.objects.create(workspace=workspace, title="e", status="done", path="x").code)
    try:
        from annotator.composer.models import TaskTemplate

        template = TaskTemplate.objects.create(workspace=workspace, name="t", task_type="segmentannotation", payload={})
        objects["template_code"] = str(template.code)
        # The library's generic routes: /library/<slug>/<code>/... and a template's version.
        objects["slug"], objects["code"], objects["number"] = "templates", str(template.code), "1"
        from annotator.composer.models import AttributeSet, GeometryPreset, LabelSet

        objects["labelset_code"] = str(LabelSet.objects.create(workspace=workspace, name="l", labels=["a"]).code)
        objects["preset_code"] = str(GeometryPreset.objects.create(workspace=workspace, name="g", geometries={}).code)
        objects["attributeset_code"] = str(AttributeSet.objects.create(workspace=workspace, name="a").code)
    except ImportError:
        pass
    return objects


# Callbacks authenticate with the callback key, not by login: tested on their own. A library
# undo token names an entry in the deleter's own session, not an object: tested below.
@pytest.mark.parametrize(
    "route", [r for r in _object_routes() if not r.startswith(("callbacks/", "compose/library/undo/"))]
)
def test_a_member_of_one_workspace_gets_404_for_every_object_of_another(alice_client, users, route):
    b_objects = _objects_of(users.ws_b, users.charlie)
    path = "/" + route
    for name, value in b_objects.items():
        for conv in ("uuid", "str", "slug", "int"):
            path = path.replace(f"<{conv}:{name}>", value)
    assert "<" not in path, f"add the URL kwarg in {route} to _objects_of() so isolation is tested"
    for method in ("get", "post"):
        response = getattr(alice_client, method)(path)
        assert response.status_code in (404, 405), f"{method.upper()} {path} answered {response.status_code}"


def test_another_persons_undo_token_restores_nothing(client, users):
    from annotator.composer.models import TaskTemplate

    client.force_login(users.charlie)
    template = TaskTemplate.objects.create(workspace=users.ws_b, name="B's", task_type="segmentannotation", payload={})
    client.post(f"/compose/library/templates/{template.code}/delete/")
    page = client.get("/compose/library/").content.decode()
    token = page.split("/compose/library/undo/")[1].split("/")[0]
    client.logout()
    client.force_login(users.alice)  # the token leaked, say; it lives in charlie's session only
    response = client.post(f"/compose/library/undo/{token}/", follow=True)
    assert "can no longer be undone" in response.content.decode()
    assert not TaskTemplate.objects.exists()


def test_workspace_settings_never_show_the_api_key(alice_client, users):
    response = alice_client.post(
        "/workspace/",
        {
            "name": "Team A",
            "target": "scale",
            "api_base_url": "",
            "default_project": "p",
            "default_batch": "",
            "callback_auth_key": "cb-key",
            "rate_limit_per_second": "10",
            "api_key": CANARY,
        },
    )
    assert response.status_code == 302
    users.ws_a.refresh_from_db()
    assert users.ws_a.get_api_key() == CANARY
    page = alice_client.get("/workspace/").content.decode()
    assert CANARY not in page
    assert "live_…1d0c" in page.replace("&hellip;", "…")


def test_a_member_cannot_change_workspace_settings(client, users):
    client.force_login(users.bob)
    response = client.post("/workspace/", {"name": "Hijacked", "target": "scale", "rate_limit_per_second": "1"})
    assert response.status_code == 404
    users.ws_a.refresh_from_db()
    assert users.ws_a.name == "Team A"


def test_a_user_sees_only_their_workspaces(client, users):
    client.force_login(users.charlie)
    page = client.get("/").content.decode()
    assert "Team B" in page and "Team A" not in page
    response = client.post("/workspace/switch/", {"workspace": str(users.ws_a.code)})
    assert response.status_code == 404


@pytest.mark.sqlite_only
@pytest.mark.django_db(transaction=True)
def test_the_api_key_is_not_readable_in_the_database_file_nor_in_logs(client, users, caplog):
    caplog.set_level(logging.DEBUG)
    client.force_login(users.alice)
    client.post(
        "/workspace/",
        {
            "name": "Team A",
            "target": "scale",
            "callback_auth_key": "k",
            "rate_limit_per_second": "5",
            "api_key": CANARY,
        },
    )
    users.ws_a.refresh_from_db()
    assert users.ws_a.get_api_key() == CANARY  # stored, and readable through the app only
    connection.close()  # flush the WAL into the file we grep
    db_file = Path(connection.settings_dict["NAME"])
    blobs = [db_file.read_bytes()] + [p.read_bytes() for p in db_file.parent.glob(db_file.name + "-*")]
    assert all(CANARY.encode() not in blob for blob in blobs)
    assert CANARY not in caplog.text


def test_a_second_demo_setup_keeps_the_demo_user_signed_in(client, db, monkeypatch):
    """`make run` runs demo_setup each time: re-hashing the same password signed the demo out."""
    from django.core.management import call_command

    call_command("demo_setup", stdout=io.StringIO())
    assert client.login(username="demo", password="annotator-demo")
    assert client.get("/").status_code == 200
    call_command("demo_setup", stdout=io.StringIO())
    assert client.get("/").status_code == 200  # still signed in, not sent to the sign-in page
    # A changed DEMO_PASSWORD still takes effect (and then signs the old sessions out).
    monkeypatch.setenv("DEMO_PASSWORD", "another-demo-pass")
    call_command("demo_setup", stdout=io.StringIO())
    assert client.get("/").status_code == 302
    assert client.login(username="demo", password="another-demo-pass")


def test_demo_setup_is_idempotent_and_prints_json(db):
    import json
    from io import StringIO

    from django.core.management import call_command

    from annotator.accounts.models import Workspace

    first, second = StringIO(), StringIO()
    call_command("demo_setup", "--json", stdout=first)
    call_command("demo_setup", "--json", stdout=second)
    a, b = json.loads(first.getvalue()), json.loads(second.getvalue())
    assert a == b
    assert set(a) == {
        "username",
        "password",
        "workspace",
        "site_url",
        "callback_url",
        "callback_auth_key",
        "api_base_url",
        "api_key",
    }
    assert a["api_key"].startswith("test_")
    assert a["api_base_url"].endswith("/sandbox/v1")
    assert Workspace.objects.filter(name=a["workspace"]).count() == 1
