"""The widget's endpoints in the real Flask app: origins and CORS, visitor tokens, asking, feedback, leads, limits."""

from __future__ import annotations

import logging

import pytest

from appliance.conversations.leads import THANKS
from server.app import create_app
from tests.server.trained_agents import handbook_agent

PAGE = "https://intranet.example.com"
HANDBOOK = (b"# Leave\n\nEmployees get 28 days of paid leave a year. Ask your manager before booking leave.\n\n"
            b"# Parking\n\nVisitors park in the north car park, next to reception.\n")


@pytest.fixture
def settings(settings):
    return settings.replace(widget_messages_per_minute=1000, widget_requests_per_minute=1000)


@pytest.fixture
def demo(services, settings):
    """An operator-owned workspace with an agent trained on a small handbook, allowed on PAGE only."""
    workspace_id, agent = handbook_agent(services, HANDBOOK, {
        "name": "Acme helper", "welcome_message": "Hi!", "allowed_origins": [PAGE], "color": "#0f766e",
        "lead_fields": [{"name": "name", "label": "Name"}, {"name": "email", "label": "Email", "required": True},
                        {"name": "phone", "label": "Phone"}, {"name": "team_size", "label": "Team size"}]})
    app = create_app(services, settings=settings)
    client = app.test_client()
    client.agent, client.workspace_id = agent, workspace_id
    yield client
    services.knowledge.close()


def post(client, path: str, body: dict, *, token: str | None = None, origin: str | None = PAGE, **kwargs):
    headers = {"Origin": origin} if origin else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.post(f"/widget/v1/agents/{client.agent.public_id}{path}", json=body, headers=headers, **kwargs)


def start(client, **body) -> dict:
    response = post(client, "/session", {"page_url": f"{PAGE}/hr/leave?user=jane#top", **body})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def ask(client, token: str, text: str):
    return post(client, "/messages", {"text": text, "page_url": f"{PAGE}/hr"}, token=token)


def test_session_gives_the_agents_look_and_form_and_cors_for_the_allowed_origin_only(demo):
    response = post(demo, "/session", {})
    session = response.get_json()
    assert response.headers["Access-Control-Allow-Origin"] == PAGE and "Origin" in response.headers["Vary"]
    assert session["token"].startswith("v1.") and session["expires_in"] == 1800
    assert session["agent"]["name"] == "Acme helper" and session["agent"]["color"] == "#0f766e"
    assert [f["name"] for f in session["agent"]["lead_form"]["fields"]] == ["name", "email", "phone", "team_size"]
    assert session["agent"]["lead_form"]["consent_version"] == 1
    assert session["conversation"]["messages"] == [] and session["conversation"]["lead_submitted"] is False


def test_a_page_on_another_origin_is_refused_logged_and_gets_no_cors(demo, caplog):
    with caplog.at_level(logging.WARNING, logger="chatspark.widget"):
        response = post(demo, "/session", {}, origin="https://evil.example.net")
    assert response.status_code == 403
    assert response.get_json() == {"error": "not_available_here", "message": "This chat is not available here."}
    assert "Access-Control-Allow-Origin" not in response.headers
    refusal = next(r for r in caplog.records if r.getMessage() == "widget call refused")
    assert refusal.origin == "https://evil.example.net" and refusal.reason == "origin not allowed"

    assert post(demo, "/session", {}, origin=None).status_code == 403
    unknown = demo.post("/widget/v1/agents/ag_nope/session", json={}, headers={"Origin": PAGE})
    assert unknown.status_code == 403 and unknown.get_json()["error"] == "not_available_here"


def test_preflight_answers_allowed_origins_only(demo):
    path = f"/widget/v1/agents/{demo.agent.public_id}/messages"
    allowed = demo.options(path, headers={"Origin": PAGE, "Access-Control-Request-Method": "POST"})
    assert allowed.status_code == 204 and allowed.headers["Access-Control-Allow-Origin"] == PAGE
    assert "Authorization" in allowed.headers["Access-Control-Allow-Headers"]
    assert allowed.headers["Access-Control-Allow-Methods"] == "GET, POST"  # GET: a cited passage
    refused = demo.options(path, headers={"Origin": "https://evil.example.net",
                                          "Access-Control-Request-Method": "POST"})
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers


def test_visitor_asks_and_gets_the_answer_with_its_source(demo, services):
    token = start(demo)["token"]
    response = ask(demo, token, "How many days of paid leave do I get?")
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == PAGE
    body = response.get_json()
    assert body["visitor_message"]["text"] == "How many days of paid leave do I get?"
    reply = body["reply"]
    assert "28 days" in reply["text"] and reply["answered"] is True and reply["offer_lead_form"] is False
    assert reply["sources"] == [{"title": "Leave", "url": None, "heading_path": "Leave", "rank": 0}]

    row = services.conversations.chat(demo.workspace_id)._db.query_one(
        "SELECT channel, origin, page_url, client_address, visitor_id FROM conversations")
    assert (row["channel"], row["origin"], row["page_url"]) == ("widget", PAGE, f"{PAGE}/hr")
    assert row["visitor_id"]


def test_an_unknown_question_falls_back_and_offers_the_lead_form(demo):
    token = start(demo)["token"]
    reply = ask(demo, token, "What is the capital of Mongolia?").get_json()["reply"]
    assert reply["answered"] is False and reply["offer_lead_form"] is True and reply["sources"] == []


def test_asking_for_a_person_hands_over_to_the_lead_form(demo):
    token = start(demo)["token"]
    reply = ask(demo, token, "Can I talk to a person?").get_json()["reply"]
    assert reply["offer_lead_form"] is True and "Leave your details" in reply["text"]


def test_html_typed_by_a_visitor_is_kept_as_text(demo):
    token = start(demo)["token"]
    text = '<img src=x onerror="alert(1)">'
    body = ask(demo, token, text).get_json()
    assert body["visitor_message"]["text"] == text
    again = start(demo, token=token)["conversation"]["messages"]
    assert again[0]["text"] == text


def test_the_conversation_comes_back_with_the_old_token_and_restart_begins_a_new_one(demo):
    first = start(demo)
    ask(demo, first["token"], "How many days of paid leave do I get?")
    resumed = start(demo, token=first["token"])
    assert resumed["conversation"]["id"] == first["conversation"]["id"]
    assert [m["role"] for m in resumed["conversation"]["messages"]] == ["visitor", "agent"]
    assert resumed["conversation"]["messages"][1]["sources"][0]["heading_path"] == "Leave"

    fresh = start(demo, token=resumed["token"], restart=True)
    assert fresh["conversation"]["id"] != first["conversation"]["id"] and fresh["conversation"]["messages"] == []


def test_an_expired_token_is_refused_then_renewed_into_the_same_conversation(demo, clock):
    first = start(demo)
    ask(demo, first["token"], "Where do visitors park?")
    clock.advance(minutes=31)
    expired = ask(demo, first["token"], "And reception?")
    assert expired.status_code == 401 and expired.get_json()["error"] == "token_expired"
    assert expired.headers["Access-Control-Allow-Origin"] == PAGE  # the widget can read why

    renewed = start(demo, token=first["token"])
    assert renewed["conversation"]["id"] == first["conversation"]["id"]
    assert ask(demo, renewed["token"], "And reception?").status_code == 200

    clock.advance(hours=25)
    stale = start(demo, token=renewed["token"])
    assert stale["conversation"]["id"] != first["conversation"]["id"]


def test_forged_and_foreign_tokens_are_invalid(demo):
    token = start(demo)["token"]
    payload, signature = token[3:].split(".")
    forged = f"v1.{payload}.{signature[:-2]}AA"
    assert ask(demo, forged, "hello").get_json()["error"] == "token_invalid"
    assert ask(demo, "not a token", "hello").get_json()["error"] == "token_invalid"
    assert ask(demo, None, "hello").status_code == 401


def test_a_token_from_one_origin_does_not_work_from_another_even_if_both_are_allowed(demo, services):
    services.agents.of(demo.workspace_id).update(demo.agent.id, {"allowed_origins": [PAGE, "https://b.test"]})
    token = start(demo)["token"]
    response = post(demo, "/messages", {"text": "hello"}, token=token, origin="https://b.test")
    assert response.status_code == 401 and response.get_json()["error"] == "token_invalid"


