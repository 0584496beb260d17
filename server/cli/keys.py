"""`chatspark keys ...`: list keys, rotate them, change the master-key passphrase, export a recovery kit."""

from __future__ import annotations

import argparse
import getpass
import inspect
import os
import sys
from pathlib import Path

from appliance.accounts import strength
from appliance.audit.keys import audit_log
from appliance.bootstrap import Appliance, open_appliance
from appliance.clock import SystemClock
from appliance.errors import ConfigurationError, ValidationError
from appliance.keys import masterkey, recovery_kit, rotation
from appliance.storage.layout import Layout
from server.cli.options import open_from, read_passphrase, refuse_root_in_service_data, settings_from


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    keys = commands.add_parser("keys", help="list, rotate and protect the appliance's keys",
                               description="List the keystore's keys, rotate them, change how the master key is "
                                           "protected, or export a recovery kit.")
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", parents=[common], help="key names, purposes, versions and dates",
                                 description="Print every key of the keystore: name, purpose, version, when it was "
                                             "created and last rotated. Never prints key material.")
    _master_passphrase_option(listing, "--passphrase-file")
    listing.set_defaults(handler=_list)

    rotate = actions.add_parser(
        "rotate", parents=[common], help="new keys for the databases, backups and audit log",
        description="Rekey the control database and every workspace database under new random keys (each file "
                    "all-or-nothing: a crash leaves it under its old key or its new one, and the next open settles "
                    "which), and add a new backup key and a new audit MAC key (older versions are kept, so older "
                    "backups still decrypt and older audit rows still verify). Needs the appliance to itself: stop "
                    "`chatspark serve` first. Each rotation is recorded in the audit log. The databases' earlier keys "
                    "are kept as retired keys, so backups made before the rotation still verify and restore. "
                    "Afterwards, export a new recovery kit: an older kit lacks the new keys.")
    rotate.add_argument("--only", action="append", choices=rotation.PARTS, metavar="PART",
                        help=f"rotate only this part ({', '.join(rotation.PARTS)}); repeatable (default: all)")
    _master_passphrase_option(rotate, "--passphrase-file")
    rotate.set_defaults(handler=_rotate)

    change = actions.add_parser(
        "change-passphrase", parents=[common], help="rewrap the master key under a new passphrase",
        description="Rewrap the master key under a new passphrase, without re-encrypting any data; a master key "
                    "kept in clear is wrapped, and --to-clear-key turns a wrapped one back into a clear key file. "
                    "The new file replaces the old in one rename, so the key directory always holds a working key. "
                    "The master key itself does not change: a copy of the old wrapped file (a backup of the key "
                    "directory, say) still opens everything with the old passphrase, so destroy such copies.")
    _master_passphrase_option(change, "--passphrase-file", what="the current passphrase")
    change.add_argument("--new-passphrase-file", type=Path, metavar="FILE",
                        help="the new passphrase (12 characters or more, hard to guess: several "
                             "unrelated words); asked twice on a terminal if not given")
    change.add_argument("--to-clear-key", action="store_true",
                        help="store the master key in clear (0600) instead of under a passphrase")
    change.set_defaults(handler=_change_passphrase)

    kit = actions.add_parser(
        "export-recovery-kit", parents=[common], help="write every key, encrypted to a passphrase, to a file",
        description="Write every key of the keystore to FILE (0600), encrypted to a passphrase of yours, to restore "
                    "backups on another machine. Refuses to overwrite FILE. " + _kit_warning())
    kit.add_argument("--out", type=Path, required=True, metavar="FILE", help="the kit file to create")
    kit.add_argument("--passphrase-file", dest="kit_passphrase_file", type=Path, metavar="FILE",
                     help="the kit's passphrase (12 characters or more, hard to guess: several unrelated words); asked "
                          "twice on a terminal if not given")
    _master_passphrase_option(kit, "--master-passphrase-file")
    kit.set_defaults(handler=_export_recovery_kit)


def _master_passphrase_option(parser: argparse.ArgumentParser, flag: str,
                              what: str = "the passphrase of a wrapped master key") -> None:
    parser.add_argument(flag, dest="passphrase_file", type=Path, metavar="FILE", help=f"{what} (asked on a terminal "
                        "if not given; also CHATSPARK_PASSPHRASE_FILE)")


