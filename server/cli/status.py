"""`chatspark status`: what is installed where, how big, until when the certificate holds, failing jobs, and whether
it answers."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.bootstrap import open_appliance
from appliance.clock import SystemClock
from appliance.errors import ApplianceError
from appliance.keys import certificates, masterkey
from appliance.keys.pinning import ClientError, PinnedClient
from appliance.monitoring import facts, serving
from appliance.services import build_services, public_url
from appliance.settings import Settings
from appliance.storage.layout import Layout
from server.cli.options import EXIT_NOT_ANSWERING, read_passphrase, settings_from


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    status = commands.add_parser("status", parents=[common], help="show what is installed and whether it answers",
                                 description="Print version, directories, database sizes, free disk, certificate "
                                             "expiry, the mail outbox, the jobs, the newest verified backup and "
                                             "whether the service answers (exit 3 if it does not).")
    status.add_argument("--host", metavar="HOST", help="address the service listens on")
    status.add_argument("--port", type=int, metavar="PORT", help="HTTPS port")
    status.add_argument("--passphrase-file", type=Path, metavar="FILE",
                        help="passphrase for a wrapped master key, to show the mail outbox too")
    status.add_argument("--json", action="store_true",
                        help="print the facts as JSON (the same as GET /api/v1/overview, plus whether it answers)")
    status.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    wrapped = masterkey.is_wrapped(Path(settings.key_dir).expanduser())
    passphrase = read_passphrase(settings.passphrase_file) if wrapped and settings.passphrase_file else None
    # Where the running service says it listens, unless the flags name a place to look.
    record = None if args.host or args.port else serving.read(Layout.of(settings.data_dir, settings.key_dir))
    report = collect(settings, now=SystemClock().now(), passphrase=passphrase, record=record)
    print(json.dumps(report.facts, indent=2) if args.json else "\n".join(report.lines))
    return 0 if report.service_answers else EXIT_NOT_ANSWERING


@dataclass(frozen=True)
class StatusReport:
    lines: list[str]
    service_answers: bool
    facts: dict[str, Any]


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _keyed_facts(settings: Settings, layout: Layout, *, passphrase: str | None) -> dict[str, Any]:
    """The outbox, jobs, backups and audit facts, which need the keys; or why they are unknown here."""
    if masterkey.is_wrapped(layout.key_dir) and passphrase is None:
        return {"unknown": "give --passphrase-file to open the keys"}
    try:
        appliance = open_appliance(layout, clock=SystemClock(), passphrase=passphrase)
    except ApplianceError as exc:
        return {"unknown": str(exc)}
    try:
        return facts.keyed(appliance, settings, jobs=build_services(appliance, settings).jobs)
    finally:
        appliance.close()


def _lines(found: dict[str, Any]) -> list[str]:
    lines = [f"version:         {found['version']}",
             f"settings:        {', '.join(found['settings_files']) or 'the shipped defaults only'}",
             f"data directory:  {found['data_dir']}{'' if found['data_dir_exists'] else ' (missing)'}",
             f"key directory:   {found['key_dir']}{'' if found['key_dir_exists'] else ' (missing)'}"]
    if "databases" in found:
        databases = found["databases"]
        lines.append(f"control.db:      {_human(databases['control_bytes'])}")
        lines.append(f"workspaces:      {databases['workspaces']} database(s), {_human(databases['workspaces_bytes'])}")
        if databases["keystore_bytes"] is not None:
            lines.append(f"keys.db:         {_human(databases['keystore_bytes'])}")
    if "disk" in found:
        disk = found["disk"]
        low = "; below the free space readiness needs" if disk["free_bytes"] < disk["min_free_bytes"] else ""
        lines.append(f"data disk:       {_human(disk['free_bytes'])} free of {_human(disk['total_bytes'])}{low}")
    if "certificate" in found:
        cert = found["certificate"]
        lines.append(f"certificate:     {', '.join(cert['names'])}; expires {cert['expires_at'][:10]} "
                     f"({cert['days_left']} days{'; renewed at next start' if cert['renewed_at_next_start'] else ''})")
    if "ca_fingerprint" in found:
        lines.append(f"CA fingerprint:  SHA-256 {found['ca_fingerprint']}")
    if "unknown" in found:
        lines += [f"mail:            unknown ({found['unknown']})", f"jobs:            unknown ({found['unknown']})"]
    elif "mail" in found:
        mail = found["mail"]
        text = (f"{mail['queued']} queued, {mail['failed']} failed "
                f"({mail['relay'] or 'no relay configured: mail waits in the outbox'})")
        if mail["oldest_queued_at"]:
            text += f"; oldest queued since {mail['oldest_queued_at'][:16].replace('T', ' ')} UTC"
        if mail["last_error"]:
            text += f"; last error: {mail['last_error']}"
        lines.append(f"mail:            {text}")
        failing = [job for job in found["jobs"] if job["failing"]]
        if not failing:
            lines.append(f"jobs:            all healthy ({len(found['jobs'])} jobs)")
        for job in failing:
            run = job["last_run"]
            lines.append(f"job failing:     {job['id']} since its run at {run['started_at'][:16].replace('T', ' ')} "
                         f"UTC: {run['error']} (see `chatspark jobs runs --job {job['id']}`)")
        newest = found["backups"]["newest_verified"]
        lines.append("backups:         " + (f"newest verified {newest['created_at'][:16].replace('T', ' ')} UTC "
                                          f"({newest['id']})" if newest else
                                          f"none verified yet ({found['backups']['count']} made)"))
        if not found.get("alerts"):
            lines.append("alerts:          none open")
        for alert in found.get("alerts", []):
            lines.append(f"ALERT:           {alert['summary']} (since {alert['opened_at'][:16].replace('T', ' ')} UTC"
                         f"{'' if alert['mailed'] else '; not mailed: over the hourly limit or no operator'})")
    return lines


def collect(settings: Settings, *, now: dt.datetime, passphrase: str | None = None,
            record: serving.ServingRecord | None = None) -> StatusReport:
    """Public files, the keyed facts when the keys open here, and the service's health endpoint: where the running
    service's `record` says it listens, else where the settings say."""
    layout = Layout.of(settings.data_dir, settings.key_dir)
    found = {**facts.files(layout, settings, now=now), "settings_files": [str(path) for path in settings.files]}
    if layout.control_db.exists():
        found.update(_keyed_facts(settings, layout, passphrase=passphrase))
    lines = _lines(found)
    answers = False
    host, port = (record.host, record.port) if record else (settings.host, settings.port)
    url = serving.local_url(host, port)  # asked from this machine, where a wildcard bind answers on loopback
    shown = record.url if record else public_url(settings) + "/"  # the URL serve printed, as users reach it
    service: dict[str, Any] = {"url": shown, "checked_at": url, "answers": False,
                               "pid": record.pid if record else None,
                               "address_from": "serving_record" if record else "settings"}
    ca_pem = layout.ca_cert.read_bytes() if layout.ca_cert.exists() else None
    if ca_pem is None:
        lines.append(f"service:         unknown (no CA certificate at {layout.ca_cert})")
        service["problem"] = "no CA certificate"
    else:
        try:
            client = PinnedClient(url, ca_fingerprint=certificates.fingerprint(certificates.load_certificate(ca_pem)),
                                  ca_pem=ca_pem, timeout=5)
            health = client.get("/readyz")
            answers = health.status == 200
            state = health.json().get("status", "?") if health.body else "?"
            by = f"; serve pid {record.pid} since {record.started_at[:16].replace('T', ' ')} UTC" if record else ""
            lines.append(f"service:         {shown} answers: {state} (HTTP {health.status}{by})")
            service.update(answers=answers, status=state)
        except ClientError as exc:
            alone = "" if record else "; no `chatspark serve` of this data directory is running"
            lines.append(f"service:         not answering at {shown} (asked at {url}: {exc}{alone})")
            service["problem"] = str(exc)
        except ApplianceError as exc:
            lines.append(f"service:         {shown} is not this appliance ({exc})")
            service["problem"] = str(exc)
    return StatusReport(lines, answers, {**found, "service": service})
