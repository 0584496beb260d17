"""An agent's day of widget questions in the real Flask app: no address or network may use more than its share, the
per-visitor limit holds across new sessions, the admins are mailed as the day runs out, and a restart resets none."""

from __future__ import annotations

import pytest

from appliance.services import build_services
from server.app import create_app
from tests.server.trained_agents import PASSWORD, handbook_agent

PAGE = "https://intranet.example.com"
HANDBOOK = b"# Parking\n\nVisitors park in the north car park, next to reception.\n"
QUESTION = "Where do visitors park?"
PER_DAY, ADDRESS_SHARE, NETWORK_SHARE = 40, 3, 8      # 40 a day; 7.5% is 3 of them, 20% is 8


@pytest.fixture
def settings(settings):
    return settings.replace(widget_messages_per_agent_per_day=PER_DAY, widget_address_share_percent=7.5,
                            widget_network_share_percent=20, widget_messages_per_minute=1000,
                            widget_requests_per_minute=1000, widget_cap_alert_percents="80,100")


class Widget:
    """The widget's endpoints as browsers at chosen client addresses call them."""

    def __init__(self, services, settings, public_id: str) -> None:
        self.services, self.settings, self.public_id = services, settings, public_id
        self.client = create_app(services, settings=settings).test_client()

    def post(self, path: str, body: dict, *, address: str, token: str | None = None):
        headers = {"Origin": PAGE, **({"Authorization": f"Bearer {token}"} if token else {})}
        return self.client.post(f"/widget/v1/agents/{self.public_id}{path}", json=body, headers=headers,
                                environ_overrides={"REMOTE_ADDR": address})

    def session(self, address: str) -> str:
        response = self.post("/session", {}, address=address)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["token"]

    def ask(self, address: str, *, token: str | None = None, text: str = QUESTION):
        """One question, in a new session unless a token is given (what a script resetting itself would do)."""
        return self.post("/messages", {"text": text}, address=address, token=token or self.session(address))

    def restarted(self) -> "Widget":
        """The same appliance as a new serving process builds it: services anew, nothing kept in memory."""
        return Widget(build_services(self.services.appliance, self.settings), self.settings, self.public_id)


@pytest.fixture
def widget(services, settings):
    workspace_id, agent = handbook_agent(services, HANDBOOK, {"name": "Acme helper", "allowed_origins": [PAGE]})
    widget = Widget(services, settings, agent.public_id)
    widget.workspace_id = workspace_id
    yield widget
    services.knowledge.close()


def statuses(responses) -> list[int]:
    return [r.status_code for r in responses]


def test_one_address_may_ask_its_share_of_the_day_and_then_not_even_from_a_new_session(widget, clock):
    answered = [widget.ask("203.0.113.7") for _ in range(ADDRESS_SHARE)]
    refused = widget.ask("203.0.113.7")

    assert statuses(answered) == [200] * ADDRESS_SHARE
    body = refused.get_json()
    assert refused.status_code == 429 and body["error"] == "rate_limited"
    assert body["message"] == "You have asked as many questions as one visitor may today. Please try again tomorrow."
    assert body["retry_after_seconds"] == 12 * 3600 and refused.headers["Retry-After"] == str(12 * 3600)
    assert widget.ask("203.0.113.8").status_code == 200              # a neighbour still is answered
    assert widget.ask("::ffff:203.0.113.7").status_code == 429       # the same address spelt as IPv6
    clock.advance(hours=12)
    assert widget.ask("203.0.113.7").status_code == 200              # a new UTC day


def test_a_network_may_ask_its_share_and_every_other_network_is_still_answered(widget):
    """What the review did: many addresses of one network. They use up that network's share, not the agent's day."""
    answered = [widget.ask(f"203.0.113.{n}") for n in range(1, NETWORK_SHARE + 1)]
    refused = [widget.ask(f"203.0.113.{n}") for n in range(100, 110)]

    assert statuses(answered) == [200] * NETWORK_SHARE
    assert statuses(refused) == [429] * 10
    assert refused[0].get_json()["message"] == ("Your network has asked as many questions as it may today. Please "
                                                "try again tomorrow.")
    assert widget.ask("198.51.100.7").status_code == 200
    assert widget.ask("203.0.114.1").status_code == 200             # the next /24 is another network


def test_an_ipv6_network_is_its_64_whatever_addresses_it_picks_in_it(widget):
    answered = [widget.ask(f"2001:db8:1:2::{n:x}") for n in range(1, NETWORK_SHARE + 1)]

    assert statuses(answered) == [200] * NETWORK_SHARE
    assert widget.ask("2001:db8:1:2:ffff:ffff:ffff:fffe").status_code == 429
    assert widget.ask("2001:db8:1:3::1").status_code == 200


def test_the_agents_day_still_ends_at_its_cap_and_a_refused_question_counts_against_nothing(widget):
    for n in range(PER_DAY):
        assert widget.ask(f"10.{n}.0.1").status_code == 200, n
    refused = widget.ask("10.200.0.1")

    assert refused.status_code == 429 and "This chat has answered as many questions" in refused.get_json()["message"]
    chat = widget.services.conversations.chat(widget.workspace_id)
    agent = widget.services.agents.of(widget.workspace_id).list()[0]
    assert chat.questions_today(agent.id) == PER_DAY


def test_an_empty_or_too_long_question_uses_no_share(widget):
    token = widget.session("203.0.113.7")
    for _ in range(ADDRESS_SHARE + 2):
        assert widget.ask("203.0.113.7", token=token, text="   ").status_code == 400
    assert widget.ask("203.0.113.7", token=token, text="x" * 5000).status_code in (400, 413)

    assert statuses(widget.ask("203.0.113.7", token=token) for _ in range(ADDRESS_SHARE)) == [200] * ADDRESS_SHARE


