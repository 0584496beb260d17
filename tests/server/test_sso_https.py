"""Single sign-on end to end: a real OpenID Connect provider (oidc-provider-mock) on loopback, the appliance through
its real HTTPS stack, and a browser's steps done by hand (cookies and redirects). Sign-in creates the account for an
allowed domain and refuses another; the group mapping grants a role and takes it back when the group goes; a
replayed callback, a callback from another browser and a refused consent are refused; password sign-in can be turned
off for the provider's users; every step is audited."""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse
import urllib.request
from http.cookies import SimpleCookie

import pytest

from tests.oidc_provider import NoRedirect, running_provider, set_user
from tests.running import tls13_context
from tests.server.conftest import serve_with_operator

OPERATOR = ("operator@example.com", "correct horse battery staple for sso")


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    with running_provider(tmp_path_factory.mktemp("idp")) as issuer:
        yield issuer


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    running = serve_with_operator(tmp_path_factory.mktemp("sso"), OPERATOR)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def provider(served, idp):
    status, made = served.api("POST", "/api/v1/sso/providers", {
        "name": "Corp SSO", "issuer": idp, "client_id": "chatspark", "client_secret": "corp-secret",
        "allowed_domains": ["example.com"], "groups_claim": "groups"}, token=served.token)
    assert status == 201, made
    assert made["callback_url"].endswith(f"/sso/{made['provider']['id']}/callback")
    status, workspace = served.api("POST", "/api/v1/workspaces", {"name": "Support"}, token=served.token)
    made["workspace_id"] = workspace["workspace"]["id"]
    status, mapped = served.api("PUT", f"/api/v1/sso/providers/{made['provider']['id']}/group-roles", {
        "group_roles": [{"group": "support-team", "workspace_id": made["workspace_id"], "role": "editor"},
                        {"group": "support-leads", "workspace_id": made["workspace_id"], "role": "admin"}]},
        token=served.token)
    assert status == 200, mapped
    return made


class Browser:
    """Cookies per origin and one request at a time, as a browser follows a sign-in."""

    def __init__(self, served) -> None:
        self.served, self.cookies = served, {}

    def appliance(self, path: str) -> tuple[int, dict, str]:
        conn = http.client.HTTPSConnection("localhost", self.served.port, context=tls13_context(self.served.ca_file),
                                           timeout=20)
        try:
            cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
            response = conn.getresponse()
            for header in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(header).items():
                    if morsel["max-age"] == "0" or 'expires=Thu, 01 Jan 1970' in header:
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.value
            return response.status, dict(response.getheaders()), response.read().decode()
        finally:
            conn.close()

    def sign_in(self, provider_id: str, subject: str, *, deny: bool = False) -> tuple[int, str, str]:
        """Start at the appliance, consent at the provider as `subject`: the callback's status, body and URL."""
        status, headers, _ = self.appliance(f"/sso/{provider_id}/start")
        assert status == 303, headers
        authorize = headers["Location"]
        form = urllib.parse.urlencode({"sub": subject, **({"action": "deny"} if deny else {})}).encode()
        opener = urllib.request.build_opener(NoRedirect)
        try:
            opener.open(urllib.request.Request(authorize, data=form))
            raise AssertionError("the provider did not redirect back")
        except urllib.error.HTTPError as redirected:
            callback = redirected.headers["Location"]
        parts = urllib.parse.urlsplit(callback)
        status, _, body = self.appliance(f"{parts.path}?{parts.query}")
        return status, body, f"{parts.path}?{parts.query}"

    def me(self) -> tuple[int, dict]:
        status, _, body = self.appliance("/api/v1/me")
        return status, json.loads(body)


def members(served, workspace_id: str) -> dict[str, str]:
    status, body = served.api("GET", f"/api/v1/workspaces/{workspace_id}/members", token=served.token)
    return {m["email"]: m["role"] for m in body["members"]}


def audited(served, action: str) -> list[dict]:
    status, body = served.api("GET", f"/api/v1/audit?action={action}&limit=500", token=served.token)
    return body["events"]


def test_the_login_page_offers_the_provider(served, provider):
    status, _, page = Browser(served).appliance("/login")
    assert status == 200 and f"/sso/{provider['provider']['id']}/start" in page and "Sign in with Corp SSO" in page
    status, buttons = served.api("GET", "/api/v1/sso/buttons")
    assert buttons["providers"] == [{"id": provider["provider"]["id"], "name": "Corp SSO",
                                     "start": f"/sso/{provider['provider']['id']}/start"}]
    assert buttons["directory_sign_in"] is False and 'name="email" type="email"' in page
    status, listed = served.api("GET", "/api/v1/sso/providers", token=served.token)
    assert "client_secret" not in json.dumps(listed) and "corp-secret" not in json.dumps(listed)


