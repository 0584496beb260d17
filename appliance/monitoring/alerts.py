"""Security alerts: each check (appliance/monitoring/alert_checks.py) says what holds now; an alert opens when a
finding first appears, is mailed once to every operator through the outbox (at most `alert_mails_per_hour` mails an
hour: more are opened, audited and shown, not mailed), stays open while the finding holds, and closes by itself when
it is gone. Opening and closing are audited (`alert.open`, `alert.resolve`); `chatspark status`, GET
/api/v1/overview and the panel's overview list the open ones.

The `security_alerts` job runs the checks every minute."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from dataclasses import dataclass

from appliance.audit.log import AuditLog
from appliance.clock import Clock, isoformat
from appliance.jobs.runs import JobRuns, operator_emails
from appliance.mail.outbox import Outbox
from appliance.monitoring import alert_checks
from appliance.monitoring.alert_checks import Finding
from appliance.settings import Settings
from appliance.storage.database import Database
from appliance.storage.layout import Layout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    id: int
    kind: str
    subject: str
    summary: str
    details: dict
    opened_at: str
    last_seen_at: str
    mailed_at: str | None
    resolved_at: str | None

    def public(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _alert(row) -> Alert:
    return Alert(row["id"], row["kind"], row["subject"], row["summary"], json.loads(row["details"]), row["opened_at"],
                 row["last_seen_at"], row["mailed_at"], row["resolved_at"])


def open_alerts(db: Database) -> list[Alert]:
    """The alerts open now, oldest first."""
    return [_alert(r) for r in db.query("SELECT * FROM alerts WHERE resolved_at IS NULL ORDER BY opened_at, id")]


class SecurityAlerts:
    def __init__(self, db: Database, *, clock: Clock, outbox: Outbox, audit: AuditLog, layout: Layout,
                 settings: Settings, runs: JobRuns | None = None, disk_usage=shutil.disk_usage) -> None:
        self._db = db
        self._clock = clock
        self._outbox = outbox
        self._audit = audit
        self._layout = layout
        self._settings = settings
        self._runs = runs or JobRuns(db, clock=clock)
        self._disk_usage = disk_usage

    def findings(self) -> list[Finding]:
        now, settings = self._clock.now(), self._settings
        found = [*alert_checks.sign_in_failures(self._db, settings, now),
                 *alert_checks.quiet_api_keys(self._audit, settings, now),
                 *alert_checks.audit_chain(self._runs),
                 *alert_checks.backups(self._db, self._runs, settings, now),
                 *alert_checks.certificate(self._layout, settings, now),
                 *alert_checks.disk(self._layout, settings, self._disk_usage)]
        return found

    def check(self) -> dict:
        """Run every check, then open, mail and close alerts to match (the job's summary says what changed)."""
        findings = {(f.kind, f.subject): f for f in self.findings()}
        now = isoformat(self._clock.now())
        opened, resolved, mailed = [], [], 0
        with self._db.transaction() as conn:
            open_now = {(r["kind"], r["subject"]): r["id"] for r in conn.execute(
                "SELECT id, kind, subject FROM alerts WHERE resolved_at IS NULL")}
            for key, alert_id in open_now.items():
                if key in findings:
                    conn.execute("UPDATE alerts SET last_seen_at = ?, summary = ? WHERE id = ?",
                                 (now, findings[key].summary, alert_id))
                else:
                    conn.execute("UPDATE alerts SET resolved_at = ? WHERE id = ?", (now, alert_id))
                    self._audit.record("alert.resolve", target_type="alert", target_id=str(alert_id),
                                       details={"kind": key[0], "subject": key[1]}, conn=conn)
                    resolved.append(key[0])
            for key, finding in findings.items():
                if key in open_now:
                    continue
                alert_id = conn.execute(
                    "INSERT INTO alerts (kind, subject, summary, details, opened_at, last_seen_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (finding.kind, finding.subject, finding.summary, json.dumps(finding.details), now, now)).lastrowid
                self._audit.record("alert.open", target_type="alert", target_id=str(alert_id), outcome="failure",
                                   details={"kind": finding.kind, "subject": finding.subject,
                                            "summary": finding.summary}, conn=conn)
                log.warning("security alert: %s", finding.summary, extra={"alert": finding.kind})
                opened.append(finding.kind)
                if self._mail(conn, alert_id, finding, now):
                    mailed += 1
        return {"open": len(open_now) - len(resolved) + len(opened), "opened": opened, "resolved": resolved,
                "mailed": mailed}

    def open_alerts(self) -> list[Alert]:
        return open_alerts(self._db)

    def recent(self, limit: int = 100) -> list[Alert]:
        return [_alert(r) for r in self._db.query("SELECT * FROM alerts ORDER BY id DESC LIMIT ?", (limit,))]

    def _mail(self, conn, alert_id: int, finding: Finding, now: str) -> bool:
        hour_ago = isoformat(self._clock.now() - dt.timedelta(hours=1))
        sent = conn.execute("SELECT count(*) FROM alerts WHERE mailed_at > ?", (hour_ago,)).fetchone()[0]
        recipients = operator_emails(conn)
        if sent >= self._settings.alert_mails_per_hour or not recipients:
            log.warning("security alert not mailed (%s)", "hourly limit reached" if recipients else "no operator",
                        extra={"alert": finding.kind})
            return False
        body = (f"{finding.summary}.\n\n{finding.advice}\n\nOpened {now} (alert {alert_id}). It closes by itself when "
                "its cause is gone; until then `chatspark status` and the panel's overview list it, and no further "
                "mail is sent about it.\n")
        for to in recipients:
            self._outbox.enqueue(to=to, subject=f"ChatSpark security alert: {finding.summary}"[:200], body=body,
                                 conn=conn)
        conn.execute("UPDATE alerts SET mailed_at = ? WHERE id = ?", (now, alert_id))
        return True
