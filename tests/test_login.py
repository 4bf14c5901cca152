from __future__ import annotations

import uuid

import pytest

from tests.support import url_routes

# Paths that answer strangers on purpose: signing in, Scale's callbacks (they
# authenticate with the callback key), and the sandbox (it plays Scale's API
# and authenticates with an API key).
PUBLIC_PREFIXES = ("accounts/login/", "callbacks/", "sandbox/", "admin/")


def _concrete(route: str) -> str:
    # Fill every converter with a plausible value: login must be demanded
    # before the value is even looked at.
    out, i = "", 0
    while i < len(route):
        if route[i] == "<":
            j = route.index(">", i)
            kind = route[i + 1 : j].split(":", maxsplit=1)[0] if ":" in route[i + 1 : j] else "str"
            out += str(uuid.uuid4()) if kind == "uuid" else ("1" if kind == "int" else "x")
            i = j + 1
        else:
            out += route[i]
            i += 1
    return "/" + out.lstrip("^").rstrip("$")


def app_routes():
    return sorted({_concrete(r) for r in url_routes() if not r.startswith(PUBLIC_PREFIXES)})


@pytest.mark.parametrize("path", app_routes())
def test_it_requires_login_everywhere(client, db, path):
    for method in ("get", "post"):
        response = getattr(client, method)(path)
        assert response.status_code in (302, 405), f"{method.upper()} {path} answered {response.status_code}"
        if response.status_code == 302:
            assert response["Location"].startswith("/accounts/login/"), f"{path} redirects elsewhere"


def test_admin_requires_staff_login(client, db):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_it_signs_in_and_out(client, users):
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_it_refuses_the_sixth_failed_sign_in_even_with_the_right_password(client, users):
    for _ in range(5):
        response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
        assert "Please enter a correct username and password" in response.content.decode()
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})
    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_throttles_by_address_across_accounts(client, users):
    for name in ("x1", "x2", "x3", "x4", "x5"):
        client.post("/accounts/login/", {"username": name, "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "bob", "password": "bob-password-1"})
    assert "Too many failed sign-in attempts" in response.content.decode()


def test_a_successful_sign_in_resets_the_account_count(client, users):
    for _ in range(4):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})
    client.post("/accounts/logout/")
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert "Too many" not in response.content.decode()


def test_it_changes_the_password(alice_client, users):
    response = alice_client.post(
        "/accounts/password/",
        {
            "old_password": "alice-password-1",
            "new_password1": "a-much-better-pass-42",
            "new_password2": "a-much-better-pass-42",
        },
    )
    assert response.status_code == 302
    users.alice.refresh_from_db()
    assert users.alice.check_password("a-much-better-pass-42")


def test_pages_carry_a_strict_content_security_policy(alice_client):
    csp = alice_client.get("/")["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
