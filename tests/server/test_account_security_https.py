"""The accounts' defences as an attacker meets them over HTTPS, from many loopback addresses at once: second-factor
changes need the password, strangers' guesses never lock the owner out and are checked one by one, names that break
mail are refused, weak secrets are refused, and a removed admin's key stops working."""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import re
import threading

import pytest

from appliance.accounts.totp import code_at, step_of
from tests.appliance.mail.smtp_server import starttls_relay
from tests.running import RunningAppliance, free_port, tls13_context
from tests.server.conftest import init_appliance
from tests.server.test_accounts_https import Browser, mail_to

OPERATOR = ("operator@example.com", "correct horse battery staple for tests")
PASSWORD = "violet anchor drizzle 42"
LIMIT = 10  # login_max_failures_per_account, the shipped default


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    with starttls_relay(tmp_path_factory.mktemp("relay")) as found:
        yield found


@pytest.fixture(scope="module")
def served(tmp_path_factory, relay):
    server, ca_file = relay
    base = tmp_path_factory.mktemp("security")
    (base / "operator.txt").write_text(OPERATOR[1])
    data_dir, key_dir = init_appliance(base, "--operator-email", OPERATOR[0],
                                       "--password-file", str(base / "operator.txt"))
    running = RunningAppliance(data_dir, key_dir, free_port(), env={
        "CHATSPARK_SMTP_HOST": server.host, "CHATSPARK_SMTP_PORT": str(server.port),
        "CHATSPARK_SMTP_SECURITY": "starttls", "CHATSPARK_SMTP_CA_FILE": str(ca_file),
        "CHATSPARK_MAIL_FROM": "ChatSpark <chatspark@appliance.test>", "CHATSPARK_OUTBOX_INTERVAL_SECONDS": "1",
        "CHATSPARK_ARGON2_TIME_COST": "1", "CHATSPARK_ARGON2_MEMORY_KIB": "1024", "CHATSPARK_ARGON2_PARALLELISM": "1",
    }).start()
    yield running
    running.stop()


def api(served, method: str, path: str, body: dict | None = None, *, token: str | None = None,
        source: str = "127.0.0.1") -> tuple[int, dict]:
    """One JSON call over HTTPS (TLS 1.3) from the loopback address `source`, as another machine would call."""
    headers = {"Accept": "application/json"}
    payload = None
    if body is not None:
        payload, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn = http.client.HTTPSConnection("127.0.0.1", served.port, context=tls13_context(served.ca_file), timeout=30,
                                       source_address=(source, 0))
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    return response.status, (json.loads(raw) if raw else {})


def link_token(message, path: str) -> str:
    match = re.search(re.escape(path) + r"\?token=([A-Za-z0-9_\-%]+)", message.get_content())
    assert match, message.get_content()
    return match.group(1)


def log_in(served, email: str, password: str, **extra) -> dict:
    status, body = api(served, "POST", "/api/v1/auth/login", {"email": email, "password": password, **extra})
    assert status == 200, body
    return body


@pytest.fixture(scope="module")
def workspace(served):
    operator = log_in(served, *OPERATOR)["token"]
    status, body = api(served, "POST", "/api/v1/workspaces", {"name": "Support"}, token=operator)
    assert status == 201, body
    return body["workspace"]["id"], operator


def onboard(served, relay, workspace, email: str, role: str = "viewer") -> str:
    """Invite, accept, verify through the API (from 127.0.0.1); returns the new member's user id."""
    workspace_id, operator = workspace
    status, body = api(served, "POST", f"/api/v1/workspaces/{workspace_id}/invitations",
                       {"email": email, "role": role}, token=operator)
    assert status == 201, body
    token = link_token(mail_to(relay, email, "You are invited to Support"), "/invitations/accept")
    status, body = api(served, "POST", "/api/v1/invitations/accept", {"token": token, "password": PASSWORD})
    assert status == 200, body
    verify = link_token(mail_to(relay, email, "Confirm your email"), "/account/verify")
    assert api(served, "POST", "/api/v1/auth/verify-email", {"token": verify})[0] == 200
    return body["user_id"]


def code_for(secret_text: str) -> str:
    secret = base64.b32decode(secret_text + "=" * (-len(secret_text) % 8))
    return code_at(secret, step_of(dt.datetime.now(dt.timezone.utc)))


def test_a_second_factor_change_needs_the_current_password_over_the_api(served, relay, workspace):
    onboard(served, relay, workspace, "sam@example.com")
    session = log_in(served, "sam@example.com", PASSWORD)["token"]

    status, body = api(served, "POST", "/api/v1/me/second-factor", {}, token=session)
    assert status == 400 and "password" in body["message"]
    status, body = api(served, "POST", "/api/v1/me/second-factor", {"password": "not my password at all"},
                       token=session)
    assert status == 401 and body["message"] == "the current password is wrong"
    status, started = api(served, "POST", "/api/v1/me/second-factor", {"password": PASSWORD}, token=session)
    assert status == 200, started

    code = code_for(started["secret"])
    status, body = api(served, "POST", "/api/v1/me/second-factor/confirm", {"code": code}, token=session)
    assert status == 400 and "password" in body["message"]
    status, body = api(served, "POST", "/api/v1/me/second-factor/confirm",
                       {"code": code, "password": "not my password at all"}, token=session)
    assert status == 401
    status, body = api(served, "POST", "/api/v1/me/second-factor/confirm", {"code": code, "password": PASSWORD},
                       token=session)
    assert status == 200 and len(body["recovery_codes"]) == 10

    status, body = api(served, "POST", "/api/v1/me/second-factor/disable", {"password": "not my password at all"},
                       token=session)
    assert status == 401
    assert api(served, "POST", "/api/v1/me/second-factor/disable", {"password": PASSWORD}, token=session)[0] == 204
    status, me = api(served, "GET", "/api/v1/me", token=session)
    assert me["user"]["second_factor"] is False


def test_a_stolen_session_cannot_guess_the_password_to_enrol_a_factor(served, relay, workspace):
    onboard(served, relay, workspace, "tina@example.com")
    stolen = log_in(served, "tina@example.com", PASSWORD)["token"]

    statuses = [api(served, "POST", "/api/v1/me/second-factor", {"password": f"guess number {n} of many"},
                    token=stolen, source=f"127.0.3.{n + 1}")[0] for n in range(LIMIT + 3)]

    assert statuses == [401] * LIMIT + [429] * 3
    status, body = api(served, "POST", "/api/v1/me/second-factor", {"password": PASSWORD}, token=stolen,
                       source="127.0.3.99")
    assert status == 429, "even the right password is not checked once the guesses are spent"
    # The owner, at the address she signed in from, still gets in and can enrol.
    session = log_in(served, "tina@example.com", PASSWORD)["token"]
    assert api(served, "POST", "/api/v1/me/second-factor", {"password": PASSWORD}, token=session)[0] == 200


def test_the_account_page_asks_for_the_password_before_any_second_factor_change(served, relay, workspace):
    onboard(served, relay, workspace, "uma@example.com")
    browser = Browser(served)
    _, _, page = browser.request("GET", "/login")
    status, _, _ = browser.submit("/login", page, email="uma@example.com", password=PASSWORD, totp_code="")
    assert status == 303 and "__Host-chatspark_device" in browser.cookies
    _, _, page = browser.request("GET", "/account")
    assert re.search(r'action="/account/second-factor">.*?name="password" type="password"', page, re.S)

    status, _, refused = browser.submit("/account/second-factor", page)
    assert status == 401 and "enter your current password" in refused
    status, _, refused = browser.submit("/account/second-factor", page, password="not my password at all")
    assert status == 401 and "the current password is wrong" in refused
    status, _, page = browser.submit("/account/second-factor", page, password=PASSWORD)
    assert status == 200
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    status, _, refused = browser.submit("/account/second-factor/confirm", page, code=code_for(secret),
                                        password="not my password at all")
    assert status == 401
    status, _, page = browser.submit("/account/second-factor/confirm", page, code=code_for(secret), password=PASSWORD)
    assert status == 200 and "Second factor on." in page
    _, _, page = browser.request("GET", "/account")
    status, _, refused = browser.submit("/account/second-factor/disable", page, password="not my password at all")
    assert status == 401
    status, _, page = browser.submit("/account/second-factor/disable", page, password=PASSWORD)
    assert status == 200 and "Second factor off." in page


def test_strangers_guesses_lock_only_strangers_out_and_the_operator_still_gets_in(served, workspace):
    first = log_in(served, *OPERATOR)  # from 127.0.0.1, which becomes a familiar address
    device = first["device_token"]

    strangers = [api(served, "POST", "/api/v1/auth/login", {"email": OPERATOR[0], "password": f"guess {n} of a lot"},
                     source=f"127.0.1.{n + 1}")[0] for n in range(LIMIT)]
    assert strangers == [401] * LIMIT
    status, body = api(served, "POST", "/api/v1/auth/login", {"email": OPERATOR[0], "password": OPERATOR[1]},
                       source="127.0.1.200")
    assert status == 429 and "places it has not signed in from" in body["message"]

    log_in(served, *OPERATOR)  # the familiar address
    status, body = api(served, "POST", "/api/v1/auth/login",
                       {"email": OPERATOR[0], "password": OPERATOR[1], "device_token": device}, source="127.0.2.1")
    assert status == 200, body  # a new address, but a device the operator signed in on
    status, _ = api(served, "POST", "/api/v1/auth/login", {"email": OPERATOR[0], "password": OPERATOR[1]},
                    source="127.0.2.2")
    assert status == 429
    status, _ = api(served, "POST", "/api/v1/auth/login",
                    {"email": OPERATOR[0], "password": OPERATOR[1], "device_token": device[:-2] + "xx"},
                    source="127.0.2.3")
    assert status == 429, "a forged device token is a stranger"


def test_parallel_guesses_over_https_never_check_more_than_the_limit(served, relay, workspace):
    onboard(served, relay, workspace, "vic@example.com")
    start = threading.Barrier(24)
    statuses: list[int] = []

    def guess(number: int) -> None:
        start.wait()
        statuses.append(api(served, "POST", "/api/v1/auth/login",
                            {"email": "vic@example.com", "password": f"parallel guess {number}"},
                            source=f"127.0.4.{number + 1}")[0])

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [401] * LIMIT + [429] * (24 - LIMIT)


def test_names_that_would_break_mail_are_refused_by_every_route_and_lose_nothing(served, relay, workspace):
    workspace_id, operator = workspace
    for name in ("Acme\r\nBcc: mallory@evil.example", "Acme\u2028Support", "Acme\u0085", "Acme\u202e"):
        status, body = api(served, "POST", "/api/v1/workspaces", {"name": name}, token=operator)
        assert status == 400 and body["message"].startswith("a workspace name must be a single line"), body
        status, body = api(served, "PATCH", f"/api/v1/workspaces/{workspace_id}", {"name": name}, token=operator)
        assert status == 400 and "workspace name" in body["message"], body
        status, body = api(served, "POST", f"/api/v1/workspaces/{workspace_id}/agents", {"name": name},
                           token=operator)
        assert status == 400 and "the agent's 'name'" in body["message"], body
        status, body = api(served, "POST", f"/api/v1/workspaces/{workspace_id}/api-keys",
                           {"name": name, "scopes": ["chat"]}, token=operator)
        assert status == 400 and "an API key's name" in body["message"], body
    assert api(served, "GET", f"/api/v1/workspaces/{workspace_id}", token=operator)[1]["workspace"]["name"] == \
        "Support"

    api(served, "POST", f"/api/v1/workspaces/{workspace_id}/invitations", {"email": "wes@example.com",
                                                                           "role": "viewer"}, token=operator)
    token = link_token(mail_to(relay, "wes@example.com", "You are invited to Support"), "/invitations/accept")
    status, body = api(served, "POST", "/api/v1/invitations/accept",
                       {"token": token, "password": PASSWORD, "display_name": "Wes\nVisit https://evil.example"})
    assert status == 400 and body["message"].startswith("a display name must be a single line"), body
    status, body = api(served, "POST", "/api/v1/invitations/accept",
                       {"token": token, "password": PASSWORD, "display_name": "=?utf-8?q?Wes=0ABcc:_x@evil.example?="})
    assert status == 200 and body["new_account"], "the refused attempt used nothing up"
    mail = mail_to(relay, "wes@example.com", "Confirm your email")
    assert mail["Bcc"] is None


def test_weak_secrets_are_refused_with_advice_and_never_echoed(served, relay, workspace):
    workspace_id, operator = workspace
    api(served, "POST", f"/api/v1/workspaces/{workspace_id}/invitations", {"email": "xena@example.com",
                                                                           "role": "admin"}, token=operator)
    token = link_token(mail_to(relay, "xena@example.com", "You are invited to Support"), "/invitations/accept")
    for weak, advice in (("aaaaaaaaaaaa", "avoid repeated characters"), ("password1234", "common passwords"),
                         ("support desk 2024", "workspace's name")):
        status, body = api(served, "POST", "/api/v1/invitations/accept", {"token": token, "password": weak})
        assert status == 400 and body["error"] == "weak_password" and advice in body["message"], body
        assert weak not in body["message"]
    assert api(served, "POST", "/api/v1/invitations/accept", {"token": token, "password": PASSWORD})[0] == 200

    for weak in ("password1234", "aaaaaaaaaaaa", "abcdefghijklmnop"):
        status, body = api(served, "POST", f"/api/v1/workspaces/{workspace_id}/export", {"passphrase": weak},
                           token=operator)
        assert status == 400 and body["error"] == "weak_passphrase", body
        assert weak not in body["message"] and "Add another word or two" in body["message"]


def test_a_removed_admins_never_expiring_key_stops_exporting_at_once(served, relay, workspace):
    workspace_id, operator = workspace
    admin_id = onboard(served, relay, workspace, "yuri@example.com", role="admin")
    admin = log_in(served, "yuri@example.com", PASSWORD)["token"]
    status, created = api(served, "POST", f"/api/v1/workspaces/{workspace_id}/api-keys",
                          {"name": "Everything", "scopes": ["leads:read", "export"], "expires_in_days": "never"},
                          token=admin)
    assert status == 201, created
    key = created["key"]
    assert api(served, "GET", f"/api/v1/workspaces/{workspace_id}/leads", token=key)[0] == 200

    status, body = api(served, "DELETE", f"/api/v1/workspaces/{workspace_id}/members/{admin_id}", token=operator)

    assert status == 200 and body["api_keys"] == [{"id": created["api_key"]["id"], "name": "Everything",
                                                   "outcome": "revoked", "to": None}]
    assert api(served, "GET", f"/api/v1/workspaces/{workspace_id}/leads", token=key)[0] == 401
