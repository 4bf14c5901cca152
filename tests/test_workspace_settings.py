"""Workspace settings refuse a workspace that cannot work: Scale API without a key,
a private base URL, a stored key following a new host; the sandbox always has a key."""

from __future__ import annotations

import base64

import pytest

from annotator.accounts.models import Workspace
from annotator.sandbox.models import SandboxAccount

SCALE_KEY = "live_0123456789abcdef0123456789ab1d0c"


def form(workspace: Workspace, **changes: str) -> dict[str, str]:
    """The settings form as the page would post it: every field as stored, plus the changes."""
    data = {
        "name": workspace.name,
        "target": workspace.target,
        "api_base_url": workspace.api_base_url,
        "default_project": workspace.default_project,
        "default_batch": workspace.default_batch,
        "callback_auth_key": workspace.callback_auth_key,
        "rate_limit_per_second": str(workspace.rate_limit_per_second),
        "api_key": "",
    }
    data.update(changes)
    return data


def on_scale(workspace: Workspace, base: str = "") -> Workspace:
    workspace.target = Workspace.Target.SCALE
    workspace.api_base_url = base
    workspace.set_api_key(SCALE_KEY)
    workspace.save()
    return workspace


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def sandbox_answers(client, key: str, path: str = "/sandbox/v1/tasks") -> int:
    return client.get(path, HTTP_AUTHORIZATION=basic(key)).status_code


def errors_of(response) -> dict:
    return response.context["form"].errors