def test_removing_an_origin_stops_its_tokens_at_once(demo, services):
    token = start(demo)["token"]
    services.agents.of(demo.workspace_id).update(demo.agent.id, {"allowed_origins": []})
    assert ask(demo, token, "hello").status_code == 403


def test_thumbs_are_saved_and_can_be_taken_back(demo, services):
    token = start(demo)["token"]
    reply = ask(demo, token, "Where do visitors park?").get_json()["reply"]
    rated = post(demo, f"/messages/{reply['id']}/feedback", {"rating": "up"}, token=token)
    assert rated.status_code == 200 and rated.get_json() == {"message_id": reply["id"], "feedback": "up"}
    assert start(demo, token=token)["conversation"]["messages"][1]["feedback"] == "up"
    post(demo, f"/messages/{reply['id']}/feedback", {"rating": "down"}, token=token)
    post(demo, f"/messages/{reply['id']}/feedback", {"rating": None}, token=token)
    db = services.conversations.chat(demo.workspace_id)._db
    assert db.query_one("SELECT feedback FROM messages WHERE id = ?", (reply["id"],))["feedback"] is None
    assert db.query_one("SELECT count(*) AS n FROM analytics_events WHERE kind LIKE 'thumbs_%'")["n"] == 0
    assert post(demo, f"/messages/{reply['id']}/feedback", {"rating": "great"}, token=token).status_code == 400


def test_a_visitor_cannot_rate_a_reply_in_someone_elses_conversation(demo):
    mine, theirs = start(demo)["token"], start(demo)["token"]
    reply = ask(demo, theirs, "Where do visitors park?").get_json()["reply"]
    assert post(demo, f"/messages/{reply['id']}/feedback", {"rating": "down"}, token=mine).status_code == 404


def test_a_lead_is_stored_with_its_consent_record_and_admins_are_mailed(demo, services, clock):
    session = start(demo)
    token = session["token"]
    ask(demo, token, "What is the capital of Mongolia?")
    response = post(demo, "/leads", {"fields": {"name": "Jane Doe", "email": "Jane@Example.COM",
                                                "phone": "+44 20 7946 0958", "team_size": "40"},
                                     "consent": True, "consent_version": 1, "page_url": f"{PAGE}/hr?x=1"},
                    token=token)
    assert response.status_code == 201 and response.get_json()["message"].startswith("Thank you")
    lead = services.conversations.leads(demo.workspace_id).get(response.get_json()["lead_id"])
    assert (lead.name, lead.email, lead.phone) == ("Jane Doe", "jane@example.com", "+44 20 7946 0958")
    assert lead.custom_fields == {"team_size": "40"}
    assert lead.consent_text.startswith("I agree") and lead.consent_version == 1
    assert lead.consented_at == "2026-11-29T12:00:00Z" and lead.page_url == f"{PAGE}/hr"
    assert lead.conversation_id == session["conversation"]["id"]
    restored = start(demo, token=token)["conversation"]
    assert restored["lead_submitted"] is True
    assert restored["lead"] == {"after_message_id": restored["messages"][-1]["id"], "message": THANKS}

    mail = services.appliance.control_db.query("SELECT recipient, subject, body FROM outbox")
    assert [(m["recipient"], m["subject"]) for m in mail] == [("op@example.com", "New lead from Acme helper")]
    assert "jane" not in mail[0]["body"].lower()  # the mail says where to look, not who


def test_lead_form_errors_name_each_field(demo):
    token = start(demo)["token"]
    response = post(demo, "/leads", {"fields": {"email": "not-an-address", "phone": "call me"},
                                     "consent": True, "consent_version": 1}, token=token)
    body = response.get_json()
    assert response.status_code == 400 and body["error"] == "invalid"
    assert set(body["fields"]) == {"email", "phone"}
    missing = post(demo, "/leads", {"fields": {"name": "Jane"}, "consent": False, "consent_version": 1},
                   token=token).get_json()
    assert missing["fields"] == {"email": "Email is required"}
    no_consent = post(demo, "/leads", {"fields": {"email": "j@example.com"}, "consent": False,
                                       "consent_version": 1}, token=token).get_json()
    assert set(no_consent["fields"]) == {"consent"}


