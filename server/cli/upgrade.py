"""`chatspark upgrade`: move the appliance to the release this command belongs to, rolling back by itself when a step
fails; `--check` lists what it would migrate and changes nothing."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from appliance.clock import SystemClock
from appliance.errors import ConfigurationError
from appliance.keys import masterkey
from appliance.storage.layout import Layout
from appliance.storage.migrations import KINDS
from appliance.upgrades import schema, snapshot
from appliance.upgrades.runner import (
    READY_TIMEOUT_SECONDS,
    DowngradeRefused,
    Release,
    Upgrade,
    UpgradeFailed,
    downgrade_message,
    record_failure,
    this_release_name,
)
from server.cli.options import read_passphrase, refuse_root_in_service_data, services_from, settings_from

EXIT_DOWNGRADE = 3
EXIT_ROLLED_BACK = 4


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    upgrade = commands.add_parser(
        "upgrade", parents=[common], help="migrate to this release, rolling back by itself on failure",
        description="Run by the new release, with the service stopped (the package's scripts do all of this): back "
                    "up with the previous release and verify it, snapshot every database, migrate, then serve on "
                    "trial until /readyz passes. If a step fails, every database is put back byte for byte, and "
                    "the previous release audits the failure and mails the operators. Move the `current` link to "
                    "this release only after it succeeds.",
        epilog=f"Exit 0 when upgraded (or, with --check, when nothing is newer than this release), "
               f"{EXIT_DOWNGRADE} when a database is newer than this release (a downgrade, refused), "
               f"{EXIT_ROLLED_BACK} when a step failed and the appliance was rolled back, 1 when it was refused "
               "before changing anything.")
    mode = upgrade.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="list the migrations this release would apply; change nothing")
    mode.add_argument("--rollback", action="store_true",
                      help="put back the snapshot of an upgrade whose service did not start (needs --reason)")
    mode.add_argument("--finish", action="store_true",
                      help="discard the snapshot of an upgrade kept with --keep-snapshot, once the service runs")
    mode.add_argument("--record-failure", action="store_true", help=argparse.SUPPRESS)
    upgrade.add_argument("--json", action="store_true", help="with --check: print JSON")
    upgrade.add_argument("--target-schema", metavar="KIND=N,...",
                         help="with --check: compare with another release's newest migrations "
                              "(keystore=N,control=N,workspace=N) instead of this one's")
    upgrade.add_argument("--previous-release", type=Path, metavar="DIR",
                         help="folder of the release the appliance runs now (default: where the `current` link "
                              "beside this release points)")
    upgrade.add_argument("--skip-backup", action="store_true",
                         help="do not make the pre-upgrade backup (the snapshot for a rollback is still taken)")
    upgrade.add_argument("--keep-snapshot", action="store_true",
                         help="keep the snapshot after a successful upgrade, for --rollback should the service not "
                              "start; --finish discards it")
    upgrade.add_argument("--ready-timeout", type=float, default=READY_TIMEOUT_SECONDS, metavar="SECONDS",
                         help=f"how long the trial serve may take to pass /readyz (default "
                              f"{READY_TIMEOUT_SECONDS:.0f})")
    upgrade.add_argument("--reason", metavar="TEXT", help="with --rollback: why, for the log, audit and mail")
    upgrade.add_argument("--failed-release", metavar="NAME", help=argparse.SUPPRESS)
    upgrade.add_argument("--passphrase-file", type=Path, metavar="FILE", help="passphrase for a wrapped master key")
    upgrade.set_defaults(handler=_upgrade)


def _upgrade(args: argparse.Namespace) -> int:
    if args.check:
        return _check(args)
    if args.record_failure:
        with services_from(args) as services:
            record_failure(services, failed_release=args.failed_release or "?", reason=args.reason or "unknown")
        return 0
    settings = settings_from(args)
    layout = Layout.of(settings.data_dir, settings.key_dir)
    refuse_root_in_service_data(layout)
    if args.finish:
        snapshot.discard(layout)
        print("The upgrade snapshot is discarded; the pre-upgrade backup stays.")
        return 0
    passphrase = read_passphrase(settings.passphrase_file) if masterkey.is_wrapped(layout.key_dir) else None
    upgrade = Upgrade(layout=layout, previous=Release(_previous_release(args)), clock=SystemClock(),
                      flags=_flags(args), passphrase=passphrase, ready_timeout=args.ready_timeout)
    if args.rollback:
        if not args.reason:
            raise ConfigurationError("--rollback needs --reason: what failed, for the log, the audit and the mail")
        try:
            upgrade.roll_back(args.reason)
        except Exception as exc:  # roll_back always raises: UpgradeFailed once it has rolled back
            print(f"chatspark: {exc}", file=sys.stderr)
        return EXIT_ROLLED_BACK
    try:
        upgrade.run(backup=not args.skip_backup, keep_snapshot=args.keep_snapshot)
    except DowngradeRefused as exc:
        print(f"chatspark: {exc}", file=sys.stderr)
        return EXIT_DOWNGRADE
    except UpgradeFailed as exc:
        print(f"chatspark: {exc}", file=sys.stderr)
        return EXIT_ROLLED_BACK
    return 0


def _check(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    layout = Layout.of(settings.data_dir, settings.key_dir)
    passphrase = read_passphrase(settings.passphrase_file) if masterkey.is_wrapped(layout.key_dir) else None
    target = _target_schema(args.target_schema) if args.target_schema else None
    databases = schema.inspect(layout, passphrase=passphrase, latest=target)
    newer = [d for d in databases if d.newer_than_release]
    release = None if target else this_release_name()
    named = f"release {release}" if release else "the release being installed"
    if args.json:
        print(json.dumps({"release": release, "latest": target or schema.latest_versions(),
                          "databases": [d.public() for d in databases]}, indent=2))
    else:
        for database in databases:
            state = (f"NEWER than {named}" if database.newer_than_release else
                     f"{len(database.pending)} pending: {', '.join(database.pending)}" if database.pending else
                     "up to date")
            print(f"{database.name:<52} schema {database.version:>3} of {database.latest:<3} {state}")
        pending = sum(len(d.pending) for d in databases)
        if not newer:
            print(f"{pending} migrations pending for {named}; nothing was changed." if pending else
                  f"Nothing to migrate for {named}.")
    if newer:
        print(f"chatspark: {downgrade_message(newer, named)}", file=sys.stderr)
        return EXIT_DOWNGRADE
    return 0


def _target_schema(text: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in text.split(","):
        kind, _, number = part.partition("=")
        if kind.strip() not in KINDS or not number.strip().isdigit():
            raise ConfigurationError(f"--target-schema takes {','.join(k + '=N' for k in KINDS)}, not {text!r}")
        found[kind.strip()] = int(number)
    missing = [kind for kind in KINDS if kind not in found]
    if missing:
        raise ConfigurationError(f"--target-schema lacks {', '.join(missing)}")
    return found


def _previous_release(args: argparse.Namespace) -> Path:
    if args.previous_release is not None:
        return args.previous_release.resolve()
    current = Path(sys.executable).resolve().parent.parent / "current"
    if not getattr(sys, "frozen", False) or not current.exists():
        raise ConfigurationError("give --previous-release: the folder of the release the appliance runs now")
    return current.resolve()


def _flags(args: argparse.Namespace) -> list[str]:
    """The settings flags this command was given, for the commands it runs (the previous release's, the trial's)."""
    flags = []
    for name in ("config", "data_dir", "key_dir", "passphrase_file"):
        value = getattr(args, name, None)
        if value is not None:
            flags += [f"--{name.replace('_', '-')}", str(Path(value).resolve())]
    return flags
