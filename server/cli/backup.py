"""`chatspark backup create|list|verify|prune|restore`: encrypted backups from a shell; restore onto a new machine."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from appliance.audit.keys import audit_log
from appliance.backups.restore import restore
from appliance.backups.service import Actor, BackupService, backup_directory
from appliance.bootstrap import Appliance
from appliance.clock import SystemClock
from appliance.errors import ConfigurationError
from appliance.settings import Settings
from appliance.storage.layout import Layout
from server.cli.options import open_from, read_passphrase, settings_from

EXIT_VERIFICATION_FAILED = 4
CLI = Actor(type="system", id="cli")


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    backup = commands.add_parser(
        "backup", help="make, list, verify, prune and restore encrypted backups",
        description="Backups are encrypted snapshots of every database, written to backup_dir (put it on another "
                    "disk). Restoring onto a new machine needs a backup file and a recovery kit.")
    actions = backup.add_subparsers(dest="backup_command", required=True, metavar="ACTION")
    wrapped = argparse.ArgumentParser(add_help=False)
    wrapped.add_argument("--passphrase-file", type=Path, metavar="FILE", help="passphrase for a wrapped master key")

    create = actions.add_parser("create", parents=[common, wrapped], help="back up every database now",
                                description="Copy every database consistently (the service may keep running), "
                                            "pack them with a manifest of hashes and encrypt the result under the "
                                            "backup key.")
    create.add_argument("--json", action="store_true", help="print the backup as JSON (as `backup list --json`)")
    create.set_defaults(handler=_create)

    listing = actions.add_parser("list", parents=[common, wrapped], help="list backups, newest first",
                                 description="List the backups in the index with their verification results.")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(handler=_list)

    verify = actions.add_parser("verify", parents=[common, wrapped], help="restore a backup into scratch and check it",
                                description="Decrypt the backup into a scratch directory, check every file's hash, "
                                            "open every database with its key, run the integrity checks and compare "
                                            f"row counts. Exit 0 if it passed, {EXIT_VERIFICATION_FAILED} if not.")
    verify.add_argument("backup_id", metavar="ID", help="the backup's id, from `chatspark backup list`")
    verify.set_defaults(handler=_verify)

    prune = actions.add_parser("prune", parents=[common, wrapped], help="delete backups beyond backup_keep",
                               description="Delete complete backups beyond the backup_keep newest (never the newest "
                                           "verified one) and failed ones older than the newest complete backup.")
    prune.set_defaults(handler=_prune)

    restore_parser = actions.add_parser(
        "restore", parents=[common], help="restore a backup onto a new, empty data and key directory",
        description="Restore FILE with the keys of a recovery kit into --data-dir and --key-dir, which must be new "
                    "or empty; nothing is written to them unless the whole backup decrypts and checks out. Restoring "
                    "over a running appliance is not offered: stop it, restore elsewhere, and serve from there.")
    restore_parser.add_argument("file", type=Path, metavar="FILE", help="the backup file")
    restore_parser.add_argument("--kit", type=Path, required=True, metavar="KIT",
                                help="the recovery kit (`chatspark keys export-recovery-kit`)")
    restore_parser.add_argument("--kit-passphrase-file", type=Path, metavar="FILE",
                                help="the kit's passphrase (asked for on a terminal when not given)")
    restore_parser.add_argument("--passphrase-file", type=Path, metavar="FILE",
                                help="wrap the restored appliance's new master key under the passphrase in FILE")
    restore_parser.set_defaults(handler=_restore)


def _service(appliance: Appliance, settings: Settings) -> BackupService:
    return BackupService(appliance, audit=audit_log(appliance.control_db, keystore=appliance.keystore,
                                                    clock=appliance.clock),
                         directory=backup_directory(settings.backup_dir, appliance.layout.data_dir),
                         keep=settings.backup_keep)


def _with_service(args: argparse.Namespace, use):
    appliance, settings = open_from(args)
    try:
        return use(_service(appliance, settings))
    finally:
        appliance.close()


def _create(args: argparse.Namespace) -> int:
    def create(service: BackupService) -> int:
        backup = service.create(actor=CLI)
        if args.json:
            print(json.dumps(service.describe(backup), indent=2))
            return 0
        print(f"backup {backup.id} written to {service.path_of(backup)}")
        print(f"  {backup.size} bytes, {len(backup.workspace_ids)} workspaces, encrypted under {backup.key_id}")
        print(f"Verify it with `chatspark backup verify {backup.id}`.")
        return 0
    return _with_service(args, create)


def _list(args: argparse.Namespace) -> int:
    def listing(service: BackupService) -> int:
        backups = service.list()
        if args.json:
            print(json.dumps([service.describe(b) for b in backups], indent=2))
            return 0
        if not backups:
            print(f"no backups yet in {service.directory}")
        for b in backups:
            verified = f"{b.verification_status} {b.verified_at}" if b.verified_at else "not verified"
            size = f"{b.size} bytes" if b.size is not None else "-"
            missing = "" if b.status != "complete" or service.path_of(b).is_file() else "  FILE MISSING"
            print(f"{b.id}  {b.created_at}  {b.status:<8}  {size:>16}  {verified}  {b.file_name}{missing}")
            if b.error:
                print(f"    {b.error}")
        return 0
    return _with_service(args, listing)


def _verify(args: argparse.Namespace) -> int:
    def verify(service: BackupService) -> int:
        backup = service.verify(args.backup_id, actor=CLI)
        result = backup.verification
        for checked in result["files"]:
            counts = ", ".join(f"{table} {n}" for table, n in checked["counts"].items())
            print(f"  {checked['status']:<7} {checked['name']}" + (f"  ({counts})" if counts else "")
                  + (f"  {checked['problem']}" if checked["problem"] else ""))
        if result["passed"]:
            print(f"backup {backup.id} passed its verification")
            return 0
        print(f"backup {backup.id} FAILED its verification: {result['problem']}")
        return EXIT_VERIFICATION_FAILED
    return _with_service(args, verify)


def _prune(args: argparse.Namespace) -> int:
    def prune(service: BackupService) -> int:
        result = service.prune(actor=CLI)
        print(f"deleted {len(result.deleted)} backups" + (f": {', '.join(result.deleted)}" if result.deleted else ""))
        print(f"kept {len(result.kept)} (backup_keep = {service.keep})")
        return 0
    return _with_service(args, prune)


def _restore(args: argparse.Namespace) -> int:
    if args.data_dir is None or args.key_dir is None:
        raise ConfigurationError("give --data-dir and --key-dir: the new, empty directories to restore into")
    settings = settings_from(args)
    layout = Layout.of(settings.data_dir, settings.key_dir)
    try:
        kit_data = Path(args.kit).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read recovery kit {args.kit}: {exc.strerror}") from None
    kit_passphrase = _kit_passphrase(args.kit_passphrase_file)
    passphrase = read_passphrase(args.passphrase_file, confirm=True) if args.passphrase_file else None
    result = restore(args.file, kit_data=kit_data, kit_passphrase=kit_passphrase, layout=layout,
                     clock=SystemClock(), passphrase=passphrase)
    print(f"Restored backup {result.backup_id} (made {result.backup_created_at}) of appliance {result.appliance_id}")
    print(f"  data directory: {layout.data_dir}")
    print(f"  key directory:  {layout.key_dir}")
    print(f"  workspaces:     {len(result.workspaces)}")
    if result.skipped_purged:
        print(f"  not restored (purged after the backup, their keys are gone): {', '.join(result.skipped_purged)}")
    print(f"Next: chatspark serve --data-dir {layout.data_dir} --key-dir {layout.key_dir}")
    return 0


def _kit_passphrase(path: Path | None) -> str:
    if path is not None:
        try:
            passphrase = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigurationError(f"cannot read passphrase file {path}: {exc.strerror}") from None
        if not passphrase:
            raise ConfigurationError(f"passphrase file {path} is empty")
        return passphrase
    if sys.stdin.isatty():
        return getpass.getpass("Recovery kit passphrase: ")
    raise ConfigurationError("give the recovery kit's passphrase with --kit-passphrase-file (or run on a terminal)")
