"""Accounts end to end as people meet them: over HTTPS, with mail through a real SMTP relay (STARTTLS)."""

from __future__ import annotations

import hashlib
import http.client
import re
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest

from appliance.bootstrap import open_appliance
from appliance.clock import SystemClock
from appliance.storage.layout import Layout
from tests.appliance.mail.smtp_server import starttls_relay
from tests.running import RunningAppliance, chatspark, free_port, tls13_context
from tests.server.conftest import init_appliance

OPERATOR = ("operator@example.com", "correct horse battery staple for tests")
# Every secret a client was handed during the module, to prove none of them is stored as such.
HANDED_OUT: list[str] = []


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    with starttls_relay(tmp_path_factory.mktemp("relay")) as found:
        yield found


@pytest.fixture(scope="module")
def served(tmp_path_factory, relay):
    server, ca_file = relay
    base = tmp_path_factory.mktemp("accounts")
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


def login(served, email: str, password: str) -> str:
    status, body = served.api("POST", "/api/v1/auth/login", {"email": email, "password": password})
    assert status == 200, body
    HANDED_OUT.append(body["token"])
    return body["token"]


def mail_to(relay, address: str, subject_part: str, *, seen: int = 0, timeout: float = 20.0):
    """The first mail to `address` whose subject contains `subject_part`, after skipping `seen` of them."""
    server, _ = relay
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        matching = [r for r in server.received if address in r.rcpt_tos and subject_part in r.message["Subject"]]
        if len(matching) > seen:
            assert matching[seen].over_tls, "mail must travel over STARTTLS"
            return matching[seen].message
        time.sleep(0.1)
    raise AssertionError(f"no mail to {address} about {subject_part!r} within {timeout} s")


def link_token(message, path: str) -> str:
    body = message.get_content()
    match = re.search(re.escape(path) + r"\?token=([A-Za-z0-9_\-%]+)", body)
    assert match, body
    HANDED_OUT.append(match.group(1))
    return match.group(1)


@pytest.fixture(scope="module")
def workspace(served):
    token = login(served, *OPERATOR)
    status, body = served.api("POST", "/api/v1/workspaces", {"name": "Support"}, token=token)
    assert status == 201, body
    return body["workspace"]["id"], token


def onboard(served, relay, workspace, email: str, role: str, password: str) -> str:
    """Invite -> mail -> accept -> verification mail -> verify, all through the API; returns a session token."""
    workspace_id, operator = workspace
    status, body = served.api("POST", f"/api/v1/workspaces/{workspace_id}/invitations",
                              {"email": email, "role": role}, token=operator)
    assert status == 201, body
    token = link_token(mail_to(relay, email, "You are invited to Support"), "/invitations/accept")
    status, body = served.api("POST", "/api/v1/invitations/accept",
                              {"token": token, "password": password, "display_name": email.split("@")[0]})
    assert status == 200 and body["new_account"], body
    verify = link_token(mail_to(relay, email, "Confirm your email"), "/account/verify")
    status, body = served.api("POST", "/api/v1/auth/verify-email", {"token": verify})
    assert status == 200 and body["user"]["email_verified"], body
    return login(served, email, password)


def test_invited_user_accepts_verifies_and_logs_in(served, relay, workspace):
    workspace_id, operator = workspace
    status, body = served.api("POST", f"/api/v1/workspaces/{workspace_id}/invitations",
                              {"email": "alice@example.com", "role": "editor"}, token=operator)
    assert status == 201
    invitation = link_token(mail_to(relay, "alice@example.com", "You are invited"), "/invitations/accept")

    status, body = served.api("POST", "/api/v1/invitations/accept",
                              {"token": invitation, "password": "my own long passphrase"})
    assert status == 200 and body["new_account"] and body["email_verification_sent"]
    status, again = served.api("POST", "/api/v1/invitations/accept",
                               {"token": invitation, "password": "my own long passphrase"})
    assert status == 400 and again["error"] == "invalid_token"

    status, refused = served.api("POST", "/api/v1/auth/login",
                                 {"email": "alice@example.com", "password": "my own long passphrase"})
    assert status == 403 and refused["error"] == "email_not_verified"

    verify = link_token(mail_to(relay, "alice@example.com", "Confirm your email"), "/account/verify")
    status, _ = served.api("POST", "/api/v1/auth/verify-email", {"token": verify})
    assert status == 200
    token = login(served, "alice@example.com", "my own long passphrase")
    status, me = served.api("GET", "/api/v1/me", token=token)
    assert status == 200
    assert [(w["id"], w["role"]) for w in me["workspaces"]] == [(workspace_id, "editor")]

    status, body = served.api("GET", f"/api/v1/workspaces/{workspace_id}/invitations", token=token)
    assert status == 403 and body["error"] == "forbidden"
    status, audit = served.api("GET", "/api/v1/audit?action=invitation.", token=operator)
    assert {"invitation.create", "invitation.accept"} <= {e["action"] for e in audit["events"]}