def test_the_shares_of_the_day_survive_a_restart(widget):
    for _ in range(ADDRESS_SHARE):
        widget.ask("203.0.113.7")
    for n in range(1, NETWORK_SHARE - ADDRESS_SHARE + 1):
        widget.ask(f"198.51.100.{n}")

    restarted = widget.restarted()
    try:
        assert restarted.ask("203.0.113.7").status_code == 429
        assert restarted.ask("203.0.113.9").status_code == 200
        assert statuses(restarted.ask(f"198.51.100.{n}") for n in (200, 201, 202, 203)) == [200, 200, 200, 429]
    finally:
        restarted.services.knowledge.close()


def test_the_database_holds_the_day_under_keyed_hashes_never_the_address(widget):
    widget.ask("203.0.113.7")

    rows = widget.services.conversations.chat(widget.workspace_id)._db.query(
        "SELECT counted_as, questions FROM widget_daily_counts ORDER BY counted_as")
    assert [(r["counted_as"].split(":")[0], r["questions"]) for r in rows] == [("address", 1), ("network", 1)]
    assert not any("203.0.113" in r["counted_as"] for r in rows)


def test_the_per_visitor_limit_holds_across_new_sessions_from_the_same_address(widget, settings):
    limited = settings.replace(widget_messages_per_minute=3, widget_address_share_percent=100,
                               widget_network_share_percent=100)
    widget = Widget(build_services(widget.services.appliance, limited), limited, widget.public_id)
    try:
        first = [widget.ask("203.0.113.7", token=widget.session("203.0.113.7")) for _ in range(3)]
        again = widget.ask("203.0.113.7")                            # a brand-new session, same address
        lead = widget.post("/leads", {"fields": {"email": "j@example.com"}, "consent": True,
                                      "consent_version": 1}, address="203.0.113.7",
                           token=widget.session("203.0.113.7"))
        neighbour = widget.ask("203.0.113.8")
        v6 = [widget.ask(f"2001:db8:1:2::{n}") for n in range(1, 5)]  # one host, a new privacy address each time
    finally:
        widget.services.knowledge.close()

    assert statuses(first) == [200, 200, 200]
    assert again.status_code == 429 and "quickly" in again.get_json()["message"]
    assert lead.status_code == 429 and "quickly" in lead.get_json()["message"]
    assert neighbour.status_code == 200
    assert statuses(v6) == [200, 200, 200, 429]


def mails(widget) -> list[tuple[str, str]]:
    return [(m["recipient"], m["subject"]) for m in widget.services.appliance.control_db.query(
        "SELECT recipient, subject FROM outbox ORDER BY id")]


def test_admins_are_mailed_once_a_day_at_each_alert_share_of_the_cap(widget, services, clock):
    admin, editor = (services.users.create_operator(email=f"{role}@example.com", password=PASSWORD)
                     for role in ("admin", "editor"))
    with services.appliance.control_db.transaction() as conn:
        services.workspaces.add_member(conn, workspace_id=widget.workspace_id, user_id=admin.id, role="admin")
        services.workspaces.add_member(conn, workspace_id=widget.workspace_id, user_id=editor.id, role="editor")
    at_80 = int(PER_DAY * 0.8)

    for n in range(at_80 - 1):
        widget.ask(f"10.{n}.0.1")
    before = mails(widget)
    widget.ask("10.100.0.1")
    at_eighty = mails(widget)
    for n in range(PER_DAY - at_80):
        widget.ask(f"10.{150 + n}.0.1")
    for n in range(3):
        assert widget.ask(f"10.{200 + n}.0.1").status_code == 429
    restarted = widget.restarted()
    try:
        assert restarted.ask("10.250.0.1").status_code == 429
        after_restart = mails(restarted)
    finally:
        restarted.services.knowledge.close()

    assert before == []
    subject_80 = "Acme helper has answered 80% of its widget questions for today"
    subject_100 = "Acme helper has answered all its widget questions for today"
    assert sorted(at_eighty) == [("admin@example.com", subject_80), ("op@example.com", subject_80)]
    assert sorted(after_restart) == sorted(at_eighty + [("admin@example.com", subject_100),
                                                        ("op@example.com", subject_100)])
    bodies = [m["body"] for m in services.appliance.control_db.query("SELECT body FROM outbox ORDER BY id")]
    assert f"has answered {at_80} of the {PER_DAY} questions" in bodies[0]
    assert not any("10." in body for body in bodies)                 # no visitor's address

    clock.advance(days=1)
    for n in range(at_80):
        widget.ask(f"10.{n}.0.2")
    assert len(mails(widget)) == 6                                   # a new day, a new 80% alert


def test_an_ipv6_host_cannot_escape_the_request_limit_by_changing_address_within_its_64(widget, settings):
    limited = settings.replace(widget_requests_per_minute=5)
    widget = Widget(build_services(widget.services.appliance, limited), limited, widget.public_id)
    try:
        opened = [widget.post("/session", {}, address=f"2001:db8:1:2::{n}") for n in range(1, 7)]
        elsewhere = widget.post("/session", {}, address="2001:db8:1:3::1")
    finally:
        widget.services.knowledge.close()

    assert statuses(opened) == [200] * 5 + [429]
    assert "Too many requests from your network" in opened[-1].get_json()["message"]
    assert elsewhere.status_code == 200
