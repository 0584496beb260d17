"""The widget through the real stack (Caddy, TLS 1.3, waitress): the demo page's origin, refusals, token expiry, rate
limits and oversized requests, as a browser on another origin would meet them."""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json

import pytest

from appliance.bootstrap import WIDGET_TOKEN_KEY, open_appliance
from appliance.clock import FixedClock, SystemClock
from appliance.storage.layout import Layout
from appliance.widget.visitor_tokens import VisitorTokens
from tests.running import tls13_context
from tests.server.demo_appliance import OPERATOR, start_demo

REQUESTS_PER_MINUTE = 20


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    appliance = start_demo(tmp_path_factory.mktemp("widget-https"), env={"CHATSPARK_WIDGET_MAX_REQUEST_BYTES": "4096"})
    yield appliance
    appliance.running.stop()


def call(demo, method: str, path: str, body=None, *, origin: str | None = "site", token: str | None = None,
         headers: dict | None = None, raw: bytes | None = None, port: int | None = None, source: str | None = None):
    """One request over TLS 1.3, from `source` (a loopback address of 127.0.0.0/8) if given."""
    all_headers = dict(headers or {})
    if origin:
        all_headers["Origin"] = demo.site_origin if origin == "site" else origin
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if payload is not None:
        all_headers.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPSConnection("localhost", port or demo.running.port,
                                       context=tls13_context(demo.running.ca_file), timeout=15,
                                       source_address=(source, 0) if source else None)
    try:
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        data = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, (json.loads(data) if data and "json" in headers.get("content-type", "")
                                          else data)
    finally:
        conn.close()


def session(demo, *, source: str | None = None, **body):
    status, headers, data = call(demo, "POST", f"/widget/v1/agents/{demo.public_id}/session", body, source=source)
    assert status == 200, data
    return data


def ask_anew(demo, source: str, text: str = "Where do visitors park?"):
    """A question in a session of its own, as a script that starts over each time would ask it."""
    return call(demo, "POST", f"/widget/v1/agents/{demo.public_id}/messages", {"text": text},
                token=session(demo, source=source)["token"], source=source)


def test_the_demo_page_is_served_on_its_own_origin_and_embeds_the_widget(demo):
    status, headers, page = call(demo, "GET", "/", origin=None, port=demo.site_port)
    assert status == 200 and headers["content-type"].startswith("text/html")
    snippet = f'<script src="{demo.appliance_origin}/widget.js" data-agent="{demo.public_id}" defer></script>'
    assert snippet.encode() in page
    status, _, _ = call(demo, "POST", "/", {}, origin=None, port=demo.site_port)
    assert status == 405

    status, headers, script = call(demo, "GET", "/widget.js", origin=None)
    assert status == 200 and headers["content-type"].startswith("text/javascript") and len(script) < 40 * 1024


def test_chatting_from_the_demo_origin_through_https(demo):
    token = session(demo, page_url=f"{demo.site_origin}/")["token"]
    status, headers, body = call(demo, "POST", f"/widget/v1/agents/{demo.public_id}/messages",
                                 {"text": "Where do visitors park?"}, token=token)
    assert status == 200 and headers["access-control-allow-origin"] == demo.site_origin
    assert "B1" in body["reply"]["text"] and body["reply"]["sources"][0]["url"] is None  # an upload has no address


def test_another_origin_gets_no_chat_no_cors_and_is_logged(demo):
    status, headers, body = call(demo, "POST", f"/widget/v1/agents/{demo.public_id}/session", {},
                                 origin="https://elsewhere.example")
    assert status == 403 and body["error"] == "not_available_here"
    assert "access-control-allow-origin" not in headers
    preflight, headers, _ = call(demo, "OPTIONS", f"/widget/v1/agents/{demo.public_id}/messages",
                                 origin="https://elsewhere.example",
                                 headers={"Access-Control-Request-Method": "POST"})
    assert preflight == 403 and "access-control-allow-origin" not in headers
    refusals = [e for e in demo.running.log_entries() if e.get("msg") == "widget call refused"]
    assert any(e.get("origin") == "https://elsewhere.example" for e in refusals)
    # The page's own origin is allowed; the appliance's origin is not (the widget never runs there).
    assert call(demo, "POST", f"/widget/v1/agents/{demo.public_id}/session", {},
                origin=demo.appliance_origin)[0] == 403


