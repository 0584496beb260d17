"""Conversations, leads and analytics through the API: each role's reach, API key scopes, receipts, exports, and
audit rows that name ids and counts but never what anyone wrote."""

from __future__ import annotations

import csv
import io
import json

import pytest

from appliance.conversations.records import MAX_DELETE
from server.app import create_app
from tests.appliance.accounts.account_steps import PASSWORD, make_user
from tests.appliance.conversations.chats import ANSWERED, FALLS_BACK, OWNER_PASSWORD, PARKING, start_chats
from tests.server.demo_appliance import start_demo

SECRET = "Is the zeppelinmobile allowed in the visitor car park?"


class Api:
    """The app's test client, speaking as a member of the chats' workspace by role, or as an API key."""

    def __init__(self, services, app, chats) -> None:
        self.services, self.client, self.chats = services, app.test_client(), chats
        self.w = f"/api/v1/workspaces/{chats.workspace_id}"
        self.users = {"owner": services.users.get(services.workspaces.get(chats.workspace_id).owner_id)}
        for role in ("admin", "editor", "viewer"):
            self.users[role] = make_user(services, f"{role}@example.com")
            with services.appliance.control_db.transaction() as conn:
                services.workspaces.add_member(conn, workspace_id=chats.workspace_id, user_id=self.users[role].id,
                                               role=role)

    def token(self, who: str) -> str:
        """A fresh session for a role (the tests move the clock past sessions' idle timeout), or the API key."""
        if who.startswith("csk_"):
            return who
        password = OWNER_PASSWORD if who == "owner" else PASSWORD
        response = self.client.post("/api/v1/auth/login", json={"email": self.users[who].email, "password": password})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["token"]

    def key(self, *scopes: str) -> str:
        key, _ = self.services.api_keys.create(self.chats.workspace_id, name="CRM", scopes=list(scopes),
                                               actor_id=self.users["owner"].id, client_address=None)
        return key

    def call(self, who: str, method: str, path: str, **kwargs):
        return self.client.open(self.w + path, method=method, headers={"Authorization": f"Bearer {self.token(who)}"},
                                **kwargs)

    def get(self, who: str, path: str):
        return self.call(who, "GET", path)

    def audit(self, action: str) -> list:
        return self.services.audit.events(workspace_id=self.chats.workspace_id, action=action)


@pytest.fixture
def api(services, settings, clock, scheduler):
    chats = start_chats(services, clock)
    yield Api(services, create_app(services, settings=settings, scheduler=scheduler), chats)
    services.knowledge.close()


def test_an_admin_lists_filters_and_pages_through_conversations(api):
    answered = api.chats.conversation(ANSWERED)
    api.chats.clock.advance(minutes=1)
    fell_back = api.chats.conversation(FALLS_BACK)
    api.chats.clock.advance(minutes=1)
    parking = api.chats.conversation(PARKING, widget=True)

    first = api.get("admin", "/conversations?limit=2").get_json()
    second = api.get("admin", f"/conversations?limit=2&after={first['next_after']}").get_json()

    assert [c["id"] for c in first["conversations"] + second["conversations"]] == [parking, fell_back, answered]
    assert second["next_after"] is None
    assert first["conversations"][0]["first_question"] == PARKING
    assert first["conversations"][0]["channel"] == "widget"
    filtered = api.get("admin", "/conversations?outcome=fell_back").get_json()["conversations"]
    assert [c["id"] for c in filtered] == [fell_back]
    searched = api.get("admin", "/conversations?q=RECEPTION&channel=widget").get_json()["conversations"]
    assert [c["id"] for c in searched] == [parking]


@pytest.mark.parametrize(("query", "message"), [
    ("outcome=maybe", "'outcome' is one of: answered, fell_back"),
    ("has_lead=1", "'has_lead' is one of: true, false"),
    ("since=last+week", "'since' must be an ISO 8601 time or date"),
    ("limit=0", "'limit' is a whole number from 1 to 200"),
    ("limit=201", "'limit' is a whole number from 1 to 200"),
    ("after=nonsense", "'after' is not a cursor from this list"),
    ("q=%22%22", "'q' needs at least one word"),
])
def test_filter_values_that_are_not_understood_get_a_400_saying_what_is_wrong(api, query, message):
    response = api.get("admin", f"/conversations?{query}")

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request" and message in response.get_json()["message"]