def test_a_lead_against_old_consent_text_is_refused(demo, services):
    token = start(demo)["token"]
    agent = services.agents.of(demo.workspace_id).update(demo.agent.id, {"consent_text": "New terms."})
    assert agent.consent_version == 2
    old = post(demo, "/leads", {"fields": {"email": "j@example.com"}, "consent": True, "consent_version": 1},
               token=token)
    assert old.status_code == 400 and "changed" in old.get_json()["fields"]["consent"]
    new = post(demo, "/leads", {"fields": {"email": "j@example.com"}, "consent": True, "consent_version": 2},
               token=token)
    assert new.status_code == 201
    assert services.conversations.leads(demo.workspace_id).get(new.get_json()["lead_id"]).consent_text == "New terms."


def test_a_lead_before_any_question_starts_the_conversation_and_is_restored_before_its_messages(demo, services):
    token = start(demo)["token"]
    response = post(demo, "/leads", {"fields": {"email": "j@example.com"}, "consent": True, "consent_version": 1},
                    token=token)
    assert response.status_code == 201
    restored = start(demo, token=token)["conversation"]
    assert restored["messages"] == [] and restored["lead_submitted"] is True
    assert restored["lead"] == {"after_message_id": None, "message": THANKS}
    lead = services.conversations.leads(demo.workspace_id).get(response.get_json()["lead_id"])
    assert lead.conversation_id == restored["id"]


def test_a_restored_lead_keeps_its_place_among_later_messages_and_a_new_conversation_has_none(demo, clock):
    token = start(demo)["token"]
    first = ask(demo, token, "What is the capital of Mongolia?").get_json()["reply"]
    clock.advance(minutes=1)
    assert post(demo, "/leads", {"fields": {"email": "j@example.com"}, "consent": True, "consent_version": 1},
                token=token).status_code == 201
    clock.advance(minutes=1)
    ask(demo, token, "Where do visitors park?")
    restored = start(demo, token=token)
    assert len(restored["conversation"]["messages"]) == 4
    assert restored["conversation"]["lead"]["after_message_id"] == first["id"]
    fresh = start(demo, token=restored["token"], restart=True)["conversation"]
    assert fresh["lead"] is None and fresh["lead_submitted"] is False


def test_too_long_messages_and_oversized_bodies_are_refused(demo, settings):
    token = start(demo)["token"]
    long = ask(demo, token, "x" * (settings.widget_max_message_chars + 1))
    assert long.status_code == 400 and "at most 1000 characters" in long.get_json()["message"]
    huge = post(demo, "/messages", {"text": "x" * settings.widget_max_request_bytes}, token=token)
    assert huge.status_code == 413 and huge.get_json()["error"] == "too_large"
    malformed = demo.post(f"/widget/v1/agents/{demo.agent.public_id}/messages", data="{not json",
                          headers={"Origin": PAGE, "Authorization": f"Bearer {token}",
                                   "Content-Type": "application/json"})
    assert malformed.status_code == 400 and malformed.get_json()["error"] == "invalid"