def test_first_sign_in_creates_the_account_grants_the_mapped_role_and_a_replay_is_refused(served, idp, provider):
    provider_id, workspace = provider["provider"]["id"], provider["workspace_id"]
    set_user(idp, "ann@example.com", name="Ann Lee", groups=["support-team"])
    browser = Browser(served)
    status, body, callback = browser.sign_in(provider_id, "ann@example.com")
    assert status == 200 and "Signed in as ann@example.com" in body
    status, me = browser.me()
    assert status == 200 and me["user"]["email"] == "ann@example.com"
    assert [(w["id"], w["role"]) for w in me["workspaces"]] == [(workspace, "editor")]
    # The same callback again: the sign-in was used up.
    replay = Browser(served)
    replay.cookies = {k: v for k, v in browser.cookies.items() if k == "__Host-chatspark_sso"}
    status, _, body = replay.appliance(callback)
    assert status == 401 and "already used" in body
    assert {"sso.account_create", "sso.role_grant"} <= {e["action"] for e in audited(served, "sso")}


def test_a_group_gone_at_the_provider_takes_the_role_back_at_the_next_sign_in(served, idp, provider):
    provider_id, workspace = provider["provider"]["id"], provider["workspace_id"]
    set_user(idp, "bo@example.com", groups=["support-team", "support-leads"])
    assert Browser(served).sign_in(provider_id, "bo@example.com")[0] == 200
    assert members(served, workspace)["bo@example.com"] == "admin"  # the highest of the groups' roles
    set_user(idp, "bo@example.com", groups=["support-team"])
    assert Browser(served).sign_in(provider_id, "bo@example.com")[0] == 200
    assert members(served, workspace)["bo@example.com"] == "editor"
    set_user(idp, "bo@example.com", groups=[])
    assert Browser(served).sign_in(provider_id, "bo@example.com")[0] == 200
    assert "bo@example.com" not in members(served, workspace)
    assert any(e["action"] == "sso.role_revoke" for e in audited(served, "sso.role_revoke"))


def test_an_address_outside_the_allowed_domains_gets_no_account(served, idp, provider):
    set_user(idp, "mallory@elsewhere.org", groups=["support-team"])
    status, body, _ = Browser(served).sign_in(provider["provider"]["id"], "mallory@elsewhere.org")
    assert status == 403 and "accounts are made at first sign-in only" in body
    status, users = served.api("GET", "/api/v1/users", token=served.token)
    assert "mallory@elsewhere.org" not in {u["email"] for u in users["users"]}
    failed = [e for e in audited(served, "sso.sign_in") if e["outcome"] == "failure"]
    assert any("first sign-in only" in e["details"]["reason"] for e in failed)


def test_a_callback_from_another_browser_or_a_refused_consent_signs_nobody_in(served, idp, provider):
    provider_id = provider["provider"]["id"]
    set_user(idp, "cy@example.com", groups=[])
    browser = Browser(served)
    status, headers, _ = browser.appliance(f"/sso/{provider_id}/start")
    browser.cookies.clear()  # the callback arrives without the cookie the start set
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(urllib.request.Request(headers["Location"], data=b"sub=cy%40example.com"))
    except urllib.error.HTTPError as redirected:
        parts = urllib.parse.urlsplit(redirected.headers["Location"])
    status, _, body = browser.appliance(f"{parts.path}?{parts.query}")
    assert status == 401 and "another browser" in body
    status, body, _ = Browser(served).sign_in(provider_id, "cy@example.com", deny=True)
    assert status == 401 and "did not sign you in" in body


def test_password_sign_in_can_be_turned_off_for_the_providers_users(served, idp, provider):
    provider_id = provider["provider"]["id"]
    status, made = served.api("POST", "/api/v1/users", {"email": "dee@example.com",
                                                        "password": "lantern quartz harbour 42"}, token=served.token)
    assert status == 201, made
    set_user(idp, "dee@example.com", groups=[])
    assert Browser(served).sign_in(provider_id, "dee@example.com")[0] == 200  # linked by its verified address
    assert served.api("POST", "/api/v1/auth/login", {"email": "dee@example.com",
                                                     "password": "lantern quartz harbour 42"})[0] == 200
    status, _ = served.api("PATCH", f"/api/v1/sso/providers/{provider_id}", {"password_login": False},
                           token=served.token)
    assert status == 200
    status, refused = served.api("POST", "/api/v1/auth/login", {"email": "dee@example.com",
                                                                "password": "lantern quartz harbour 42"})
    assert status == 401 and "Sign in with Corp SSO" in refused["message"]
    served.api("PATCH", f"/api/v1/sso/providers/{provider_id}", {"password_login": True}, token=served.token)
    assert re.search(r"sso\.provider_update", json.dumps(audited(served, "sso.provider_update")))