def test_a_transcript_shows_cited_sources_and_leads_to_admins_only(api):
    conversation_id = api.chats.conversation(PARKING, widget=True)
    lead = api.chats.lead(conversation_id, name="Ann")

    as_admin = api.get("admin", f"/conversations/{conversation_id}").get_json()["conversation"]
    as_editor = api.get("editor", f"/conversations/{conversation_id}").get_json()["conversation"]

    assert [m["role"] for m in as_admin["messages"]] == ["visitor", "agent"]
    assert as_admin["messages"][1]["sources"] == [{
        "source_id": api.chats.handbook_id, "title": "Parking", "url": None, "heading_path": "Parking",
        "content_hash": as_admin["messages"][1]["sources"][0]["content_hash"], "current": True}]
    assert [x["id"] for x in as_admin["leads"]] == [lead.id] and as_admin["leads"][0]["name"] == "Ann"
    assert "leads" not in as_editor and as_editor["has_lead"] is True
    assert as_editor["messages"] == as_admin["messages"]


def test_viewers_read_analytics_but_not_conversations(api):
    conversation_id = api.chats.conversation(ANSWERED)

    for path in ("/conversations", f"/conversations/{conversation_id}", "/conversations/export"):
        response = api.get("viewer", path)
        assert response.status_code == 403 and "needs the editor role" in response.get_json()["message"]
    assert api.get("viewer", "/analytics").status_code == 200
    assert api.get("viewer", "/analytics/export").status_code == 200


def test_editors_read_conversations_but_neither_leads_nor_deletion(api):
    conversation_id = api.chats.conversation(ANSWERED, widget=True)
    lead = api.chats.lead(conversation_id)

    assert api.get("editor", "/conversations").status_code == 200
    for method, path in (("GET", "/leads"), ("GET", f"/leads/{lead.id}"), ("GET", "/leads/export"),
                         ("DELETE", f"/leads/{lead.id}"), ("DELETE", f"/conversations/{conversation_id}")):
        response = api.call("editor", method, path)
        assert response.status_code == 403 and "needs the admin role" in response.get_json()["message"]
    assert api.get("admin", f"/conversations/{conversation_id}").status_code == 200


def test_deleting_a_conversation_answers_with_a_receipt_and_audits_ids_and_counts_only(api):
    conversation_id = api.chats.conversation(SECRET, PARKING, widget=True)
    api.chats.lead(conversation_id, name="Ann")

    response = api.call("admin", "DELETE", f"/conversations/{conversation_id}")

    receipt = response.get_json()
    assert response.status_code == 200
    assert receipt == {"deleted": {"conversations": 1, "messages": 4, "leads_unlinked": 1},
                       "at": "2026-11-29T12:00:00Z", "by": api.users["admin"].id}
    [event] = api.audit("conversation.delete")
    assert (event.actor_type, event.actor_id, event.target_type, event.target_id) == (
        "user", api.users["admin"].id, "conversation", conversation_id)
    assert event.details == {"deleted": receipt["deleted"]}
    assert api.get("admin", f"/conversations/{conversation_id}").status_code == 404
    assert api.call("admin", "DELETE", f"/conversations/{conversation_id}").status_code == 404
    assert "zeppelinmobile" not in json.dumps([e.details for e in api.services.audit.events(limit=10_000)])


