"""`chatspark report compliance --out report.html`: the compliance evidence, measured now, as one self-contained page
(or `--json`); exit 5 when a control failed, so a scheduled run can alert on it."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from appliance.audit.keys import audit_log
from appliance.monitoring import compliance
from appliance.monitoring.compliance_report import render
from server.cli.options import open_from

EXIT_CONTROL_FAILED = 5


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    report = commands.add_parser("report", help="reports for auditors", description="Reports for auditors.")
    kinds = report.add_subparsers(dest="report_command", required=True, metavar="REPORT")
    evidence = kinds.add_parser(
        "compliance", parents=[common], help="each promise, its control and live evidence, as HTML",
        description="Measure every control now (the listener's TLS versions, key directory modes, the newest "
                    "verified backup, the audit chain, retention and legal holds, second factors, API key expiry, "
                    f"key rotation) and write one self-contained HTML page. Exit {EXIT_CONTROL_FAILED} when a "
                    "control failed.")
    evidence.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write the report")
    evidence.add_argument("--json", action="store_true", help="write JSON instead of HTML")
    evidence.set_defaults(handler=_compliance)


def _compliance(args: argparse.Namespace) -> int:
    appliance, settings = open_from(args)
    try:
        audit = audit_log(appliance.control_db, keystore=appliance.keystore, clock=appliance.clock)
        found = compliance.gather(appliance, settings, audit=audit)
        audit.record("report.compliance", details={"failed": [c.id for c in found.failed],
                                                   "controls": len(found.controls)})
    finally:
        appliance.close()
    text = (json.dumps({"generated_at": found.generated_at, "appliance_id": found.appliance_id,
                        "version": found.version, "controls": [c.public() for c in found.controls]}, indent=2)
            if args.json else render(found))
    write_private(args.out, text)
    failed = ", ".join(c.id for c in found.failed)
    print(f"Wrote {args.out}: {len(found.controls)} controls, "
          + (f"{len(found.failed)} failed ({failed})" if failed else "none failed"))
    return EXIT_CONTROL_FAILED if found.failed else 0


def write_private(path: Path, text: str) -> None:
    """Write the report readable by its owner only (it names accounts), whole or not at all."""
    part = path.with_name(path.name + ".part")
    descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    part.replace(path)