def test_the_address_limit_holds_whatever_x_forwarded_for_the_client_sends(tmp_path):
    """The per-address limit keys on the address Caddy saw; a header the client sends cannot spread it."""
    demo = start_demo(tmp_path, env={"CHATSPARK_WIDGET_REQUESTS_PER_MINUTE": str(REQUESTS_PER_MINUTE)})
    try:
        statuses = []
        for spoofed in range(REQUESTS_PER_MINUTE + 1):
            status, headers, body = call(demo, "POST", f"/widget/v1/agents/{demo.public_id}/session", {},
                                         headers={"X-Forwarded-For": f"203.0.113.{spoofed}"})
            statuses.append(status)
        assert statuses == [200] * REQUESTS_PER_MINUTE + [429]
        assert body["error"] == "rate_limited" and body["retry_after_seconds"] >= 1
        assert int(headers["retry-after"]) >= 1
        assert headers["access-control-allow-origin"] == demo.site_origin  # the widget can read why
    finally:
        demo.running.stop()


def test_the_per_visitor_limit_holds_across_new_sessions_from_the_same_address(tmp_path):
    demo = start_demo(tmp_path, env={"CHATSPARK_WIDGET_MESSAGES_PER_MINUTE": "3"})
    try:
        token = session(demo)["token"]
        statuses = [call(demo, "POST", f"/widget/v1/agents/{demo.public_id}/messages", {"text": f"parking {i}?"},
                         token=token)[0] for i in range(4)]
        assert statuses == [200, 200, 200, 429]
        # A new session from the same address is the same visitor: a script cannot start its limit afresh.
        other = session(demo)["token"]
        status, _, body = call(demo, "POST", f"/widget/v1/agents/{demo.public_id}/messages", {"text": "parking?"},
                               token=other)
        assert status == 429 and body["error"] == "rate_limited"
        assert ask_anew(demo, "127.0.0.2")[0] == 200               # another address is another visitor
    finally:
        demo.running.stop()


def test_no_address_or_network_uses_up_the_agents_day_and_a_restart_resets_no_share(tmp_path):
    """A day of 20 questions: one address may ask 2 (10%), one /24 4 (20%); the admins hear at 25% (5)."""
    demo = start_demo(tmp_path, env={"CHATSPARK_WIDGET_MESSAGES_PER_AGENT_PER_DAY": "20",
                                     "CHATSPARK_WIDGET_ADDRESS_SHARE_PERCENT": "10",
                                     "CHATSPARK_WIDGET_NETWORK_SHARE_PERCENT": "20",
                                     "CHATSPARK_WIDGET_CAP_ALERT_PERCENTS": "25"})
    try:
        first = [ask_anew(demo, "127.0.0.1")[0] for _ in range(3)]
        status, headers, body = ask_anew(demo, "127.0.0.1")
        neighbours = [ask_anew(demo, source)[0] for source in ("127.0.0.2", "127.0.0.2", "127.0.0.3")]
        elsewhere = ask_anew(demo, "127.0.1.1")[0]
        demo.running.stop()
        demo.running.start()
        after_restart = [ask_anew(demo, source)[0] for source in ("127.0.0.1", "127.0.0.4", "127.0.1.1", "127.0.2.1")]
    finally:
        demo.running.stop()

    assert first == [200, 200, 429] and status == 429
    assert body["error"] == "rate_limited" and "one visitor may today" in body["message"]
    assert int(headers["retry-after"]) >= 1 and headers["access-control-allow-origin"] == demo.site_origin
    assert neighbours == [200, 200, 429]                               # the /24's 4 are used up
    assert elsewhere == 200
    assert after_restart == [429, 429, 200, 200]
    appliance = open_appliance(Layout.of(demo.running.data_dir, demo.running.key_dir), clock=SystemClock())
    try:
        mail = [(m["recipient"], m["subject"]) for m in appliance.control_db.query(
            "SELECT recipient, subject FROM outbox WHERE subject LIKE '%widget questions%'")]
    finally:
        appliance.close()
    assert mail == [(OPERATOR, "Northwind helper has answered 25% of its widget questions for today")]