def test_widget_js_is_served_for_other_origins(demo):
    response = demo.get("/widget.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert len(response.data) < 40 * 1024


def passage(client, message_id, rank, *, token: str | None, origin: str | None = PAGE, public_id: str | None = None):
    headers = {"Origin": origin} if origin else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.get(f"/widget/v1/agents/{public_id or client.agent.public_id}/messages/{message_id}/sources/{rank}",
                      headers=headers)


def refusal(response, status: int, code: str) -> dict:
    assert response.status_code == status and response.mimetype == "application/json", response.data
    body = response.get_json()
    assert body["error"] == code and body["message"], body
    return body


def test_the_visitor_opens_the_passage_their_reply_cited(demo):
    token = start(demo)["token"]
    reply = ask(demo, token, "How many days of paid leave do I get?").get_json()["reply"]
    response = passage(demo, reply["id"], reply["sources"][0]["rank"], token=token)
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == PAGE
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json() == {"passage": {
        "title": "Leave", "heading_path": "Leave", "question": None, "url": None,
        "text": "Employees get 28 days of paid leave a year. Ask your manager before booking leave."}}


def test_a_qa_pair_cited_opens_as_its_question_and_answer(demo, services):
    services.knowledge.sources(demo.workspace_id).add_qa(
        title="Benefits FAQ", pairs=[("Is there a staff canteen?", "Yes, on the second floor, open 8 to 15.")])
    assert services.knowledge.wait_idle(30)
    token = start(demo)["token"]
    reply = ask(demo, token, "Is there a staff canteen?").get_json()["reply"]
    assert reply["sources"] == [{"title": "Benefits FAQ", "url": None, "heading_path": "", "rank": 0}]
    assert passage(demo, reply["id"], 0, token=token).get_json()["passage"] == {
        "title": "Benefits FAQ", "heading_path": "", "question": "Is there a staff canteen?", "url": None,
        "text": "Yes, on the second floor, open 8 to 15."}


def test_no_one_but_the_conversations_visitor_opens_its_passages(demo, services, clock):
    token = start(demo)["token"]
    reply = ask(demo, token, "How many days of paid leave do I get?").get_json()["reply"]
    own_question = reply["id"] - 1

    other_visitor = start(demo)["token"]
    ask(demo, other_visitor, "Where do visitors park?")
    refusal(passage(demo, reply["id"], 0, token=other_visitor), 404, "not_found")

    other_agent = services.agents.of(demo.workspace_id).create({"name": "Other", "allowed_origins": [PAGE]})
    their_token = demo.post(f"/widget/v1/agents/{other_agent.public_id}/session", json={},
                            headers={"Origin": PAGE}).get_json()["token"]
    refusal(passage(demo, reply["id"], 0, token=their_token), 401, "token_invalid")
    refusal(passage(demo, reply["id"], 0, token=their_token, public_id=other_agent.public_id), 404, "not_found")

    refusal(passage(demo, reply["id"], 0, token=None), 401, "token_invalid")
    refusal(passage(demo, reply["id"], 0, token=token, origin="https://evil.example.net"), 403, "not_available_here")
    refusal(passage(demo, reply["id"], 7, token=token), 404, "not_found")
    refusal(passage(demo, 99999, 0, token=token), 404, "not_found")
    refusal(passage(demo, 10 ** 30, 0, token=token), 400, "invalid")  # past SQLite's integers, said before the query
    refusal(passage(demo, own_question, 0, token=token), 404, "not_found")  # the visitor's own message cites nothing
    assert passage(demo, reply["id"], 0, token=token).status_code == 200

    clock.advance(minutes=31)
    refusal(passage(demo, reply["id"], 0, token=token), 401, "token_expired")


def test_a_passage_edited_or_deleted_since_the_reply_is_gone_and_says_so(demo, services):
    sources = services.knowledge.sources(demo.workspace_id)
    note = sources.add_text(title="Car park", text="Staff park on level B1 of the garage.")
    assert services.knowledge.wait_idle(30)
    token = start(demo)["token"]
    reply = ask(demo, token, "Where do staff park in the garage?").get_json()["reply"]
    rank = next(s["rank"] for s in reply["sources"] if s["title"] == "Car park")
    assert "B1" in passage(demo, reply["id"], rank, token=token).get_json()["passage"]["text"]

    sources.update_text(note.id, text="Staff park on level B2 of the garage.")
    assert services.knowledge.wait_idle(30)
    body = refusal(passage(demo, reply["id"], rank, token=token), 410, "passage_changed")
    assert "changed or removed" in body["message"] and "B2" not in body["message"]
    sources.delete(note.id)
    refusal(passage(demo, reply["id"], rank, token=token), 410, "passage_changed")


def test_a_request_looks_its_agent_up_once_and_the_next_request_sees_a_change(demo, services, monkeypatch):
    looked_up = []
    look_up = type(services.widget)._look_up
    monkeypatch.setattr(type(services.widget), "_look_up", lambda self, public_id: looked_up.append(public_id) or
                        look_up(self, public_id))
    token = start(demo)["token"]
    assert ask(demo, token, "How many days of leave do I get?").status_code == 200
    assert looked_up == [demo.agent.public_id] * 2  # the session, then the question: once each, CORS included

    services.agents.of(demo.workspace_id).update(demo.agent.id, {"allowed_origins": ["https://other.example.com"]})

    refused = ask(demo, token, "How many days of leave do I get?")
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers
