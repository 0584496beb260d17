"""The outbox: mail queued by the services in the control database, delivered by a job with retries and backoff."""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import logging
import re
from dataclasses import dataclass
from email import headerregistry
from email.header import Header
from email.message import EmailMessage
from typing import Any

from appliance.clock import Clock, isoformat
from appliance.errors import ConfigurationError, Conflict, MailError, NotFound, ValidationError
from appliance.mail.relay import SmtpRelay
from appliance.storage.database import Database

log = logging.getLogger(__name__)

FIRST_BACKOFF = dt.timedelta(minutes=1)
MAX_BACKOFF = dt.timedelta(hours=1)
# Claimed rows are pushed this far into the future, so another sender skips them while this one talks to the
# relay; if the process dies mid-batch they become due again on their own.
CLAIM = dt.timedelta(hours=1)

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDR_SPEC = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})*", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


class _LiteralSubject(headerregistry.UnstructuredHeader):
    """A Subject taken exactly as queued.

    The standard header class decodes anything shaped like an RFC 2047 encoded word as it is set, so a name such as
    `=?utf-8?q?x=0D=0ABcc:_y@example.com?=` would become a line break and a Bcc header (and smtplib sends to every Bcc).
    Here such text stays text, and a subject holding it (or anything beyond ASCII) is sent encoded as a whole, so a
    mail reader shows the very characters that were queued."""

    @classmethod
    def parse(cls, value, kwds):
        kwds["parse_tree"] = cls.value_parser("" if "=?" in value else value)
        kwds["decoded"] = value

    def fold(self, *, policy):
        text = str(self)
        if text.isascii() and "=?" not in text:
            return super().fold(policy=policy)
        encoded = Header(text, "utf-8", header_name=self.name).encode(linesep=policy.linesep)
        return f"{self.name}: {encoded}{policy.linesep}"


_HEADERS = headerregistry.HeaderRegistry()
_HEADERS.map_to_type("subject", _LiteralSubject)
_POLICY = email.policy.default.clone(header_factory=_HEADERS)


@dataclass(frozen=True)
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    waiting: int = 0


@dataclass(frozen=True)
class OutboxStatus:
    pending: int
    failed: int
    oldest_pending_at: dt.datetime | None
    last_error: str | None


@dataclass(frozen=True)
class OutboxEntry:
    """One queued mail as listed to operators: everything but the body."""

    id: int
    recipient: str
    subject: str
    status: str
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    sent_at: dt.datetime | None
    last_error: str | None

    def public(self, *, now: dt.datetime) -> dict:
        """As the API and `chatspark mail outbox --json` show it."""
        return {"id": self.id, "status": self.status, "recipient": self.recipient, "subject": self.subject,
                "attempts": self.attempts, "created_at": isoformat(self.created_at),
                "age_seconds": int((now - self.created_at).total_seconds()),
                "next_attempt_at": isoformat(self.next_attempt_at) if self.status == "pending" else None,
                "sent_at": isoformat(self.sent_at) if self.sent_at else None, "last_error": self.last_error}


@dataclass(frozen=True)
class QueuedMail:
    """One mail with its body, for an operator to pass its link on when no relay delivers it."""

    entry: OutboxEntry
    body: str


def reveal(outbox: "Outbox", audit, mail_id: int, *, actor_type: str, actor_id: str,
           client_address: str | None = None) -> QueuedMail:
    """One mail not yet delivered, body and all, for an operator to pass its link on by hand; audited (`mail.show`),
    since its links act for the recipient. A delivered mail's body is not kept, so it cannot be shown."""
    mail = outbox.get(mail_id)
    entry = mail.entry
    if entry.status == "sent":
        raise Conflict(f"mail {entry.id} was delivered at {isoformat(entry.sent_at)}; its body is not kept, its links "
                       "were for the recipient alone")
    audit.record("mail.show", actor_type=actor_type, actor_id=actor_id, target_type="mail", target_id=str(entry.id),
                 client_address=client_address, details={"recipient": entry.recipient, "subject": entry.subject})
    return mail