def test_bulk_deletion_reports_what_it_found_and_audits_every_id(api):
    ids = [api.chats.conversation(ANSWERED) for _ in range(3)]
    kept = api.chats.conversation(PARKING)

    response = api.call("admin", "POST", "/conversations/delete", json={"ids": ids + ["no-such-conversation"]})

    assert response.status_code == 200
    assert response.get_json() == {"deleted": {"conversations": 3, "messages": 6, "leads_unlinked": 0},
                                   "at": "2026-11-29T12:00:00Z", "by": api.users["admin"].id,
                                   "not_found": ["no-such-conversation"]}
    [event] = api.audit("conversations.delete")
    assert sorted(event.details["ids"]) == sorted(ids) and event.details["parts"] == 1
    assert [c["id"] for c in api.get("admin", "/conversations").get_json()["conversations"]] == [kept]


def test_bulk_deletion_of_many_splits_its_audit_into_parts_within_the_row_limit(api):
    ids = [api.chats.conversation(ANSWERED) for _ in range(120)]

    response = api.call("owner", "POST", "/conversations/delete", json={"ids": ids})

    events = api.audit("conversations.delete")
    assert response.get_json()["deleted"]["conversations"] == 120
    assert len(events) > 1 and {e.details["parts"] for e in events} == {len(events)}
    assert sorted(i for e in events for i in e.details["ids"]) == sorted(ids)


@pytest.mark.parametrize("body", [{"ids": []}, {"ids": ["x"] * (MAX_DELETE + 1)}, {"ids": "all"}, {}])
def test_bulk_deletion_refuses_an_empty_oversized_or_malformed_list(api, body):
    api.chats.conversation(ANSWERED)

    response = api.call("admin", "POST", "/conversations/delete", json=body)

    assert response.status_code == 400 and "ids" in response.get_json()["message"]
    assert len(api.get("admin", "/conversations").get_json()["conversations"]) == 1


def test_conversations_export_as_a_csv_attachment_audited_without_the_search_text(api):
    api.chats.conversation(SECRET, widget=True)
    api.chats.conversation(ANSWERED)

    response = api.get("editor", "/conversations/export?format=csv&channel=widget&q=zeppelinmobile")

    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="conversations-2026-11-29.csv"'
    assert "Content-Length" not in response.headers  # sent a page at a time as it is made
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["text"] for r in rows][0] == SECRET and len(rows) == 2
    [event] = api.audit("conversations.export")
    assert event.details == {"format": "csv", "filters": {"channel": "widget", "q": True}, "count": 1}
    assert event.actor_id == api.users["editor"].id


def test_conversations_export_as_json_transcripts(api):
    conversation_id = api.chats.conversation(PARKING)

    response = api.get("admin", "/conversations/export?format=json")

    assert response.mimetype == "application/json" and "attachment" in response.headers["Content-Disposition"]
    assert [t["id"] for t in response.get_json()] == [conversation_id]
    assert api.get("admin", "/conversations/export?format=xml").status_code == 400


def test_an_api_key_exports_only_with_the_export_scope(api):
    api.chats.conversation(ANSWERED)
    reader = api.key("conversations:read", "leads:read", "analytics:read")
    exporter = api.key("conversations:read", "export")

    assert api.get(reader, "/conversations").status_code == 200
    for path in ("/conversations/export", "/leads/export", "/analytics/export"):
        refused = api.get(reader, path)
        assert refused.status_code == 403 and refused.get_json()["message"] == "this API key lacks the 'export' scope"
    exported = api.get(exporter, "/conversations/export")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    [event] = api.audit("conversations.export")
    assert (event.actor_type, event.actor_id) == ("api_key", exporter.split("_")[1])
    assert api.get(exporter, "/leads").get_json()["message"] == "this API key lacks the 'leads:read' scope"


def test_an_api_key_deletes_with_its_scope_and_the_receipt_names_the_key(api):
    conversation_id = api.chats.conversation(ANSWERED)
    key = api.key("conversations:read", "conversations:delete")

    receipt = api.call(key, "DELETE", f"/conversations/{conversation_id}").get_json()

    assert receipt["by"] == key.split("_")[1] and receipt["deleted"]["conversations"] == 1
    assert api.audit("conversation.delete")[0].actor_type == "api_key"