def test_per_agent_daily_limit(tmp_path):
    """Two questions a day, from networks each free to use all of it: the third, from yet another, is refused."""
    demo = start_demo(tmp_path, env={"CHATSPARK_WIDGET_MESSAGES_PER_AGENT_PER_DAY": "2",
                                     "CHATSPARK_WIDGET_ADDRESS_SHARE_PERCENT": "100",
                                     "CHATSPARK_WIDGET_NETWORK_SHARE_PERCENT": "100"})
    try:
        statuses = [ask_anew(demo, source) for source in ("127.0.0.1", "127.0.1.1", "127.0.2.1")]
        assert [s[0] for s in statuses] == [200, 200, 429]
        assert statuses[-1][2]["message"] == ("This chat has answered as many questions as it may today. Please try "
                                              "again tomorrow.")
    finally:
        demo.running.stop()


def expired_token(demo, conversation_id: str, visitor_id: str) -> str:
    """A token this appliance's own key signed two minutes ago, with a one-minute lifetime."""
    appliance = open_appliance(Layout.of(demo.running.data_dir, demo.running.key_dir), clock=SystemClock())
    try:
        key = appliance.keystore.get(WIDGET_TOKEN_KEY)
    finally:
        appliance.close()
    then = FixedClock(dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=2))
    tokens = VisitorTokens(key, clock=then, lifetime=dt.timedelta(minutes=1), renewable_for=dt.timedelta(hours=24))
    return tokens.issue(agent=demo.public_id, origin=demo.site_origin, conversation_id=conversation_id,
                        visitor_id=visitor_id)[0]


def test_an_expired_token_is_refused_then_renewed_into_the_same_conversation(demo):
    first = session(demo)
    path = f"/widget/v1/agents/{demo.public_id}/messages"
    assert call(demo, "POST", path, {"text": "Where do visitors park?"}, token=first["token"])[0] == 200
    payload = first["token"][3:].split(".")[0]
    visitor_id = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["v"]
    old = expired_token(demo, first["conversation"]["id"], visitor_id)

    status, headers, body = call(demo, "POST", path, {"text": "And staff?"}, token=old)
    assert status == 401 and body["error"] == "token_expired"
    assert headers["access-control-allow-origin"] == demo.site_origin
    renewed = session(demo, token=old)
    assert renewed["conversation"]["id"] == first["conversation"]["id"]
    assert [m["role"] for m in renewed["conversation"]["messages"]] == ["visitor", "agent"]
    assert call(demo, "POST", path, {"text": "And staff?"}, token=renewed["token"])[0] == 200


def test_oversized_and_malformed_requests_are_refused_before_they_reach_the_agent(demo):
    token = session(demo)["token"]
    path = f"/widget/v1/agents/{demo.public_id}/messages"
    status, headers, body = call(demo, "POST", path, {"text": "x" * 5000}, token=token)
    assert status == 413 and body["error"] == "too_large"
    assert headers["access-control-allow-origin"] == demo.site_origin
    status, _, body = call(demo, "POST", path, raw=b"{\"text\": ", token=token)
    assert status == 400 and body["error"] == "invalid"
    status, _, body = call(demo, "POST", path, {"text": "y" * 1001}, token=token)
    assert status == 400 and "1000 characters" in body["message"]


def test_a_cited_passage_crosses_the_real_stack_for_its_visitor_only(demo):
    source = "127.0.0.77"  # an address of its own, so the other tests' questions count against no limit of this one
    token = session(demo, source=source)["token"]
    status, _, body = call(demo, "POST", f"/widget/v1/agents/{demo.public_id}/messages",
                           {"text": "Where do visitors park?"}, token=token, source=source)
    assert status == 200, body
    reply = body["reply"]
    path = f"/widget/v1/agents/{demo.public_id}/messages/{reply['id']}/sources/{reply['sources'][0]['rank']}"

    status, headers, _ = call(demo, "OPTIONS", path, source=source,
                              headers={"Access-Control-Request-Method": "GET",
                                       "Access-Control-Request-Headers": "authorization"})
    assert status == 204 and "GET" in headers["access-control-allow-methods"]
    status, headers, body = call(demo, "GET", path, token=token, source=source)
    assert status == 200 and headers["access-control-allow-origin"] == demo.site_origin
    assert "visitors park on level B1" in body["passage"]["text"] and headers["cache-control"] == "no-store"

    status, _, body = call(demo, "GET", path, token=session(demo, source=source)["token"], source=source)
    assert status == 404 and body["error"] == "not_found"
    status, headers, body = call(demo, "GET", path, token=token, origin="https://evil.example.net", source=source)
    assert status == 403 and body["error"] == "not_available_here"
    assert "access-control-allow-origin" not in headers