_ENTRY_COLUMNS = "id, recipient, subject, status, attempts, created_at, next_attempt_at, sent_at, last_error"


@dataclass(frozen=True)
class _Claimed:
    id: int
    recipient: str
    subject: str
    body: str
    attempts: int


class Outbox:
    """Queues mail in the `outbox` table and delivers what is due through the relay, one message at a time."""

    def __init__(self, db: Database, *, clock: Clock, relay: SmtpRelay | None, sender: str,
                 max_attempts: int = 8) -> None:
        if max_attempts < 1:
            raise ConfigurationError("max_attempts must be at least 1")
        address = email.utils.parseaddr(sender)[1]
        if _CONTROL.search(sender) or not _ADDR_SPEC.fullmatch(address):
            raise ConfigurationError(f"mail_from must be an address like 'Name <name@example.com>', not {sender!r}")
        self.db = db
        self.clock = clock
        self.relay = relay
        self.sender = sender
        self.sender_domain = address.rpartition("@")[2]
        self.max_attempts = max_attempts

    def enqueue(self, *, to: str, subject: str, body: str, conn: Any = None) -> int:
        """Queue one plain-text mail and return its id; pass `conn` to queue it inside the caller's transaction."""
        check_recipient(to)
        if _CONTROL.search(subject):
            raise ValidationError("subject must be a single line without control characters")
        now = isoformat(self.clock.now())
        params = (to, subject, body, now, now)
        sql = "INSERT INTO outbox (recipient, subject, body, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?)"
        if conn is not None:
            return int(conn.execute(sql, params).lastrowid)
        with self.db.transaction() as own:
            return int(own.execute(sql, params).lastrowid)

    def send_due(self, *, limit: int = 50) -> SendReport:
        """Deliver up to `limit` due mails; failures are recorded and retried later, never raised."""
        if self.relay is None:
            return SendReport(waiting=self._count("pending"))
        sent = retried = failed = 0
        # No write transaction stays open while the relay is talked to: claim, then one short write per outcome.
        for mail in self._claim_due(limit):
            try:
                message = self._message(mail)
            except ValueError as exc:
                self._record_failure(mail, f"the message cannot be built: {exc}", final=True)
                failed += 1
                continue
            try:
                self.relay.send(message)
            except MailError as exc:
                final = mail.attempts + 1 >= self.max_attempts
                self._record_failure(mail, str(exc), final=final)
                if final:
                    failed += 1
                else:
                    retried += 1
                continue
            self._record_sent(mail)
            sent += 1
        return SendReport(sent=sent, retried=retried, failed=failed, waiting=self._count("pending") - retried)

    def status(self) -> OutboxStatus:
        """Counts of waiting and failed mail, the oldest waiting one, and the latest reason mail was not sent."""
        counts = self.db.query_one(
            "SELECT coalesce(sum(status = 'pending'), 0) AS pending, coalesce(sum(status = 'failed'), 0) AS failed, "
            "min(CASE WHEN status = 'pending' THEN created_at END) AS oldest FROM outbox"
        )
        error = self.db.query_one(
            "SELECT last_error FROM outbox WHERE status != 'sent' AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1"
        )
        return OutboxStatus(pending=counts["pending"], failed=counts["failed"],
                            oldest_pending_at=_instant(counts["oldest"]),
                            last_error=error["last_error"] if error else None)

    def recent(self, limit: int = 50, *, unsent: bool = False) -> list[OutboxEntry]:
        """The latest queued mails, newest first, without their bodies; with `unsent`, only those not delivered
        (waiting, or failed for good)."""
        where = "WHERE status != 'sent' " if unsent else ""
        rows = self.db.query(f"SELECT {_ENTRY_COLUMNS} FROM outbox {where}ORDER BY id DESC LIMIT ?", (limit,))
        return [_entry(r) for r in rows]

    def get(self, mail_id: int) -> QueuedMail:
        """One mail with its body (empty once delivered: a single-use link must not outlive its purpose here)."""
        row = self.db.query_one(f"SELECT {_ENTRY_COLUMNS}, body FROM outbox WHERE id = ?", (mail_id,))
        if row is None:
            raise NotFound(f"no mail {mail_id} in the outbox")
        return QueuedMail(_entry(row), row["body"])

    def _claim_due(self, limit: int) -> list[_Claimed]:
        now = self.clock.now()
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT id, recipient, subject, body, attempts FROM outbox "
                "WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
                (isoformat(now), limit),
            ).fetchall()
            conn.executemany("UPDATE outbox SET next_attempt_at = ? WHERE id = ?",
                             [(isoformat(now + CLAIM), row["id"]) for row in rows])
        return [_Claimed(row["id"], row["recipient"], row["subject"], row["body"], row["attempts"]) for row in rows]

    def _message(self, mail: _Claimed) -> EmailMessage:
        message = EmailMessage(policy=_POLICY)
        message["From"] = self.sender
        message["To"] = mail.recipient
        message["Subject"] = mail.subject
        message["Date"] = email.utils.format_datetime(self.clock.now().astimezone(dt.timezone.utc))
        message["Message-ID"] = email.utils.make_msgid(domain=self.sender_domain)
        # Quoted-printable keeps any text 7-bit clean, so relays without 8BITMIME pass it unchanged.
        message.set_content(mail.body, charset="utf-8", cte="quoted-printable")
        return message

    def _record_sent(self, mail: _Claimed) -> None:
        # The body goes once delivered: it may hold a single-use link, which must not outlive its purpose here.
        with self.db.transaction() as conn:
            conn.execute("UPDATE outbox SET status = 'sent', sent_at = ?, attempts = ?, body = '' WHERE id = ?",
                         (isoformat(self.clock.now()), mail.attempts + 1, mail.id))

    def _record_failure(self, mail: _Claimed, reason: str, *, final: bool) -> None:
        attempts = mail.attempts + 1
        reason = " ".join(reason.split())
        now = self.clock.now()
        next_attempt = now if final else now + backoff(attempts)
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
                ("failed" if final else "pending", attempts, reason, isoformat(next_attempt), mail.id),
            )
        if final:
            log.warning("mail %d failed after %d attempts, giving up: %s", mail.id, attempts, reason)
        else:
            log.warning("mail %d not delivered (attempt %d of %d), retrying at %s: %s",
                        mail.id, attempts, self.max_attempts, isoformat(next_attempt), reason)

    def _count(self, status: str) -> int:
        return int(self.db.query_one("SELECT count(*) FROM outbox WHERE status = ?", (status,))[0])


