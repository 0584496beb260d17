"""LDAP / Active Directory sign-in end to end: a real OpenLDAP directory (tests/ldap_server.py) and the appliance
through its real HTTPS stack. An operator adds the directory (a plain bind is refused) and tests its connection;
a person signs in at /api/v1/auth/login with their directory password, by mail or by uid, and gets the role their
group maps to, which goes when the group does; a wrong password, an address outside the allowed domains and a
password changed in the directory behave as they must; the appliance never keeps or changes the password."""

from __future__ import annotations

import pytest

from server.auth import SESSION_COOKIE
from tests.ldap_server import running_directory
from tests.server.conftest import serve_with_operator
from tests.server.test_accounts_https import Browser

OPERATOR = ("operator@example.com", "correct horse battery staple for ldap")
ADA = ("ada@example.org", "ridge falcon copper 58")


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    with running_directory(tmp_path_factory.mktemp("slapd")) as running:
        yield running


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    running = serve_with_operator(tmp_path_factory.mktemp("ldap"), OPERATOR)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def configured(served, directory):
    """The directory as an operator adds it (accounts made only for example.org), its support group mapped to the
    editor role in a workspace: (provider id, workspace id)."""
    status, made = served.api("POST", "/api/v1/sso/providers", directory.settings(allowed_domains=["example.org"]),
                              token=served.token)
    assert status == 201, made
    assert made["callback_url"] is None and "bind_password" not in made["provider"]
    provider_id = made["provider"]["id"]
    status, workspace = served.api("POST", "/api/v1/workspaces", {"name": "Support"}, token=served.token)
    workspace_id = workspace["workspace"]["id"]
    status, mapped = served.api("PUT", f"/api/v1/sso/providers/{provider_id}/group-roles", {
        "group_roles": [{"group": "support", "workspace_id": workspace_id, "role": "editor"}]}, token=served.token)
    assert status == 200, mapped
    return provider_id, workspace_id


def login(served, email: str, password: str) -> tuple[int, dict]:
    return served.api("POST", "/api/v1/auth/login", {"email": email, "password": password})


def members(served, workspace_id: str) -> dict[str, str]:
    status, body = served.api("GET", f"/api/v1/workspaces/{workspace_id}/members", token=served.token)
    return {m["email"]: m["role"] for m in body["members"]}


def audited(served, action: str) -> list[dict]:
    status, body = served.api("GET", f"/api/v1/audit?action={action}&limit=500", token=served.token)
    return body["events"]


@pytest.mark.parametrize("url", ["ldap://127.0.0.1:389", "ldap://ldap.example.com"])
def test_a_plain_bind_is_refused_when_the_directory_is_added(served, directory, url):
    status, refused = served.api("POST", "/api/v1/sso/providers", directory.settings(url=url), token=served.token)
    assert status == 400 and refused["message"].startswith("'url' is ldap:// only with 'start_tls' on")
    status, listed = served.api("GET", "/api/v1/sso/providers", token=served.token)
    assert url not in str(listed)


def test_the_operator_tests_the_directorys_connection(served, directory, configured):
    provider_id, _ = configured
    status, checked = served.api("POST", f"/api/v1/sso/providers/{provider_id}/check", token=served.token)
    assert status == 200 and checked["ok"] is True, checked
    assert checked["detail"].startswith(f"Connected to {directory.ldaps_url} over LDAPS with a verified certificate")
    status, changed = served.api("PATCH", f"/api/v1/sso/providers/{provider_id}", {"bind_password": "wrong"},
                                 token=served.token)
    assert status == 200, changed
    status, checked = served.api("POST", f"/api/v1/sso/providers/{provider_id}/check", token=served.token)
    assert status == 200 and checked["ok"] is False and "refused the service account" in checked["detail"]
    restored = {"bind_password": directory.settings()["bind_password"]}
    served.api("PATCH", f"/api/v1/sso/providers/{provider_id}", restored, token=served.token)
    status, listed = served.api("GET", "/api/v1/sso/providers", token=served.token)
    assert directory.settings()["bind_password"] not in str(listed)
    # A directory has no sign-in page of its own: its people use the password form, not a button.
    status, _, page = served.get("/login")
    assert status == 200 and "Example Directory" not in page.decode()
    assert served.api("GET", "/api/v1/sso/buttons")[1] == {"providers": [], "directory_sign_in": True}


def test_the_login_page_asks_for_an_email_or_user_name_and_signs_a_person_in_by_their_uid(served, directory,
                                                                                         configured):
    directory.add_person("lin", password="lin's directory password 44", mail="lin@example.org", name="Lin Wu")
    browser = Browser(served)
    status, _, page = browser.request("GET", "/login")
    assert status == 200 and "Email or user name" in page and 'type="email"' not in page

    status, headers, _ = browser.submit("/login", page, email="lin", password="lin's directory password 44",
                                        totp_code="")

    assert status == 303 and headers["Location"] == "/account" and SESSION_COOKIE in browser.cookies
    status, _, account = browser.request("GET", "/account")
    assert status == 200 and "lin@example.org" in account


