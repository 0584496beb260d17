"""`chatspark status`: what is installed where, how big, until when the certificate holds, failing jobs, and whether
it answers."""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from appliance import __version__
from appliance.bootstrap import open_appliance
from appliance.clock import SystemClock
from appliance.errors import ApplianceError
from appliance.jobs.declared import JobState, job_states
from appliance.jobs.runs import JobRuns
from appliance.keys import certificates, masterkey
from appliance.keys.pinning import ClientError, PinnedClient
from appliance.mail.outbox import Outbox
from appliance.services import build_services
from appliance.settings import Settings
from appliance.storage.layout import Layout
from server.cli.options import EXIT_NOT_ANSWERING, read_passphrase, settings_from


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    status = commands.add_parser("status", parents=[common], help="show what is installed and whether it answers",
                                 description="Print version, directories, database sizes, certificate expiry and "
                                             "whether the service answers (exit 3 if it does not).")
    status.add_argument("--host", metavar="HOST", help="address the service listens on")
    status.add_argument("--port", type=int, metavar="PORT", help="HTTPS port")
    status.add_argument("--passphrase-file", type=Path, metavar="FILE",
                        help="passphrase for a wrapped master key, to show the mail outbox too")
    status.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    wrapped = masterkey.is_wrapped(Path(settings.key_dir).expanduser())
    passphrase = read_passphrase(settings.passphrase_file) if wrapped and settings.passphrase_file else None
    report = collect(settings, now=SystemClock().now(), passphrase=passphrase)
    print("\n".join(report.lines))
    return 0 if report.service_answers else EXIT_NOT_ANSWERING


@dataclass(frozen=True)
class StatusReport:
    lines: list[str]
    service_answers: bool


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _keyed_lines(settings: Settings, layout: Layout, *, passphrase: str | None) -> list[str]:
    """The mail outbox and the jobs, which need the keys: shown when they open here, said why not otherwise."""
    if masterkey.is_wrapped(layout.key_dir) and passphrase is None:
        unknown = "unknown (give --passphrase-file to open the keys)"
        return [f"mail:            {unknown}", f"jobs:            {unknown}"]
    try:
        appliance = open_appliance(layout, clock=SystemClock(), passphrase=passphrase)
    except ApplianceError as exc:
        return [f"mail:            unknown ({exc})", f"jobs:            unknown ({exc})"]
    try:
        state = Outbox(appliance.control_db, clock=appliance.clock, relay=None, sender=settings.mail_from).status()
        declared = build_services(appliance, settings).jobs
        jobs = job_states(JobRuns(appliance.control_db, clock=appliance.clock), declared)
    finally:
        appliance.close()
    relay = settings.smtp_host or "no relay configured: mail waits in the outbox"
    text = f"{state.pending} queued, {state.failed} failed ({relay})"
    if state.oldest_pending_at:
        text += f"; oldest queued since {state.oldest_pending_at:%Y-%m-%d %H:%M} UTC"
    if state.last_error:
        text += f"; last error: {state.last_error}"
    return [f"mail:            {text}", *_job_lines(jobs)]


def _job_lines(states: list[JobState]) -> list[str]:
    """One line per job whose last run failed, or one saying all is well."""
    failing = [state for state in states if state.failing]
    if not failing:
        return [f"jobs:            all healthy ({len(states)} jobs)"]
    return [f"job failing:     {state.spec.id} since its run at {state.last_run.started_at:%Y-%m-%d %H:%M} UTC: "
            f"{state.last_run.error} (see `chatspark jobs runs --job {state.spec.id}`)" for state in failing]


def collect(settings: Settings, *, now: dt.datetime, passphrase: str | None = None) -> StatusReport:
    """Public files, the outbox when the keys open here, and the service's health endpoint."""
    layout = Layout.of(settings.data_dir, settings.key_dir)
    lines = [f"version:         {__version__}",
             f"data directory:  {layout.data_dir}{'' if layout.data_dir.is_dir() else ' (missing)'}",
             f"key directory:   {layout.key_dir}{'' if layout.key_dir.is_dir() else ' (missing)'}"]
    if layout.control_db.exists():
        workspaces = sorted(layout.workspaces_dir.glob("*.db")) if layout.workspaces_dir.is_dir() else []
        lines.append(f"control.db:      {_human(_size(layout.control_db))}")
        lines.append(f"workspaces:      {len(workspaces)} database(s), {_human(sum(_size(p) for p in workspaces))}")
    if layout.keystore_db.exists():
        lines.append(f"keys.db:         {_human(_size(layout.keystore_db))}")
    cert_file = settings.tls_cert_file or layout.server_cert
    ca_pem = layout.ca_cert.read_bytes() if layout.ca_cert.exists() else None
    if Path(cert_file).exists():
        cert = certificates.load_certificate(Path(cert_file).read_bytes())
        expires = cert.not_valid_after_utc
        days = (expires - now).days
        lines.append(f"certificate:     {', '.join(certificates.names_of(cert))}; expires {expires:%Y-%m-%d} "
                     f"({days} days{'; renewed at next start' if days < 30 and not settings.tls_cert_file else ''})")
    if ca_pem:
        ca = certificates.load_certificate(ca_pem)
        lines.append(f"CA fingerprint:  SHA-256 {certificates.fingerprint(ca)}")
    if layout.control_db.exists():
        lines += _keyed_lines(settings, layout, passphrase=passphrase)
    answers = False
    url_host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else ("::1" if settings.host == "::" else settings.host)
    url = f"https://{'[' + url_host + ']' if ':' in url_host else url_host}:{settings.port}"
    if ca_pem is None:
        lines.append(f"service:         unknown (no CA certificate at {layout.ca_cert})")
    else:
        try:
            client = PinnedClient(url, ca_fingerprint=certificates.fingerprint(certificates.load_certificate(ca_pem)),
                                  ca_pem=ca_pem, timeout=5)
            health = client.get("/readyz")
            answers = health.status == 200
            state = health.json().get("status", "?") if health.body else "?"
            lines.append(f"service:         {url} answers: {state} (HTTP {health.status})")
        except ClientError as exc:
            lines.append(f"service:         not answering at {url} ({exc})")
        except ApplianceError as exc:
            lines.append(f"service:         {url} is not this appliance ({exc})")
    return StatusReport(lines, answers)