def test_scale_api_with_the_stored_key_removed_is_refused_and_nothing_is_lost(alice_client, users):
    ws = on_scale(users.ws_a)
    response = alice_client.post("/workspace/", form(ws, name="Renamed", clear_api_key="on"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Scale API cannot work without a key" in page and "Workspace settings saved." not in page
    ws.refresh_from_db()
    assert ws.get_api_key() == SCALE_KEY and ws.name == "Team A"
    assert 'value="Renamed"' in page  # what the owner typed is still in the form


def test_switching_a_keyless_workspace_to_scale_asks_for_the_key(alice_client, users):
    ws = users.ws_a  # on the sandbox, no key yet
    response = alice_client.post("/workspace/", form(ws, target="scale"))
    assert "Scale API needs your API key" in errors_of(response)["api_key"][0]
    response = alice_client.post("/workspace/", form(ws, target="scale", api_key=SCALE_KEY))
    assert response.status_code == 302
    ws.refresh_from_db()
    assert ws.target == "scale" and ws.get_api_key() == SCALE_KEY


def test_replacing_the_key_while_removing_it_is_saved(alice_client, users):
    ws = on_scale(users.ws_a)
    response = alice_client.post(
        "/workspace/", form(ws, clear_api_key="on", api_key="live_newkey0000000000000000000002")
    )
    assert response.status_code == 302
    ws.refresh_from_db()
    assert ws.get_api_key() == "live_newkey0000000000000000000002"


def test_back_to_the_sandbox_the_workspace_gets_a_key_the_sandbox_accepts(alice_client, users, client):
    ws = on_scale(users.ws_a)
    response = alice_client.post("/workspace/", form(ws, target="sandbox"), follow=True)
    assert "Workspace settings saved." in response.content.decode()
    ws.refresh_from_db()
    key = ws.get_api_key()
    assert key and key != SCALE_KEY  # the Scale key is not handed to the sandbox
    assert "The sandbox made a key for this workspace" in response.content.decode()
    assert not SandboxAccount.objects.filter(api_key=SCALE_KEY).exists()
    account = SandboxAccount.objects.get(api_key=key)
    assert account.callback_auth_key == ws.callback_auth_key
    assert sandbox_answers(client, key) == 200


def test_removing_the_sandbox_key_makes_a_new_one_rather_than_none(alice_client, users):
    alice_client.post("/workspace/", form(users.ws_a))  # the sandbox workspace gets its first key
    users.ws_a.refresh_from_db()
    first = users.ws_a.get_api_key()
    assert first
    alice_client.post("/workspace/", form(users.ws_a, clear_api_key="on"))
    users.ws_a.refresh_from_db()
    assert users.ws_a.get_api_key() not in ("", first)


def test_an_owner_resets_the_sandbox_key_and_tasks_already_sent_stay_reachable(alice_client, users, client):
    alice_client.post("/workspace/", form(users.ws_a))
    users.ws_a.refresh_from_db()
    old = users.ws_a.get_api_key()
    account = SandboxAccount.objects.get(api_key=old)
    created = client.post(
        "/sandbox/v1/task/segmentannotation",
        {"attachment": "https://example.org/a.png", "labels": ["road"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=basic(old),
    )
    assert created.status_code == 200, created.content
    task_path = f"/sandbox/v1/task/{created.json()['task_id']}"
    page = alice_client.get("/workspace/").content.decode()
    assert "Reset the sandbox key" in page

    response = alice_client.post("/workspace/", {"reset_sandbox_key": "1"}, follow=True)
    assert "The sandbox key is reset" in response.content.decode()
    users.ws_a.refresh_from_db()
    new = users.ws_a.get_api_key()
    assert new != old and users.ws_a.api_key_hint in response.content.decode()
    assert sandbox_answers(client, new) == 200 and sandbox_answers(client, old) == 401
    # The same sandbox account, under its new key: the task sent before is still found.
    assert SandboxAccount.objects.get(api_key=new).pk == account.pk
    assert sandbox_answers(client, new, task_path) == 200


def test_a_member_cannot_reset_the_sandbox_key(client, users):
    users.ws_a.set_api_key("test_sandbox_member_cannot_00000")
    users.ws_a.save()
    client.force_login(users.bob)
    assert "Reset the sandbox key" not in client.get("/workspace/").content.decode()
    assert client.post("/workspace/", {"reset_sandbox_key": "1"}).status_code == 404
    users.ws_a.refresh_from_db()
    assert users.ws_a.get_api_key() == "test_sandbox_member_cannot_00000"


def test_a_new_callback_auth_key_reaches_the_sandbox(alice_client, users):
    alice_client.post("/workspace/", form(users.ws_a))
    users.ws_a.refresh_from_db()
    alice_client.post("/workspace/", form(users.ws_a, callback_auth_key="rotated-callback-key"))
    assert SandboxAccount.objects.get(api_key=users.ws_a.get_api_key()).callback_auth_key == "rotated-callback-key"


def test_the_callback_auth_key_is_write_only(alice_client, users):
    ws = users.ws_a
    ws.callback_auth_key = "scale-live-callback-secret-7f3a"
    ws.save()
    page = alice_client.get("/workspace/").content.decode()
    assert "scale-live-callback-secret" not in page  # not in the field, not anywhere
    assert "Stored: one ending in …7f3a; leave empty to keep it." in page
    # The form posted as the page renders it (the field empty) keeps the stored key.
    data = form(ws, callback_auth_key="", default_project="street")
    assert alice_client.post("/workspace/", data).status_code == 302
    ws.refresh_from_db()
    assert (ws.callback_auth_key, ws.default_project) == ("scale-live-callback-secret-7f3a", "street")
    # A key typed in replaces it.
    alice_client.post("/workspace/", form(ws, callback_auth_key="  pasted-new-key  "))
    ws.refresh_from_db()
    assert ws.callback_auth_key == "pasted-new-key"


def test_a_scale_key_typed_for_the_sandbox_is_refused_not_stored_in_the_sandbox(alice_client, users):
    response = alice_client.post("/workspace/", form(users.ws_a, api_key=SCALE_KEY))
    assert "makes its own key" in errors_of(response)["api_key"][0]
    assert not SandboxAccount.objects.filter(api_key=SCALE_KEY).exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:22/v1",
        "http://localhost:6379/",
        "http://10.0.0.5/v1",
        "http://192.168.1.1/v1",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8000/v1",
        "http://0.0.0.0:8000/v1",
    ],
)
def test_a_private_or_loopback_base_url_is_refused_with_a_clear_message(alice_client, users, url):
    ws = on_scale(users.ws_a)
    response = alice_client.post("/workspace/", form(ws, api_base_url=url, api_key=SCALE_KEY))
    assert response.status_code == 200
    (message,) = errors_of(response)["api_base_url"]
    assert message.startswith("Scale API must be a public address")
    assert message in response.content.decode().replace("&#x27;", "'")
    ws.refresh_from_db()
    assert ws.api_base_url == ""


def test_a_public_base_url_and_the_sites_own_sandbox_are_accepted(alice_client, users, settings):
    ws = on_scale(users.ws_a)
    for url in ("https://8.8.8.8/v1", f"{settings.SITE_URL}/sandbox/v1"):
        response = alice_client.post("/workspace/", form(ws, api_base_url=url, api_key=SCALE_KEY))
        assert response.status_code == 302, errors_of(response)
        ws.refresh_from_db()
        assert ws.api_base_url == url


def test_a_base_url_this_server_cannot_resolve_is_not_refused(alice_client, users):
    # Never stricter than needed: an offline machine cannot tell, and the fetcher checks again.
    ws = on_scale(users.ws_a)
    response = alice_client.post(
        "/workspace/", form(ws, api_base_url="https://api.example.invalid/v1", api_key=SCALE_KEY)
    )
    assert response.status_code == 302


def test_a_new_base_url_needs_the_key_again(alice_client, users):
    ws = on_scale(users.ws_a)
    response = alice_client.post("/workspace/", form(ws, api_base_url="https://8.8.8.8/v1"))
    (message,) = errors_of(response)["api_key"]
    assert "Enter the Scale API key again" in message and "https://8.8.8.8/v1" in message
    ws.refresh_from_db()
    assert ws.api_base_url == "" and ws.get_api_key() == SCALE_KEY
    # The same base URL, written differently (a trailing slash), is not a new host.
    response = alice_client.post("/workspace/", form(ws, api_base_url="https://api.scale.com/v1/"))
    assert response.status_code == 302


def test_saving_other_settings_keeps_the_stored_key(alice_client, users):
    ws = on_scale(users.ws_a, base="https://8.8.8.8/v1")
    response = alice_client.post("/workspace/", form(ws, default_project="roads"))
    assert response.status_code == 302
    ws.refresh_from_db()
    assert ws.get_api_key() == SCALE_KEY and ws.default_project == "roads"


def test_the_default_project_exists_in_the_sandbox(alice_client, users, client):
    from annotator.sandbox.models import SandboxProject

    alice_client.post("/workspace/", form(users.ws_a, default_project="roads"))
    users.ws_a.refresh_from_db()
    account = SandboxAccount.objects.get(api_key=users.ws_a.get_api_key())
    assert SandboxProject.objects.filter(account=account, name="roads").exists()
    created = client.post(
        "/sandbox/v1/task/segmentannotation",
        {"attachment": "https://example.org/a.png", "labels": ["road"], "project": "roads"},
        content_type="application/json",
        HTTP_AUTHORIZATION=basic(users.ws_a.get_api_key()),
    )
    assert created.status_code == 200, created.content


def test_every_described_by_reference_on_the_settings_page_exists(alice_client, users):
    """Screen readers read a field's help and its error through aria-describedby: each id it names is on the page."""
    import re

    for page in (
        alice_client.get("/workspace/").content.decode(),
        alice_client.post("/workspace/", form(users.ws_a, rate_limit_per_second="0")).content.decode(),
    ):
        refs = {ref for value in re.findall(r'aria-describedby="([^"]+)"', page) for ref in value.split()}
        assert refs, "no field is described"
        ids = set(re.findall(r'\sid="([^"]+)"', page))
        assert refs <= ids, sorted(refs - ids)
    assert 'id="id_rate_limit_per_second_error"' in page and "at most 1000" in page