def backoff(attempts: int) -> dt.timedelta:
    """Wait before the next try after `attempts` failed ones: 1, 2, 4, ... minutes, at most an hour."""
    return min(FIRST_BACKOFF * 2 ** (attempts - 1), MAX_BACKOFF)


def send_outbox(outbox: Outbox) -> SendReport:
    """The scheduler's job: deliver what is due and log what happened."""
    report = outbox.send_due()
    if report.sent or report.retried or report.failed:
        log.info("outbox: %d sent, %d to retry, %d failed, %d waiting",
                 report.sent, report.retried, report.failed, report.waiting)
    return report


def check_recipient(to: str) -> None:
    """Raise ValidationError unless `to` is one plain address this outbox can send to (ASCII, no display name)."""
    if _CONTROL.search(to):
        raise ValidationError("to must be one address without line breaks or control characters")
    local, _, domain = to.rpartition("@")
    if len(to) > 254 or len(local) > 64 or not _ADDR_SPEC.fullmatch(to):
        raise ValidationError(f"to must be one plain address like name@example.com, not {to!r}")


def _entry(row) -> OutboxEntry:
    return OutboxEntry(id=row["id"], recipient=row["recipient"], subject=row["subject"], status=row["status"],
                       attempts=row["attempts"], created_at=_instant(row["created_at"]),
                       next_attempt_at=_instant(row["next_attempt_at"]), sent_at=_instant(row["sent_at"]),
                       last_error=row["last_error"])


def _instant(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None
