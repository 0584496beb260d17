"""The outbox on a real control database, delivering to a real aiosmtpd server: queueing, retries, status."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from appliance.errors import ConfigurationError, ValidationError
from appliance.mail.outbox import Outbox, OutboxStatus, SendReport, backoff, send_outbox
from appliance.mail.relay import SmtpRelay, SmtpSettings
from appliance.storage.database import Database
from tests.appliance.mail.smtp_server import (
    HOST,
    CollectingHandler,
    issue_relay_certificate,
    running_smtp_server,
    unused_port,
)

SENDER = "ChatSpark Appliance <chatspark@example.com>"
BODY = "Grüße aus Zürich — your invitation is waiting: https://chat.example.com/invite/abc ✓\n"


@pytest.fixture(scope="module")
def relay_certificate(tmp_path_factory):
    return issue_relay_certificate(tmp_path_factory.mktemp("relay-certificate"))


@pytest.fixture
def smtp_server():
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def outbox(appliance, clock, smtp_server) -> Outbox:
    relay = SmtpRelay(SmtpSettings(HOST, smtp_server.port, "none"))
    return Outbox(appliance.control_db, clock=clock, relay=relay, sender=SENDER)


def _row(db: Database, mail_id: int):
    return db.query_one("SELECT * FROM outbox WHERE id = ?", (mail_id,))


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_queued_mail_is_delivered_with_sender_recipient_subject_and_utf8_body(outbox, smtp_server, clock):
    mail_id = outbox.enqueue(to="alice@example.com", subject="Willkommen, Jürgen", body=BODY)

    report = outbox.send_due()

    assert report == SendReport(sent=1, retried=0, failed=0, waiting=0)
    (received,) = smtp_server.received
    message = received.message
    assert received.mail_from == "chatspark@example.com"
    assert received.rcpt_tos == ["alice@example.com"]
    assert message["From"] == SENDER
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "Willkommen, Jürgen"
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message["Content-Transfer-Encoding"] == "quoted-printable"
    assert message.get_content().replace("\r\n", "\n") == BODY
    assert message["Date"].datetime == clock.now()
    assert message["Message-ID"].endswith("@example.com>")
    row = _row(outbox.db, mail_id)
    assert (row["status"], row["attempts"], row["sent_at"]) == ("sent", 1, _stamp(clock.now()))


def test_sent_mail_is_not_sent_again(outbox, smtp_server):
    outbox.enqueue(to="alice@example.com", subject="Once", body="only once")
    outbox.send_due()

    assert outbox.send_due() == SendReport()
    assert len(smtp_server.received) == 1


def test_send_outbox_job_delivers_what_is_due(outbox, smtp_server):
    outbox.enqueue(to="alice@example.com", subject="One", body="1")
    outbox.enqueue(to="bob@example.com", subject="Two", body="2")

    report = send_outbox(outbox)

    assert report.sent == 2
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == ["alice@example.com", "bob@example.com"]


def test_send_due_takes_at_most_limit_mails_oldest_first(outbox, smtp_server):
    for n in range(3):
        outbox.enqueue(to=f"user{n}@example.com", subject=f"Mail {n}", body="hello")

    report = outbox.send_due(limit=2)

    assert report == SendReport(sent=2, waiting=1)
    assert [r.message["Subject"] for r in smtp_server.received] == ["Mail 0", "Mail 1"]


def test_without_a_relay_mail_waits_in_the_outbox(appliance, clock):
    outbox = Outbox(appliance.control_db, clock=clock, relay=None, sender=SENDER)
    first = outbox.enqueue(to="alice@example.com", subject="Hi", body="hello")
    outbox.enqueue(to="bob@example.com", subject="Hi", body="hello")

    assert outbox.send_due() == SendReport(waiting=2)
    assert _row(appliance.control_db, first)["attempts"] == 0
    assert outbox.status().pending == 2


def test_untrusted_relay_certificate_leaves_mail_pending_with_one_attempt_and_a_backoff(
        appliance, clock, relay_certificate):
    with running_smtp_server(tls_context=relay_certificate.server_context(), require_starttls=True) as server:
        relay = SmtpRelay(SmtpSettings(HOST, server.port, "starttls"))  # no ca_file: the system CAs do not know it
        outbox = Outbox(appliance.control_db, clock=clock, relay=relay, sender=SENDER)
        mail_id = outbox.enqueue(to="alice@example.com", subject="Hi", body="hello")

        report = outbox.send_due()

        assert report == SendReport(retried=1)
        assert server.received == []
    row = _row(appliance.control_db, mail_id)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["next_attempt_at"] == _stamp(clock.now() + dt.timedelta(minutes=1))
    assert "certificate not trusted" in row["last_error"]


def test_pending_mail_goes_out_once_the_relay_is_fixed_and_the_backoff_has_passed(appliance, clock, relay_certificate):
    with running_smtp_server(tls_context=relay_certificate.server_context(), require_starttls=True) as server:
        settings = SmtpSettings(HOST, server.port, "starttls")
        broken = Outbox(appliance.control_db, clock=clock, relay=SmtpRelay(settings), sender=SENDER)
        mail_id = broken.enqueue(to="alice@example.com", subject="Hi", body="hello")
        broken.send_due()
        fixed_relay = SmtpRelay(SmtpSettings(HOST, server.port, "starttls", ca_file=relay_certificate.ca_file))
        fixed = Outbox(appliance.control_db, clock=clock, relay=fixed_relay, sender=SENDER)

        before_backoff = fixed.send_due()
        clock.advance(minutes=1)
        after_backoff = fixed.send_due()

        assert before_backoff == SendReport(waiting=1)
        assert after_backoff == SendReport(sent=1)
        assert [r.over_tls for r in server.received] == [True]
    row = _row(appliance.control_db, mail_id)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert fixed.status() == OutboxStatus(pending=0, failed=0, oldest_pending_at=None, last_error=None)


def test_unreachable_relay_is_retried_with_growing_backoff_then_marked_failed(appliance, clock, caplog):
    relay = SmtpRelay(SmtpSettings(HOST, unused_port(), "none"))
    outbox = Outbox(appliance.control_db, clock=clock, relay=relay, sender=SENDER, max_attempts=4)
    mail_id = outbox.enqueue(to="alice@example.com", subject="Hi", body="secret invitation link")
    waits = []

    with caplog.at_level(logging.WARNING, logger="appliance.mail.outbox"):
        for _ in range(3):
            assert outbox.send_due() == SendReport(retried=1)
            due = dt.datetime.fromisoformat(_row(appliance.control_db, mail_id)["next_attempt_at"])
            waits.append(due - clock.now())
            clock.advance(seconds=(due - clock.now()).total_seconds() - 1)
            assert outbox.send_due() == SendReport(waiting=1), "retried before its backoff ended"
            clock.advance(seconds=1)
        final = outbox.send_due()

    assert waits == [dt.timedelta(minutes=1), dt.timedelta(minutes=2), dt.timedelta(minutes=4)]
    assert final == SendReport(failed=1)
    row = _row(appliance.control_db, mail_id)
    assert (row["status"], row["attempts"]) == ("failed", 4)
    assert outbox.send_due() == SendReport()
    status = outbox.status()
    assert (status.pending, status.failed) == (0, 1)
    assert "connection refused" in status.last_error
    assert status.oldest_pending_at is None
    assert [r.levelno for r in caplog.records] == [logging.WARNING] * 4
    assert "giving up" in caplog.records[-1].getMessage()
    assert not any("secret invitation link" in r.getMessage() for r in caplog.records)


def test_backoff_doubles_from_one_minute_and_stops_at_one_hour():
    assert [backoff(n) for n in range(1, 10)] == [
        dt.timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60, 60, 60)
    ]


def test_status_reports_pending_count_oldest_pending_and_last_error(appliance, clock):
    relay = SmtpRelay(SmtpSettings(HOST, unused_port(), "none"))
    outbox = Outbox(appliance.control_db, clock=clock, relay=relay, sender=SENDER)
    oldest = clock.now()
    outbox.enqueue(to="alice@example.com", subject="First", body="1")
    clock.advance(minutes=5)
    outbox.enqueue(to="bob@example.com", subject="Second", body="2")
    assert outbox.status() == OutboxStatus(pending=2, failed=0, oldest_pending_at=oldest, last_error=None)

    outbox.send_due()

    status = outbox.status()
    assert (status.pending, status.failed, status.oldest_pending_at) == (2, 0, oldest)
    assert status.last_error.startswith(f"cannot connect to {HOST}:")


def test_recent_lists_mail_newest_first_without_bodies(outbox, clock):
    first = outbox.enqueue(to="alice@example.com", subject="First", body="body one")
    outbox.send_due()
    second = outbox.enqueue(to="bob@example.com", subject="Second", body="body two")

    entries = outbox.recent(10)

    assert [(e.id, e.recipient, e.subject, e.status) for e in entries] == [
        (second, "bob@example.com", "Second", "pending"), (first, "alice@example.com", "First", "sent"),
    ]
    assert entries[1].sent_at == clock.now() and entries[0].sent_at is None
    assert all(not hasattr(e, "body") for e in entries)


@pytest.mark.parametrize("to", [
    "alice@example.com\r\nBcc: mallory@evil.example",
    "alice@example.com\nBcc: mallory@evil.example",
    "alice@example.com, mallory@evil.example",
    "Alice <alice@example.com>",
    "alice@example.com>",
    "alice",
    "alice@",
    "@example.com",
    "alice smith@example.com",
    "",
])
def test_enqueue_refuses_anything_but_one_plain_address(outbox, to):
    with pytest.raises(ValidationError, match="^to "):
        outbox.enqueue(to=to, subject="Hi", body="hello")

    assert outbox.status().pending == 0


@pytest.mark.parametrize("subject", ["Hi\r\nBcc: mallory@evil.example", "Hi\nthere", "Hi\rthere", "Hi\x00"])
def test_enqueue_refuses_header_injection_in_the_subject(outbox, subject):
    with pytest.raises(ValidationError, match="subject"):
        outbox.enqueue(to="alice@example.com", subject=subject, body="hello")

    assert outbox.status().pending == 0


def test_body_may_hold_any_number_of_lines(outbox, smtp_server):
    outbox.enqueue(to="alice@example.com", subject="Lines", body="one\ntwo\r\nBcc: not-a-header@example.com\n")

    outbox.send_due()

    (received,) = smtp_server.received
    assert received.rcpt_tos == ["alice@example.com"]
    assert received.message["Bcc"] is None


def test_mail_queued_in_a_callers_transaction_rolls_back_with_it(outbox):
    with pytest.raises(RuntimeError):
        with outbox.db.transaction() as conn:
            conn.execute("INSERT INTO settings (name, value, updated_at) VALUES ('invited', 'yes', 'now')")
            outbox.enqueue(to="alice@example.com", subject="Invitation", body="join", conn=conn)
            raise RuntimeError("the invitation could not be stored")

    assert outbox.db.query_one("SELECT count(*) FROM outbox")[0] == 0
    assert outbox.db.query_one("SELECT count(*) FROM settings WHERE name = 'invited'")[0] == 0


def test_mail_queued_in_a_callers_transaction_commits_with_it(outbox, smtp_server):
    with outbox.db.transaction() as conn:
        conn.execute("INSERT INTO settings (name, value, updated_at) VALUES ('invited', 'yes', 'now')")
        outbox.enqueue(to="alice@example.com", subject="Invitation", body="join", conn=conn)

    assert outbox.send_due().sent == 1
    assert len(smtp_server.received) == 1


def test_mail_being_sent_holds_no_write_lock_and_is_not_taken_by_another_sender(appliance, clock):
    seen_by_second_sender = []

    def while_the_server_holds_the_message(received):
        # Runs while the first sender waits for the server's answer: a second sender must be able to write,
        # and must not pick the mail the first one has claimed.
        with appliance.control_db.transaction() as conn:
            conn.execute("INSERT INTO settings (name, value, updated_at) VALUES ('during_send', 'ok', 'now')")
        seen_by_second_sender.append(second.send_due())

    with running_smtp_server(handler=CollectingHandler(on_message=while_the_server_holds_the_message)) as server, \
            running_smtp_server() as other_server:
        first = Outbox(appliance.control_db, clock=clock, sender=SENDER,
                       relay=SmtpRelay(SmtpSettings(HOST, server.port, "none")))
        second = Outbox(appliance.control_db, clock=clock, sender=SENDER,
                        relay=SmtpRelay(SmtpSettings(HOST, other_server.port, "none")))
        first.enqueue(to="alice@example.com", subject="Hi", body="hello")

        report = first.send_due()

        assert report == SendReport(sent=1)
        assert seen_by_second_sender == [SendReport(waiting=1)]
        assert other_server.received == []
    assert appliance.control_db.query_one("SELECT value FROM settings WHERE name = 'during_send'")["value"] == "ok"


def test_a_row_that_cannot_become_a_message_is_marked_failed_without_stopping_the_others(outbox, smtp_server, clock):
    # Written around enqueue's checks, as a buggy caller or a hand edit could.
    with outbox.db.transaction() as conn:
        conn.execute("INSERT INTO outbox (recipient, subject, body, created_at, next_attempt_at) "
                     "VALUES ('alice@example.com', 'Hi\nBcc: mallory@evil.example', 'x', ?, ?)",
                     (_stamp(clock.now()), _stamp(clock.now())))
    good = outbox.enqueue(to="bob@example.com", subject="Fine", body="hello")

    report = outbox.send_due()

    assert report == SendReport(sent=1, failed=1)
    assert [r.rcpt_tos for r in smtp_server.received] == [["bob@example.com"]]
    assert _row(outbox.db, good)["status"] == "sent"
    assert "cannot be built" in outbox.status().last_error


@pytest.mark.parametrize("sender", ["", "not an address", "Appliance <chatspark@example.com>\r\nBcc: x@evil.example"])
def test_an_unusable_sender_address_is_a_configuration_error(appliance, clock, sender):
    with pytest.raises(ConfigurationError, match="mail_from"):
        Outbox(appliance.control_db, clock=clock, relay=None, sender=sender)
