"""What an operator checks, as plain data: version, directories and database sizes, free disk, the certificate and
its expiry, the CA fingerprint; with the keys open, the mail outbox, each scheduled job's last run, the newest
verified backup and the audit chain's last verification. GET /api/v1/overview and `chatspark status` both use it."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from appliance import __version__
from appliance.backups import index
from appliance.bootstrap import Appliance
from appliance.clock import isoformat
from appliance.jobs.declared import JobSpec, job_states
from appliance.jobs.runs import JobRuns
from appliance.keys import certificates
from appliance.mail.outbox import Outbox
from appliance.monitoring.alerts import open_alerts
from appliance.settings import Settings
from appliance.storage.layout import Layout

RENEWED_BELOW_DAYS = 30  # the appliance's own certificate is issued again at start when it has less left


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def files(layout: Layout, settings: Settings, *, now: dt.datetime) -> dict[str, Any]:
    """What the data and key directories show without any key: sizes, free disk, the certificate and the CA."""
    facts: dict[str, Any] = {
        "version": __version__,
        "data_dir": str(layout.data_dir), "data_dir_exists": layout.data_dir.is_dir(),
        "key_dir": str(layout.key_dir), "key_dir_exists": layout.key_dir.is_dir(),
    }
    if layout.control_db.exists():
        workspaces = sorted(layout.workspaces_dir.glob("*.db")) if layout.workspaces_dir.is_dir() else []
        facts["databases"] = {"control_bytes": _size(layout.control_db), "workspaces": len(workspaces),
                              "workspaces_bytes": sum(_size(p) for p in workspaces),
                              "keystore_bytes": _size(layout.keystore_db) if layout.keystore_db.exists() else None}
    if layout.data_dir.is_dir():
        usage = shutil.disk_usage(layout.data_dir)
        facts["disk"] = {"free_bytes": usage.free, "total_bytes": usage.total,
                         "min_free_bytes": settings.min_free_disk_bytes}
    cert_file = Path(settings.tls_cert_file) if settings.tls_cert_file else layout.server_cert
    if cert_file.exists():
        cert = certificates.load_certificate(cert_file.read_bytes())
        expires = cert.not_valid_after_utc
        days = (expires - now).days
        facts["certificate"] = {"names": certificates.names_of(cert), "expires_at": isoformat(expires),
                                "days_left": days, "own": not settings.tls_cert_file,
                                "renewed_at_next_start": days < RENEWED_BELOW_DAYS and not settings.tls_cert_file}
    if layout.ca_cert.exists():
        facts["ca_fingerprint"] = certificates.fingerprint(certificates.load_certificate(layout.ca_cert.read_bytes()))
    return facts


def gathered(appliance: Appliance, settings: Settings, *, jobs: list[JobSpec], now: dt.datetime) -> dict[str, Any]:
    """Both: what the files show and what the keys open, as GET /api/v1/overview and /metrics report them."""
    return {**files(appliance.layout, settings, now=now), **keyed(appliance, settings, jobs=jobs)}


def keyed(appliance: Appliance, settings: Settings, *, jobs: list[JobSpec]) -> dict[str, Any]:
    """What needs the keys: the outbox, the jobs, the newest verified backup, the audit chain's last check."""
    db = appliance.control_db
    outbox = Outbox(db, clock=appliance.clock, relay=None, sender=settings.mail_from).status()
    states = job_states(JobRuns(db, clock=appliance.clock), jobs)
    backups = index.all_backups(db)
    verified = next((b for b in backups if b.status == "complete" and b.verification_status == "passed"), None)
    audit = next((s for s in states if s.spec.id == "verify_audit_log"), None)
    return {
        "mail": {"relay_configured": bool(settings.smtp_host), "relay": settings.smtp_host or None,
                 "queued": outbox.pending, "failed": outbox.failed,
                 "oldest_queued_at": isoformat(outbox.oldest_pending_at) if outbox.oldest_pending_at else None,
                 "last_error": outbox.last_error},
        "jobs": [{"id": s.spec.id, "description": s.spec.description,
                  "every_seconds": int(s.spec.every.total_seconds()), "failing": s.failing,
                  "running": s.running is not None,
                  "last_run": s.last_run.public() if s.last_run else None} for s in states],
        "backups": {"count": len(backups),
                    "newest_verified": None if verified is None else {
                        "id": verified.id, "created_at": verified.created_at, "size": verified.size,
                        "verified_at": verified.verified_at}},
        "alerts": [{"id": a.id, "kind": a.kind, "summary": a.summary, "opened_at": a.opened_at,
                    "mailed": a.mailed_at is not None} for a in open_alerts(db)],
        "audit": {"last_verification": None if audit is None or audit.last_run is None else {
            "at": isoformat(audit.last_run.started_at), "ok": audit.last_run.outcome == "success",
            "rows_checked": (audit.last_run.summary or {}).get("rows_checked"), "problem": audit.last_run.error}},
    }