def test_invitations_cannot_be_escalated_or_taken_by_another_account(served, relay, workspace):
    workspace_id, operator = workspace
    editor = onboard(served, relay, workspace, "eddie@example.com", "editor", "the long passphrase here")
    status, body = served.api("POST", f"/api/v1/workspaces/{workspace_id}/invitations",
                              {"email": "x@example.com", "role": "viewer"}, token=editor)
    assert status == 403
    status, body = served.api("POST", f"/api/v1/workspaces/{workspace_id}/invitations",
                              {"email": "x@example.com", "role": "owner"}, token=operator)
    assert status == 400 and "role" in body["message"]

    served.api("POST", f"/api/v1/workspaces/{workspace_id}/invitations",
               {"email": "frank@example.com", "role": "viewer"}, token=operator)
    token = link_token(mail_to(relay, "frank@example.com", "You are invited"), "/invitations/accept")
    # Eddie, signed in, cannot take Frank's invitation for his own account.
    status, body = served.api("POST", "/api/v1/invitations/accept", {"token": token}, token=editor)
    assert status == 403 and "frank@example.com" in body["message"]


def test_other_workspaces_do_not_leak_their_existence(served, relay, workspace):
    _, operator = workspace
    status, other = served.api("POST", "/api/v1/workspaces", {"name": "Finance"}, token=operator)
    assert status == 201
    viewer = onboard(served, relay, workspace, "vera@example.com", "viewer", "the rather long passphrase")
    for path in ("", "/members", "/invitations", "/audit"):
        status, body = served.api("GET", f"/api/v1/workspaces/{other['workspace']['id']}{path}", token=viewer)
        assert status == 404, (path, body)
        status, body = served.api("GET", f"/api/v1/workspaces/nonexistent{path}", token=viewer)
        assert status == 404, (path, body)


def test_password_reset_by_mail_ends_sessions_and_answers_alike_for_unknown_addresses(served, relay, workspace):
    first = onboard(served, relay, workspace, "carol@example.com", "viewer", "the first long passphrase")
    second = login(served, "carol@example.com", "the first long passphrase")

    known = served.api("POST", "/api/v1/auth/password-reset", {"email": "carol@example.com"})
    unknown = served.api("POST", "/api/v1/auth/password-reset", {"email": "nobody@example.com"})
    assert known == unknown and known[0] == 202

    token = link_token(mail_to(relay, "carol@example.com", "Reset your ChatSpark password"), "/account/reset")
    status, _ = served.api("POST", "/api/v1/auth/password-reset/complete",
                           {"token": token, "password": "the second long passphrase"})
    assert status == 200
    for old in (first, second):
        assert served.api("GET", "/api/v1/me", token=old)[0] == 401
    assert served.api("POST", "/api/v1/auth/login", {"email": "carol@example.com",
                                                     "password": "the first long passphrase"})[0] == 401
    login(served, "carol@example.com", "the second long passphrase")
    status, body = served.api("POST", "/api/v1/auth/password-reset/complete",
                              {"token": token, "password": "the third long passphrase"})
    assert status == 400 and body["error"] == "invalid_token"
    server, _ = relay
    assert not [r for r in server.received if "nobody@example.com" in r.rcpt_tos]


def test_changing_password_ends_other_sessions_and_mails_a_notice(served, relay, workspace):
    current = onboard(served, relay, workspace, "dave@example.com", "viewer", "the first long passphrase")
    other = login(served, "dave@example.com", "the first long passphrase")
    status, body = served.api("POST", "/api/v1/me/password", {"current_password": "wrong one, surely",
                                                              "new_password": "the second long passphrase"},
                              token=current)
    assert status == 401
    status, body = served.api("POST", "/api/v1/me/password", {"current_password": "the first long passphrase",
                                                              "new_password": "the second long passphrase"},
                              token=current)
    assert status == 200 and body["sessions_ended"] == 1
    assert served.api("GET", "/api/v1/me", token=current)[0] == 200
    assert served.api("GET", "/api/v1/me", token=other)[0] == 401
    assert "other sessions were ended" in mail_to(relay, "dave@example.com", "password was changed").get_content()


