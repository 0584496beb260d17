"""`chatspark doctor`: check what operators get wrong installing and running the appliance, and say how to fix it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from appliance.clock import SystemClock
from appliance.errors import ServiceError
from appliance.monitoring import checks, serving
from appliance.monitoring.checks import FAIL, WARN, Check
from appliance.storage.layout import Layout
from server.cli.options import EXIT_FAILURE, settings_from
from server.serving.caddy import find_binary

_LABELS = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    doctor = commands.add_parser(
        "doctor", parents=[common], help="check the installation and say how to fix what is wrong",
        description="Check the data, key and backup directories (on separate disks, file modes and owners), the "
                    "certificate's expiry, free disk, the mail relay (or its absence), the clock, the HTTPS port "
                    "(free, or held by this appliance) and Caddy, saying how to fix each finding. Changes nothing and "
                    "needs no passphrase. Exit 0 when no check failed (warnings allowed, unless --strict), 1 "
                    "otherwise.")
    doctor.add_argument("--host", metavar="HOST", help="address the service listens on (default: from settings)")
    doctor.add_argument("--port", type=int, metavar="PORT", help="HTTPS port (default: from settings)")
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    doctor.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    doctor.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    layout = Layout.of(settings.data_dir, settings.key_dir)
    now = SystemClock().now()
    try:
        binary, problem = find_binary(settings), None
    except ServiceError as exc:
        binary, problem = None, str(exc)
    found: list[Check] = [
        checks.directories(layout),
        checks.keys_apart(layout),
        checks.backups_apart(settings, layout),
        checks.permissions(layout),
        checks.certificate(settings, layout, now=now),
        *checks.disk(settings, layout),
        checks.mail_relay(settings),
        checks.clock(settings, layout, now=now),
        *checks.port(settings, layout, serving.read(layout)),
        checks.caddy(binary, problem=problem),
    ]
    failures = sum(c.status == FAIL for c in found)
    warnings = sum(c.status == WARN for c in found)
    if args.json:
        print(json.dumps({"data_dir": str(layout.data_dir), "key_dir": str(layout.key_dir),
                          "settings_files": [str(path) for path in settings.files], "failures": failures,
                          "warnings": warnings, "checks": [c.public() for c in found]}, indent=2, ensure_ascii=False))
    else:
        _print(found, settings.files, failures=failures, warnings=warnings)
    return EXIT_FAILURE if failures or (args.strict and warnings) else 0


def _print(found: list[Check], files: tuple[Path, ...], *, failures: int, warnings: int) -> None:
    print(f"settings: {', '.join(map(str, files)) or 'the shipped defaults only'}")
    width = max(len(c.id) for c in found)
    for check in found:
        print(f"  {_LABELS[check.status]:<4}  {check.id:<{width}}  {check.summary}")
        if check.fix and check.status in (FAIL, WARN):
            print(f"        {'':<{width}}  fix: {check.fix}")
    passed = sum(c.status == "ok" for c in found)
    print(f"{passed} ok, {warnings} warning(s), {failures} failure(s)")