def test_a_person_signs_in_with_their_directory_password_and_gets_their_groups_role(served, directory, configured):
    provider_id, workspace_id = configured
    ada = directory.add_person("ada", password=ADA[1], mail=ADA[0], name="Ada Lovelace")
    directory.set_group("support", [ada])
    status, signed_in = login(served, *ADA)
    assert status == 200, signed_in
    assert signed_in["user"]["email"] == ADA[0] and signed_in["device_token"] == ""
    status, me = served.api("GET", "/api/v1/me", token=signed_in["token"])
    assert [(w["id"], w["role"]) for w in me["workspaces"]] == [(workspace_id, "editor")]
    assert login(served, "ada", ADA[1])[0] == 200  # by uid too, into the same account
    status, users = served.api("GET", "/api/v1/users", token=served.token)
    assert [u["email"] for u in users["users"]].count(ADA[0]) == 1
    logins = [e for e in audited(served, "auth.login") if e["outcome"] == "success" and e["details"]]
    assert any(e["details"].get("directory") == provider_id for e in logins)
    assert {"sso.account_create", "sso.role_grant"} <= {e["action"] for e in audited(served, "sso")}


def test_a_wrong_password_is_refused_as_any_wrong_password_is(served, directory, configured):
    directory.add_person("eve", password="eve's real password 12", mail="eve@example.org")
    status, refused = login(served, "eve@example.org", "a guess at eve's 12")
    assert status == 401
    assert refused["message"] == login(served, "no-such-person@example.org", "a guess at eve's 12")[1]["message"]
    status, users = served.api("GET", "/api/v1/users", token=served.token)
    assert "eve@example.org" not in {u["email"] for u in users["users"]}


def test_a_group_gone_from_the_directory_takes_the_role_back_at_the_next_sign_in(served, directory, configured):
    _, workspace_id = configured
    bo = directory.add_person("bo", password="bo's directory password 31", mail="bo@example.org")
    directory.set_group("support", [bo])
    assert login(served, "bo", "bo's directory password 31")[0] == 200
    assert members(served, workspace_id)["bo@example.org"] == "editor"
    directory.set_group("support", [])
    assert login(served, "bo", "bo's directory password 31")[0] == 200
    assert "bo@example.org" not in members(served, workspace_id)
    assert audited(served, "sso.role_revoke")


def test_an_address_outside_the_allowed_domains_gets_no_account(served, directory, configured):
    directory.add_person("mallory", password="mallory's password 99", mail="mallory@elsewhere.test")
    status, refused = login(served, "mallory", "mallory's password 99")
    assert status == 403 and "first sign-in only" in refused["message"], refused
    status, users = served.api("GET", "/api/v1/users", token=served.token)
    assert "mallory@elsewhere.test" not in {u["email"] for u in users["users"]}


def test_the_directory_keeps_the_password(served, directory, configured):
    """Changed in the directory, the old password stops working at once; the appliance refuses to change or reset
    it, and confirms a change of the account's own settings with the directory's password."""
    directory.add_person("cy", password="cy's first password 40", mail="cy@example.org")
    status, signed_in = login(served, "cy@example.org", "cy's first password 40")
    assert status == 200, signed_in
    token = signed_in["token"]
    status, refused = served.api("POST", "/api/v1/me/password", {"current_password": "cy's first password 40",
                                                                 "new_password": "a new password here 41"},
                                 token=token)
    assert status == 409 and "kept by the directory Example Directory" in refused["message"], refused
    directory.set_password("cy", "cy's second password 42")
    assert login(served, "cy@example.org", "cy's first password 40")[0] == 401
    assert login(served, "cy@example.org", "cy's second password 42")[0] == 200
    # A reset link would set a password the directory does not know: none is sent, and the refusal is audited.
    assert served.api("POST", "/api/v1/auth/password-reset", {"email": "cy@example.org"})[0] == 202
    resets = [e for e in audited(served, "auth.reset_request") if e["actor_id"] == signed_in["user"]["id"]]
    assert [(e["outcome"], e["details"]) for e in resets] == [("failure", {"reason": "password_kept_by_directory"})]
    status, mails = served.api("GET", "/api/v1/mail/outbox?all=true", token=served.token)
    assert status == 200 and "cy@example.org" not in {m["recipient"] for m in mails["mail"]}, mails