def test_an_admin_finds_reads_deletes_and_exports_leads(api):
    conversation_id = api.chats.conversation(PARKING, widget=True)
    ann = api.chats.lead(conversation_id, name="Ann Smith", team_size="12")
    api.chats.clock.advance(minutes=1)
    bob = api.chats.lead(name="Bob", company="=Globex")

    listed = api.get("admin", "/leads?q=SMITH").get_json()
    opened = api.get("admin", f"/leads/{ann.id}").get_json()
    exported = api.get("admin", "/leads/export")
    deleted = api.call("admin", "DELETE", f"/leads/{bob.id}")

    assert [x["id"] for x in listed["leads"]] == [ann.id] and listed["next_after"] is None
    assert opened["lead"]["consent"]["text"] == api.chats.agent.consent_text
    assert opened["conversation"]["id"] == conversation_id
    assert opened["conversation"]["messages"][0]["text"] == PARKING
    assert exported.headers["Content-Disposition"] == 'attachment; filename="leads-2026-11-29.csv"'
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [(r["name"], r["company"], r["custom.team_size"]) for r in rows] == [("Bob", "'=Globex", ""),
                                                                                ("Ann Smith", "", "12")]
    assert deleted.get_json() == {"deleted": {"leads": 1}, "at": "2026-11-29T12:01:00Z", "by": api.users["admin"].id}
    assert api.get("admin", f"/leads/{bob.id}").status_code == 404
    [export_event] = api.audit("leads.export")
    [delete_event] = api.audit("lead.delete")
    assert export_event.details == {"format": "csv", "filters": {}, "count": 2}
    assert (delete_event.target_type, delete_event.target_id, delete_event.details) == ("lead", bob.id,
                                                                                         {"deleted": {"leads": 1}})
    assert "Smith" not in json.dumps([e.details for e in api.services.audit.events(limit=10_000)])


def test_a_key_that_reads_leads_but_not_conversations_gets_the_lead_alone(api):
    lead = api.chats.lead(api.chats.conversation(PARKING, widget=True))

    opened = api.get(api.key("leads:read"), f"/leads/{lead.id}").get_json()

    assert opened["lead"]["id"] == lead.id and "conversation" not in opened


def test_a_lead_whose_conversation_was_deleted_reads_with_a_null_conversation(api):
    conversation_id = api.chats.conversation(PARKING, widget=True)
    lead = api.chats.lead(conversation_id)
    api.call("admin", "DELETE", f"/conversations/{conversation_id}")

    opened = api.get("admin", f"/leads/{lead.id}").get_json()

    assert opened["conversation"] is None and opened["lead"]["conversation_id"] is None


def test_analytics_report_and_csv_for_a_range(api):
    api.chats.conversation(ANSWERED, FALLS_BACK)
    api.chats.clock.advance(days=1)
    api.chats.conversation(FALLS_BACK)

    report = api.get("viewer", "/analytics?since=2026-11-28&until=2026-11-30").get_json()
    exported = api.get("admin", "/analytics/export?table=fell_back_questions&since=2026-11-28&until=2026-11-30")

    assert [d["day"] for d in report["days"]] == ["2026-11-28", "2026-11-29", "2026-11-30"]
    assert [d["questions"] for d in report["days"]] == [0, 2, 1]
    assert report["totals"]["fell_back"] == 2 and report["totals"]["answered"] == 1
    assert report["fell_back_questions"] == [{"question": "what is the capital of mongolia", "count": 2,
                                              "last_asked": "2026-11-30T12:00:00Z"}]
    assert report["top_questions"][0]["count"] == 2
    assert exported.headers["Content-Disposition"] == ('attachment; filename="analytics-fell_back_questions-'
                                                       '2026-11-28-to-2026-11-30.csv"')
    assert list(csv.reader(io.StringIO(exported.get_data(as_text=True)))) == [
        ["question", "count", "last_asked"], ["what is the capital of mongolia", "2", "2026-11-30T12:00:00Z"]]
    [event] = api.audit("analytics.export")
    assert event.details == {"table": "fell_back_questions", "since": "2026-11-28", "until": "2026-11-30",
                             "agent_id": None, "question_text": "full"}