class Browser:
    """Just enough of a browser for the appliance's own pages: cookies, form posts, no JavaScript."""

    def __init__(self, served) -> None:
        self.served = served
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, dict, str]:
        conn = http.client.HTTPSConnection("localhost", self.served.port, context=tls13_context(self.served.ca_file),
                                           timeout=10)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode()
            for header in response.headers.get_all("Set-Cookie") or []:
                assert "Secure" in header and "HttpOnly" in header and "SameSite=Strict" in header, header
                for name, morsel in SimpleCookie(header).items():
                    if morsel.value:
                        self.cookies[name] = morsel.value
                    else:
                        self.cookies.pop(name, None)
            return response.status, dict(response.headers), text
        finally:
            conn.close()

    def submit(self, path: str, page: str, **fields: str) -> tuple[int, dict, str]:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        return self.request("POST", path, {"csrf_token": csrf, **fields})


def test_invited_user_joins_through_the_appliance_pages_and_logs_in_with_a_cookie(served, relay, workspace):
    workspace_id, operator = workspace
    served.api("POST", f"/api/v1/workspaces/{workspace_id}/invitations",
               {"email": "grace@example.com", "role": "viewer"}, token=operator)
    invitation = link_token(mail_to(relay, "grace@example.com", "You are invited"), "/invitations/accept")
    browser = Browser(served)

    status, _, page = browser.request("GET", f"/invitations/accept?token={invitation}")
    assert status == 200 and "Join Support" in page and "grace@example.com" in page
    stranger = Browser(served)
    status, _, refused = stranger.request("POST", "/invitations/accept",
                                          {"token": invitation, "password": "the long passphrase",
                                           "csrf_token": "forged"})
    assert status == 403 and "another site" in refused
    status, _, page = browser.submit("/invitations/accept", page, token=invitation,
                                     password="the long passphrase", display_name="Grace")
    assert status == 200 and "You joined Support" in page

    verify = link_token(mail_to(relay, "grace@example.com", "Confirm your email"), "/account/verify")
    status, _, page = browser.request("GET", f"/account/verify?token={verify}")
    assert status == 200 and "Confirm my address" in page
    status, _, page = browser.submit("/account/verify", page, token=verify)
    assert status == 200 and "Your address is confirmed" in page

    status, _, page = browser.request("GET", "/login")
    status, headers, _ = browser.submit("/login", page, email="grace@example.com",
                                        password="the long passphrase", totp_code="")
    assert status == 303 and headers["Location"].endswith("/account")
    assert "__Host-chatspark_session" in browser.cookies
    HANDED_OUT.append(browser.cookies["__Host-chatspark_session"])
    status, _, page = browser.request("GET", "/account")
    assert status == 200 and "grace@example.com" in page and "this one" in page
    # A cookie-borne API write without the CSRF header is refused; a bearer-less read works.
    assert browser.request("POST", "/api/v1/me/second-factor")[0] == 403
    assert browser.request("GET", "/api/v1/me")[0] == 200


def test_cli_reads_the_audit_log_and_the_outbox_while_the_appliance_serves(served, workspace, relay):
    result = chatspark("audit", "verify", "--data-dir", str(served.data_dir), "--key-dir", str(served.key_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "audit log intact" in result.stdout
    result = chatspark("status", "--data-dir", str(served.data_dir), "--key-dir", str(served.key_dir),
                       "--port", str(served.port), env={"CHATSPARK_SMTP_HOST": "127.0.0.1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"mail: +\d+ queued, 0 failed \(127\.0\.0\.1\)", result.stdout), result.stdout


def test_sessions_and_link_tokens_are_stored_only_as_hashes(served):
    assert len(HANDED_OUT) > 10
    appliance = open_appliance(Layout.of(served.data_dir, served.key_dir), clock=SystemClock())
    try:
        db = appliance.control_db
        assert db.query_one("SELECT count(*) FROM outbox WHERE status != 'sent'")[0] == 0
        stored = b""
        for (table,) in db.query("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in db.query(f"SELECT * FROM {table}"):
                stored += b"\x00".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
        hashes = {bytes(r[0]) for r in db.query("SELECT token_hash FROM sessions UNION ALL "
                                                 "SELECT token_hash FROM tokens UNION ALL "
                                                 "SELECT token_hash FROM invitations")}
    finally:
        appliance.close()
    for secret in HANDED_OUT:
        assert secret.encode() not in stored, secret
        assert hashlib.sha256(secret.encode()).digest() in hashes, secret
