"""Every name the core accepts (workspaces, agents, display names) travels through a real invitation and a real lead
notification to a real SMTP server, unchanged and without adding a header or a recipient; the names it refuses are
refused once, in the core, with an error that says what is wrong."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from appliance.accounts.names import check_name
from appliance.errors import ValidationError
from appliance.services import build_services
from appliance.widget.service import lead_notifier
from tests.appliance.mail.smtp_server import HOST, running_smtp_server

PASSWORD = "violet anchor drizzle 42"
# Hard cases the core accepts: scripts, joiners, quotes, things that look like headers or encoded words, the longest.
ACCEPTED = [
    "Zoë's Café & Bar",
    "北京办公室",
    "مكتب القاهرة",
    "नमस्‍ते टीम",                                   # a zero-width joiner, as Devanagari uses it
    "👩‍👩‍👧 Family Office",                          # zero-width joiners in an emoji sequence
    "=?utf-8?q?hi=0D=0ABcc:_mallory@evil.example?=",
    "=?utf-8?b?QmNjOiBtYWxsb3J5QGV2aWwuZXhhbXBsZQ==?= team",
    "Bcc: mallory@evil.example",
    "Support <support@evil.example>",
    'Quote " and \\ backslash',
    "%0d%0aBcc: mallory@evil.example",
    "non\u00a0breaking and ideographic\u3000spaces",
    "Re\u0301sume\u0301 (combining accents)",
    "x" * 100,
    "🙂" * 100,
]
REFUSED = {
    "line feed": "Acme\nBcc: mallory@evil.example",
    "carriage return": "Acme\rSupport",
    "line separator": "Acme\u2028Support",
    "paragraph separator": "Acme\u2029Support",
    "next line": "Acme\u0085Support",
    "NUL": "Acme\x00",
    "tab": "Acme\tSupport",
    "escape": "Acme\x1b[31m",
    "direction override": "Acme\u202etroppuS",
    "zero-width space": "Ac\u200bme",
    "byte-order mark": "\ufeffAcme",
    "lone surrogate": "Acme\ud800",
    "private use": "Acme\ue000",
}


@pytest.fixture
def smtp_server():
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def mailing(appliance, settings, smtp_server):
    return build_services(appliance, settings.replace(smtp_host=HOST, smtp_port=smtp_server.port,
                                                      smtp_security="none",
                                                      mail_from="ChatSpark <chatspark@appliance.test>"))


@pytest.mark.parametrize("name", ACCEPTED)
def test_every_accepted_name_goes_through_an_invitation_and_a_lead_notification_unchanged(mailing, smtp_server,
                                                                                           name):
    stored = check_name(name, what="a name")
    inviter = mailing.users.create_operator(email="olga@example.com", password=PASSWORD, display_name=name)
    workspace = mailing.workspaces.create(name=name, owner_id=inviter.id, actor_id=inviter.id, client_address=None)
    agent = mailing.agents.of(workspace.id).create({"name": name, "notify_on_lead": True})
    mailing.invitations.invite(workspace.id, email="ivan@example.com", role="viewer", inviter_id=inviter.id,
                               inviter_role="owner", client_address=None)
    notify = lead_notifier(workspaces=mailing.workspaces, outbox=mailing.outbox, public_url="https://chat.test")
    notify(workspace.id, agent, SimpleNamespace(id="lead-1", created_at="2026-11-29T12:00:00Z"))

    report = mailing.outbox.send_due()

    assert (report.sent, report.failed) == (2, 0), mailing.outbox.status().last_error
    by_recipient = {tuple(r.rcpt_tos): r.message for r in smtp_server.received}
    assert set(by_recipient) == {("ivan@example.com",), ("olga@example.com",)}
    for message in by_recipient.values():
        assert set(message.keys()) == {"From", "To", "Subject", "Date", "Message-ID", "Content-Type",
                                       "Content-Transfer-Encoding", "MIME-Version"}
        assert message["Bcc"] is None and message["Cc"] is None
    invitation = by_recipient[("ivan@example.com",)]
    assert str(invitation["Subject"]) == f"You are invited to {stored} on ChatSpark"
    body = invitation.get_content().replace("\r\n", "\n")
    assert body.startswith(f"You are invited to the ChatSpark workspace \"{stored}\" as viewer, by \"{stored}\" "
                           "<olga@example.com>.\n")
    lead = by_recipient[("olga@example.com",)]
    assert str(lead["Subject"]) == f"New lead from {stored}"
    assert f"\"{stored}\" in the workspace \"{stored}\"" in lead.get_content().replace("\r\n", "\n")


@pytest.mark.parametrize("kind", REFUSED)
def test_a_name_with_a_control_or_format_character_is_refused_saying_what_and_where(kind):
    name = REFUSED[kind]

    with pytest.raises(ValidationError, match="must be a single line of printable text, but character") as raised:
        check_name(name, what="a workspace name")

    assert str(raised.value).startswith("a workspace name ")
    assert name not in str(raised.value)


@pytest.mark.parametrize("kind", REFUSED)
def test_every_kind_of_name_refuses_what_mail_cannot_carry(services, kind):
    name = REFUSED[kind]
    owner = services.users.create_operator(email="olga@example.com", password=PASSWORD)
    workspace = services.workspaces.create(name="Acme", owner_id=owner.id, actor_id=owner.id, client_address=None)
    agents = services.agents.of(workspace.id)
    attempts = {
        "a workspace name": lambda: services.workspaces.create(name=name, owner_id=owner.id, actor_id=owner.id,
                                                               client_address=None),
        "a workspace name ": lambda: services.workspaces.rename(workspace.id, name=name, actor_id=owner.id,
                                                                client_address=None),
        "a display name": lambda: services.users.create_operator(email="pat@example.com", password=PASSWORD,
                                                                 display_name=name),
        "the agent's 'name'": lambda: agents.create({"name": name}),
        "the label of lead field": lambda: agents.create({"name": "Bot", "lead_fields": [
            {"name": "email", "label": name, "required": True}]}),
        "an API key's name": lambda: services.api_keys.create(workspace.id, name=name, scopes=["chat"],
                                                              actor_id=owner.id, client_address=None),
    }
    for what, attempt in attempts.items():
        with pytest.raises(ValidationError, match="single line of printable text") as raised:
            attempt()
        assert str(raised.value).startswith(what.strip()), (what, str(raised.value))

    assert services.workspaces.get(workspace.id).name == "Acme"
    assert [w.name for w in services.workspaces.list_all()] == ["Acme"]
    assert agents.list() == [] and services.api_keys.list(workspace.id) == []
    assert services.users.find_by_email("pat@example.com") is None
