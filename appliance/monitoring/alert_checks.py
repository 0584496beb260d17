"""What raises a security alert, each check a reading of what the appliance already records: failed sign-ins (the
login throttle's table), API keys used from a new address after a long quiet (their audit rows), the audit chain's
and the backup job's last runs, the newest verified backup, the served certificate and the data disk.

A check returns the findings that hold now; the alerts (appliance/monitoring/alerts.py) open, mail and close."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from appliance.audit.log import AuditLog
from appliance.backups import index
from appliance.clock import isoformat
from appliance.jobs.runs import JobRuns
from appliance.keys import certificates
from appliance.settings import Settings
from appliance.storage.database import Database
from appliance.storage.layout import Layout

EVENT_HOURS = 24  # an alert about something that happened (not a state) stays open this long


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str
    summary: str
    advice: str
    details: dict = field(default_factory=dict)


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def sign_in_failures(db: Database, settings: Settings, now: dt.datetime) -> list[Finding]:
    since = isoformat(now - dt.timedelta(minutes=settings.login_window_minutes))
    window = f"{settings.login_window_minutes} minutes"
    found = []
    for row in db.query("SELECT account, count(*) AS n FROM login_failures WHERE at > ? GROUP BY account "
                        "HAVING n >= ?", (since, settings.alert_failed_sign_ins_per_account)):
        found.append(Finding(
            "sign_in_failures_account", row["account"],
            f"{row['n']} failed sign-ins on the account {row['account']} in {window}",
            "Someone may be guessing its password. Its sign-ins from unfamiliar places are throttled meanwhile; "
            "check the audit log (action auth.login, outcome failure) for the addresses, and ask the person whether "
            "it was them.", {"failures": row["n"]}))
    for row in db.query("SELECT client_address, count(*) AS n FROM login_failures WHERE at > ? "
                        "AND client_address NOT LIKE 'device:%' GROUP BY client_address HAVING n >= ?",
                        (since, settings.alert_failed_sign_ins_per_address)):
        found.append(Finding(
            "sign_in_failures_address", row["client_address"],
            f"{row['n']} failed sign-ins from {row['client_address']} in {window}",
            "One address is trying many passwords, perhaps over many accounts. Its sign-ins are throttled "
            "meanwhile; block it at the firewall if it is not one of yours.", {"failures": row["n"]}))
    return found


def quiet_api_keys(audit: AuditLog, settings: Settings, now: dt.datetime) -> list[Finding]:
    quiet = dt.timedelta(days=settings.alert_api_key_quiet_days)
    found = []
    for event in audit.events(action="api_key.new_address", since=now - dt.timedelta(hours=EVENT_HOURS),
                              limit=1000):
        since = (event.details or {}).get("quiet_since")
        if not since or _moment(event.at) - _moment(since) < quiet:
            continue
        days = (_moment(event.at) - _moment(since)).days
        found.append(Finding(
            "api_key_new_address", f"{event.actor_id}@{event.client_address}",
            f"API key {event.actor_id}, unused for {days} days, was used from a new address {event.client_address}",
            "If no integration of yours moved there, the key may have leaked: revoke it in the workspace's API keys "
            "and make a new one.",
            {"api_key": event.actor_id, "workspace_id": event.workspace_id, "address": event.client_address,
             "quiet_days": days, "at": event.at}))
    return found


def audit_chain(runs: JobRuns) -> list[Finding]:
    last = runs.latest("verify_audit_log", outcomes=("success", "failure"))
    if last is None or last.outcome != "failure":
        return []
    return [Finding("audit_chain_broken", "", "The audit log failed its integrity check",
                    f"{last.error} Keep the data directory as it is, run `chatspark audit verify`, and compare the "
                    "log with the newest backup.", {"run": last.id})]


def backups(db: Database, runs: JobRuns, settings: Settings, now: dt.datetime) -> list[Finding]:
    found = []
    last = runs.latest("backup", outcomes=("success", "failure"))
    if last is not None and last.outcome == "failure":
        found.append(Finding("backup_failing", "", "The scheduled backup failed",
                             f"{last.error} See `chatspark backup list` and the Backups screen.", {"run": last.id}))
    verified = next((b for b in index.all_backups(db) if b.status == "complete"
                     and b.verification_status == "passed"), None)
    row = db.query_one("SELECT value FROM meta WHERE name = 'created_at'")
    since = verified.created_at if verified else (row["value"] if row else None)
    limit = dt.timedelta(hours=2 * settings.backup_interval_hours)
    if since and now - _moment(since) > limit:
        hours = int((now - _moment(since)).total_seconds() // 3600)
        found.append(Finding(
            "backup_stale", "",
            f"No verified backup for {hours} hours" if verified else f"No verified backup in {hours} hours",
            f"Backups run every {settings.backup_interval_hours} hours; the newest verified one should never be older "
            "than two intervals. Run `chatspark backup create` and see why the scheduled ones fail or do not run.",
            {"newest_verified": verified.created_at if verified else None}))
    return found


def certificate(layout: Layout, settings: Settings, now: dt.datetime) -> list[Finding]:
    path = Path(settings.tls_cert_file) if settings.tls_cert_file else layout.server_cert
    if not path.exists():
        return []
    expires = certificates.load_certificate(path.read_bytes()).not_valid_after_utc
    days = (expires - now).days
    if days >= settings.alert_certificate_days:
        return []
    advice = ("Give the appliance a renewed certificate (tls_cert_file and tls_key_file) and restart it."
              if settings.tls_cert_file else "Restart the appliance: it issues itself a new certificate at start.")
    return [Finding("certificate_expiring", "",
                    f"The TLS certificate expires in {max(days, 0)} days ({isoformat(expires)[:10]})", advice,
                    {"expires_at": isoformat(expires)})]


def disk(layout: Layout, settings: Settings, disk_usage=shutil.disk_usage) -> list[Finding]:
    usage = disk_usage(layout.data_dir)
    percent = 100 * usage.free / usage.total if usage.total else 100
    if percent >= settings.alert_disk_free_percent:
        return []
    return [Finding("disk_low", "", f"The data disk has {percent:.1f}% free ({usage.free // 1048576} MiB)",
                    "Free space, or move backups to another disk (backup_dir): when the disk fills, the appliance "
                    "stops taking writes until there is room again.",
                    {"free_bytes": usage.free, "total_bytes": usage.total})]