PERSONAL = ["My email is Jane.Doe@Example.com, my phone +44 20 7946 0958, what about order 12345678",
            "My email is bob@example.org, my phone 030 123 45 67, what about order 87654321"]
MASKED = "my email is [email], my phone [number], what about order [number]"


def test_question_text_in_analytics_is_redacted_for_those_who_may_not_read_conversations(api):
    for text in PERSONAL:
        api.chats.conversation(text, widget=True)
    redacted_readers = ["viewer", api.key("analytics:read", "export")]
    full_readers = ["editor", "admin", "owner", api.key("analytics:read", "conversations:read", "export")]

    reports = {who: api.get(who, "/analytics").get_json() for who in redacted_readers + full_readers}
    exports = {who: api.get(who, "/analytics/export?table=fell_back_questions").get_data(as_text=True)
               for who in redacted_readers + full_readers}

    for who in redacted_readers:
        report = reports[who]
        assert report["question_text"] == "redacted"
        assert [(q["question"], q["count"]) for q in report["fell_back_questions"]] == [(MASKED, 2)]
        assert [q["question"] for q in report["top_questions"]] == [MASKED]
        assert list(csv.reader(io.StringIO(exports[who])))[1][:2] == [MASKED, "2"]
        shown = json.dumps(report) + exports[who]
        for secret in ("jane", "bob@", "7946", "123 45 67", "12345678", "87654321"):
            assert secret not in shown.lower()
    for who in full_readers:
        report = reports[who]
        assert report["question_text"] == "full"
        assert sorted(q["question"] for q in report["fell_back_questions"]) == sorted(
            " ".join(t.lower().split()) for t in PERSONAL)
        assert "jane.doe@example.com" in exports[who]
    assert reports["viewer"]["totals"] == reports["editor"]["totals"]
    assert [e.details["question_text"] for e in api.audit("analytics.export")] == ["redacted"] * 2 + ["full"] * 4


@pytest.mark.parametrize(("query", "message"), [
    ("since=2026-12-01&until=2026-11-01", "'since' must be on or before 'until'"),
    ("since=2024-01-01&until=2026-11-29", "at most 366 days"),
    ("until=tomorrow", "'until' must be a day"),
])
def test_analytics_ranges_that_make_no_sense_get_a_400(api, query, message):
    response = api.get("viewer", f"/analytics?{query}")

    assert response.status_code == 400 and message in response.get_json()["message"]
    assert api.get("viewer", "/analytics/export?table=leads").status_code == 400


def test_over_https_an_analytics_only_key_sees_visitors_questions_redacted(tmp_path):
    demo = start_demo(tmp_path)
    try:
        token, base = demo.login(), f"/api/v1/workspaces/{demo.workspace_id}"
        headers = {"Origin": demo.site_origin}
        path = f"/widget/v1/agents/{demo.public_id}"
        _, opened = demo.running.api("POST", f"{path}/session", {}, headers=headers)
        status, _ = demo.running.api("POST", f"{path}/messages", {"text": PERSONAL[0]},
                                     headers={**headers, "Authorization": f"Bearer {opened['token']}"})
        assert status == 200
        keys = {}
        for name, scopes in (("analytics", ["analytics:read"]), ("both", ["analytics:read", "conversations:read"])):
            status, created = demo.running.api("POST", f"{base}/api-keys", {"name": name, "scopes": scopes},
                                               token=token)
            assert status == 201, created
            keys[name] = created["key"]

        reports = {name: demo.running.api("GET", f"{base}/analytics", token=key)[1] for name, key in
                   (("analytics", keys["analytics"]), ("both", keys["both"]), ("owner", token))}
    finally:
        demo.running.stop()

    assert reports["analytics"]["question_text"] == "redacted"
    assert [q["question"] for q in reports["analytics"]["top_questions"]] == [MASKED]
    assert "jane" not in json.dumps(reports["analytics"]).lower()
    for name in ("both", "owner"):
        assert reports[name]["question_text"] == "full"
        assert "jane.doe@example.com" in json.dumps(reports[name])
