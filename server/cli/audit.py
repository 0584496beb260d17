"""`chatspark audit verify` and `chatspark audit list`: check the audit chain and read the log from a shell."""

from __future__ import annotations

import argparse
import json
from typing import Callable, TypeVar

from appliance.audit.keys import audit_log
from appliance.audit.log import AuditEvent, AuditLog
from appliance.exports.audit_events import to_csv, to_json
from server.cli.options import open_from

EXIT_TAMPERED = 4
T = TypeVar("T")


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    audit = commands.add_parser("audit", help="verify and read the tamper-evident audit log",
                                description="Verify the HMAC chain of the audit log, or list its rows.")
    actions = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    verify = actions.add_parser("verify", parents=[common], help="check that no row was altered, removed or inserted",
                                description="Recompute the HMAC chain of every row. Exit 0 if the log is intact, "
                                            f"{EXIT_TAMPERED} naming the first bad row if it is not.")
    verify.set_defaults(handler=_verify)

    listing = actions.add_parser("list", parents=[common], help="print audit rows, oldest first",
                                 description="Print audit rows matching the filters, oldest first.")
    listing.add_argument("--limit", type=int, default=100, metavar="N", help="at most N rows (default 100)")
    listing.add_argument("--after", type=int, metavar="SEQ", help="only rows after SEQ (for the next page)")
    listing.add_argument("--action", metavar="PREFIX", help="an action and those under it, e.g. auth or auth.login")
    listing.add_argument("--workspace", metavar="ID", help="only rows about workspace ID")
    output = listing.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print a JSON array")
    output.add_argument("--csv", action="store_true", help="print CSV with a header row")
    listing.set_defaults(handler=_list)


def _verify(args: argparse.Namespace) -> int:
    result = _with_log(args, lambda log: log.verify())
    if result.ok:
        print(f"audit log intact: {result.rows_checked} rows")
        return 0
    print(f"audit log NOT intact: {result.problem}; {result.rows_checked} rows before it are intact")
    return EXIT_TAMPERED


def _list(args: argparse.Namespace) -> int:
    events = _with_log(args, lambda log: log.events(action=args.action, workspace_id=args.workspace,
                                                    after_seq=args.after, limit=args.limit))
    if args.json:
        print(to_json(events))
    elif args.csv:
        print(to_csv(events), end="")
    else:
        for event in events:
            print(_line(event))
    return 0


def _with_log(args: argparse.Namespace, use: Callable[[AuditLog], T]) -> T:
    appliance, _settings = open_from(args)
    try:
        return use(audit_log(appliance.control_db, keystore=appliance.keystore, clock=appliance.clock))
    finally:
        appliance.close()


def _line(event: AuditEvent) -> str:
    parts = [f"{event.seq:>6}", event.at, f"{event.outcome:<7}", event.action,
             f"actor={event.actor_type}" + (f":{event.actor_id}" if event.actor_id else "")]
    if event.target_type or event.target_id:
        parts.append(f"target={event.target_type or '?'}:{event.target_id or '?'}")
    if event.workspace_id:
        parts.append(f"workspace={event.workspace_id}")
    if event.client_address:
        parts.append(f"from={event.client_address}")
    if event.details:
        parts.append(json.dumps(event.details, sort_keys=True, ensure_ascii=False))
    return "  ".join(parts)