def _list(args: argparse.Namespace) -> int:
    appliance, _settings = open_from(args)
    try:
        records = appliance.keystore.records()
    finally:
        appliance.close()
    rows = [("NAME", "PURPOSE", "VERSION", "CREATED", "ROTATED")]
    rows += [(r.name, r.purpose, str(rotation.key_version(r)) + (" (rotation pending)" if r.pending else ""),
              r.created_at, r.rotated_at or "-") for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0


def _rotate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    layout = Layout.of(settings.data_dir, settings.key_dir)
    passphrase = read_passphrase(settings.passphrase_file) if masterkey.is_wrapped(layout.key_dir) else None
    refuse_root_in_service_data(layout)
    appliance = open_appliance(layout, clock=SystemClock(), passphrase=passphrase, exclusive=True)
    try:
        done = rotation.rotate(appliance, parts=args.only or rotation.PARTS)
    finally:
        appliance.close()
    print(f"Rotated {len(done)} key{'s' if len(done) != 1 else ''}:")
    for rotated in done:
        print(f"  {rotated.key_name:<40} {_change_text(rotated)}")
    print("Each rotation is in the audit log (action key.rotate).")
    if any(r.part in ("control", "workspaces") for r in done):
        print("Export a new recovery kit now (chatspark keys export-recovery-kit): a kit exported before this "
              "rotation no longer opens the databases. The new kit also opens backups made before the rotation.")
    return 0


def _change_text(rotated: rotation.Rotated) -> str:
    if rotated.part in ("control", "workspaces"):
        return f"version {rotated.from_version} -> {rotated.to_version}, database rekeyed"
    previous = rotated.from_version
    kept = "" if previous is None else "; version 1 kept" if previous == 1 else f"; versions 1 to {previous} kept"
    use = "new backups are encrypted under it" if rotated.part == "backup" else "new audit rows are signed with it"
    return f"new (version {rotated.to_version}): {use}{kept}"


def _change_passphrase(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    layout = Layout.of(settings.data_dir, settings.key_dir)
    in_clear = (layout.key_dir / masterkey.PLAIN_NAME).exists()
    if args.to_clear_key and args.new_passphrase_file:
        raise ValidationError("give either --new-passphrase-file or --to-clear-key, not both")
    if in_clear and args.to_clear_key:
        raise ValidationError(f"the master key in {layout.key_dir} is already in clear; nothing was changed")
    old = None
    if not in_clear:
        old = read_passphrase(settings.passphrase_file)
        if old is None:
            raise ConfigurationError("the master key is wrapped: give its current passphrase with --passphrase-file")
    new = None if args.to_clear_key else _new_passphrase(args.new_passphrase_file, "New master key passphrase")
    # Opening the appliance proves the current passphrase before anything is written, and gives the audit log.
    refuse_root_in_service_data(layout)
    appliance = open_appliance(layout, clock=SystemClock(), passphrase=old)
    try:
        masterkey.change_protection(layout.key_dir, passphrase=old, new_passphrase=new)
        _audit(appliance, "key.change_master_key_protection", target_id="master",
               details={"before": "clear" if in_clear else "passphrase",
                        "after": "clear" if new is None else "passphrase"})
    finally:
        appliance.close()
    if new is None:
        print(f"The master key is now stored in clear in {layout.key_dir / masterkey.PLAIN_NAME} (0600).")
    elif in_clear:
        print(f"The master key is now wrapped under the new passphrase ({layout.key_dir / masterkey.WRAPPED_NAME}); "
              "the clear key file is removed. Give the passphrase to `chatspark serve` with --passphrase-file.")
    else:
        print("The master key is now wrapped under the new passphrase. No data was re-encrypted: the master key is "
              "the same, so a copy of the old wrapped file still opens it with the old passphrase; destroy copies.")
    return 0


def _export_recovery_kit(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists():
        raise ValidationError(f"{out} already exists; refusing to overwrite it (choose another file)")
    kit_passphrase = _new_passphrase(args.kit_passphrase_file, "Recovery kit passphrase",
                                     flag="--passphrase-file")
    appliance, _settings = open_from(args)
    try:
        data = recovery_kit.export_kit(appliance.keystore, passphrase=kit_passphrase, clock=appliance.clock)
        count = len(appliance.keystore.records())
        _write_new_private(out, data)
        _audit(appliance, "key.export_recovery_kit", target_id="recovery-kit",
               details={"keys_exported": count, "file": str(out.resolve())})
    finally:
        appliance.close()
    print(f"Recovery kit with {count} keys written to {out} (0600).")
    print(_kit_warning())
    return 0


def _kit_warning() -> str:
    # The module says it best; one source for the help text, the warning printed, and the docstring.
    return " ".join(inspect.cleandoc(recovery_kit.__doc__).split("\n\n")[1].split())


def _new_passphrase(path: Path | None, prompt: str, *, flag: str = "--new-passphrase-file") -> str:
    if path is not None:
        passphrase = read_passphrase(path)
    elif sys.stdin.isatty():
        passphrase = getpass.getpass(f"{prompt}: ")
        if getpass.getpass("Repeat it: ") != passphrase:
            raise ValidationError("the two passphrases differ; nothing was changed")
    else:
        raise ConfigurationError(f"standard input is not a terminal: give {flag} FILE")
    # Checked before anything is opened or written, so a weak one changes nothing.
    return strength.check_passphrase(passphrase)


def _write_new_private(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ValidationError(f"{path} already exists; refusing to overwrite it (choose another file)") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot create {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _audit(appliance: Appliance, action: str, *, target_id: str, details: dict) -> None:
    log = audit_log(appliance.control_db, keystore=appliance.keystore, clock=appliance.clock)
    log.record(action, actor_type="system", actor_id="cli", target_type="key", target_id=target_id, details=details)
