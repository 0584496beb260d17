"""The mail outbox through the API, as an operator without a mail relay uses it: what waits, and one mail whole with
its link (audited), the same as `chatspark mail outbox|show`."""

from __future__ import annotations

import pytest

from server.app import create_app

PASSWORD = "a long enough passphrase for tests"


@pytest.fixture
def world(services, settings):
    client = create_app(services, settings=settings).test_client()
    services.users.create_operator(email="op@example.com", password=PASSWORD)
    token = client.post("/api/v1/auth/login", json={"email": "op@example.com", "password": PASSWORD}).get_json()
    yield client, {"Authorization": f"Bearer {token['token']}"}
    services.knowledge.close()


def test_an_operator_lists_waiting_mail_and_reads_one_whole_which_is_audited(world, services):
    client, auth = world
    mail_id = services.outbox.enqueue(to="new@example.com", subject="Your invitation",
                                      body="Accept: https://localhost:8443/accept?token=abc\n")

    listed = client.get("/api/v1/mail/outbox", headers=auth)

    assert listed.status_code == 200, listed.get_json()
    answer = listed.get_json()
    assert answer["relay"] is False
    assert [(m["id"], m["recipient"], m["subject"], m["status"]) for m in answer["mail"]] == [
        (mail_id, "new@example.com", "Your invitation", "pending")]
    assert "body" not in answer["mail"][0]
    shown = client.get(f"/api/v1/mail/outbox/{mail_id}", headers=auth)
    assert shown.status_code == 200, shown.get_json()
    assert shown.get_json()["mail"]["body"] == "Accept: https://localhost:8443/accept?token=abc\n"
    [event] = [e for e in services.audit.events(action="mail.show")]
    assert (event.actor_type, event.target_id, event.details["recipient"]) == ("user", str(mail_id),
                                                                               "new@example.com")


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "all=maybe"])
def test_a_bad_query_is_refused_with_what_is_allowed(world, query):
    client, auth = world

    refused = client.get(f"/api/v1/mail/outbox?{query}", headers=auth)

    assert refused.status_code == 400
    assert ("'limit'" if "limit" in query else "'all'") in refused.get_json()["message"]


def test_a_delivered_mail_is_not_shown_since_its_body_was_for_the_recipient_alone(world, services):
    client, auth = world
    mail_id = services.outbox.enqueue(to="new@example.com", subject="Reset", body="secret link")
    with services.appliance.control_db.transaction() as conn:
        conn.execute("UPDATE outbox SET status = 'sent', sent_at = created_at WHERE id = ?", (mail_id,))

    refused = client.get(f"/api/v1/mail/outbox/{mail_id}", headers=auth)

    assert refused.status_code == 409 and "was delivered" in refused.get_json()["message"]
    assert client.get("/api/v1/mail/outbox/424242", headers=auth).status_code == 404
