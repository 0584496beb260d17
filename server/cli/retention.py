"""`chatspark retention sweep|purge-due`: enforce retention policies and purge cancelled workspaces from a shell, or
see first (--dry-run) what either would delete."""

from __future__ import annotations

import argparse
import json
from typing import Callable

from appliance.retention.purge import PurgeReport
from appliance.retention.sweep import SweepReport, describe
from appliance.services import Services, build_services
from server.cli.options import open_from


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    retention = commands.add_parser("retention", help="enforce retention policies and purge cancelled workspaces",
                                    description="What the hourly jobs do, run now: the retention sweep and the "
                                                "purge of cancelled workspaces whose date has passed.")
    actions = retention.add_subparsers(dest="retention_command", required=True, metavar="ACTION")
    sweep = actions.add_parser("sweep", parents=[common], help="delete what each workspace's policy makes due",
                               description="Delete, in batches, what each workspace's retention policy makes due, "
                                           "skipping workspaces on legal hold, then checkpoint the files.")
    sweep.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    sweep.add_argument("--json", action="store_true", help="print the summary as JSON")
    sweep.set_defaults(handler=_sweep)
    purge = actions.add_parser("purge-due", parents=[common], help="purge cancelled workspaces whose date has passed",
                               description="Purge every cancelled workspace whose purge date has passed and that is "
                                           "not on legal hold: its key first, then its file and every row about it; "
                                           "finish any purge an earlier run left half-done.")
    purge.add_argument("--dry-run", action="store_true", help="only list the workspaces that would be purged")
    purge.add_argument("--json", action="store_true", help="print the summary as JSON")
    purge.set_defaults(handler=_purge_due)


def _sweep(args: argparse.Namespace) -> int:
    report: SweepReport = _with_services(args, lambda services: services.retention.sweep(dry_run=args.dry_run))
    if args.json:
        print(json.dumps(report.summary(), sort_keys=True))
        return 0
    for workspace_id, counts in report.deleted.items():
        print(f"workspace {workspace_id}: {describe(counts, dry_run=args.dry_run)}")
    for workspace_id in report.held:
        print(f"workspace {workspace_id}: on legal hold, left as it is")
    print(f"in all: {describe(report.totals(), dry_run=args.dry_run)}")
    return 0


def _purge_due(args: argparse.Namespace) -> int:
    report: PurgeReport = _with_services(args, lambda services: services.purges.purge_due(dry_run=args.dry_run))
    if args.json:
        print(json.dumps(report.summary(), sort_keys=True))
        return 0
    verb = "would be purged" if args.dry_run else "purged"
    for workspace_id in report.purged:
        print(f"workspace {workspace_id}: {verb}")
    for workspace_id in report.held:
        print(f"workspace {workspace_id}: due, but on legal hold; left as it is")
    if not report.purged and not report.held:
        print("no cancelled workspace is due for its purge")
    return 0


def _with_services(args: argparse.Namespace, use: Callable[[Services], object]):
    appliance, settings = open_from(args)
    try:
        services = build_services(appliance, settings)
        try:
            return use(services)
        finally:
            services.knowledge.close()
    finally:
        appliance.close()