def test_a_directory_that_cannot_be_reached_says_so_without_counting_a_failure(served, directory, configured):
    status, made = served.api("POST", "/api/v1/sso/providers", directory.settings(
        name="Branch office", url="ldaps://127.0.0.1:1"), token=served.token)
    assert status == 201, made
    try:
        status, refused = login(served, "nobody-anywhere@example.org", "some password 1234")
        # The first directory says nobody; the second cannot be asked: that is not a wrong password.
        assert status == 503 and "cannot reach the directory" in refused["message"], refused
    finally:
        served.api("DELETE", f"/api/v1/sso/providers/{made['provider']['id']}", token=served.token)
    assert login(served, "nobody-anywhere@example.org", "some password 1234")[0] == 401


def test_a_directory_entry_cannot_take_over_an_account_by_its_mail_address(served, directory, configured):
    """A person who can write their own entry's mail could claim anybody's address: an account with a password of its
    own (the operator's, here) or signing in elsewhere is never handed to the directory's person."""
    directory.add_person("trudy", password="trudy's password 66", mail=OPERATOR[0])
    status, refused = login(served, "trudy", "trudy's password 66")
    assert status == 403 and "already has an account here that signs in another way" in refused["message"], refused
    status, operator = login(served, *OPERATOR)
    assert status == 200 and operator["user"]["email"] == OPERATOR[0]  # their own password still signs them in
    status, me = served.api("GET", "/api/v1/me", token=served.token)
    assert status == 200 and me["user"]["email"] == OPERATOR[0]
    denied = [e for e in audited(served, "auth.login") if e["outcome"] != "success"]
    assert any(e["details"].get("reason") == "directory_account_not_allowed" for e in denied)


def _local_account(served, workspace_id: str, email: str, password: str) -> str:
    """An account with a password of its own, made as people join: invited, then accepted. Its id."""
    status, invited = served.api("POST", f"/api/v1/workspaces/{workspace_id}/invitations",
                                 {"email": email, "role": "viewer"}, token=served.token)
    assert status == 201, invited
    token = invited["accept_url"].split("token=", 1)[1]
    status, accepted = served.api("POST", "/api/v1/invitations/accept", {"token": token, "password": password})
    assert status == 200, accepted
    return accepted["user_id"]


def test_an_operator_hands_an_account_with_its_own_password_to_the_directory(served, directory, configured):
    provider_id, workspace_id = configured
    kim = _local_account(served, workspace_id, "kim@example.org", "harbour violet engine 19")
    directory.add_person("kim", password="kim's directory password 23", mail="kim@example.org")
    # Before: the account's own password is the one checked (the address is not confirmed yet), the directory's
    # is wrong.
    assert login(served, "kim@example.org", "kim's directory password 23")[0] == 401
    assert login(served, "kim@example.org", "harbour violet engine 19")[1]["error"] == "email_not_verified"

    status, handed = served.api("POST", f"/api/v1/users/{kim}/directory", {"provider_id": provider_id},
                                token=served.token)

    assert status == 200 and handed["user"]["email"] == "kim@example.org", handed
    assert login(served, "kim@example.org", "harbour violet engine 19")[0] == 401
    status, signed_in = login(served, "kim", "kim's directory password 23")
    assert status == 200 and signed_in["user"]["id"] == kim  # the directory vouches for the address
    assert members(served, workspace_id)["kim@example.org"] == "viewer"  # the role given by hand stays
    [event] = [e for e in audited(served, "sso.directory_hand_over") if e["target_id"] == kim]
    assert event["details"]["provider"] == provider_id and event["actor_type"] == "user"
    status, again = served.api("POST", f"/api/v1/users/{kim}/directory", {"provider_id": provider_id},
                               token=served.token)
    assert status == 409 and "already signs in through" in again["message"]


def test_an_account_the_directory_does_not_hold_or_an_operators_is_not_handed_over_and_keeps_its_password(
        served, directory, configured):
    provider_id, workspace_id = configured
    lee = _local_account(served, workspace_id, "lee@example.org", "granite lemon orchard 57")
    status, refused = served.api("POST", f"/api/v1/users/{lee}/directory", {"provider_id": provider_id},
                                 token=served.token)
    assert status == 400 and "has no single entry" in refused["message"] and "lee@example.org" in refused["message"]
    directory.add_person("lee", password="lee's directory password 58", mail="lee.other@example.org")
    status, refused = served.api("POST", f"/api/v1/users/{lee}/directory", {"provider_id": provider_id},
                                 token=served.token)
    assert status == 400 and "has no single entry" in refused["message"]  # found by mail only: lee@ is not there
    assert login(served, "lee@example.org", "granite lemon orchard 57")[1]["error"] == "email_not_verified"

    status, me = served.api("GET", "/api/v1/me", token=served.token)
    status, refused = served.api("POST", f"/api/v1/users/{me['user']['id']}/directory",
                                 {"provider_id": provider_id}, token=served.token)
    assert status == 409 and "operator's account keeps its own password" in refused["message"]
    assert served.api("POST", f"/api/v1/users/{lee}/directory", {"provider_id": "no-such-provider"},
                      token=served.token)[0] == 404
    assert login(served, *OPERATOR)[0] == 200
