"""`chatspark export workspace|subject|decrypt`: encrypted exports from the command line, for whoever holds the
appliance's keys (a subject export searches every workspace), and opening any export, on any machine."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from appliance.errors import ConfigurationError, ValidationError
from appliance.exports.archive import check_passphrase, write_new_file
from appliance.exports.service import ExportReceipt, Requester
from appliance.exports.subject_export import APPLIANCE, subject_email
from appliance.exports.unpacking import decrypt_export
from appliance.services import build_services
from server.cli.options import open_from, read_passphrase

CLI = Requester("system", "cli", None, via="cli")


def register(commands, common: argparse.ArgumentParser) -> None:
    export = commands.add_parser("export", help="export a workspace or a data subject, encrypted; open an export",
                                 description="Write encrypted exports (AES-256-GCM under a key derived from your "
                                             "passphrase by scrypt) and open them again.")
    actions = export.add_subparsers(dest="export_command", required=True, metavar="ACTION")

    workspace = actions.add_parser(
        "workspace", parents=[common], help="export one workspace",
        description="Export a workspace: training data with the original files, Q&A pairs, agents' settings, "
                    "conversations, leads, analytics and a manifest of hashes. Cancelled workspaces too.")
    workspace.add_argument("workspace_id", metavar="ID", help="the workspace's id")
    _output_options(workspace)
    workspace.set_defaults(handler=_export_workspace)

    subject = actions.add_parser(
        "subject", parents=[common], help="export everything about one email address (all workspaces)",
        description="Export everything the appliance holds about an email address, in every workspace: leads, "
                    "their conversations and the visitor's other conversations, and the account with that address "
                    "(memberships, sessions, audit events; never password hashes or tokens).")
    subject.add_argument("email", metavar="EMAIL", help="the data subject's email address, in any case")
    _output_options(subject)
    subject.set_defaults(handler=_export_subject)

    decrypt = actions.add_parser(
        "decrypt", help="decrypt and unpack an export into a new directory",
        description="Decrypt an export and unpack it, checking every file against its manifest. Needs no appliance. "
                    "A wrong passphrase, a damaged or altered file, or an unsafe archive is refused and DIR is left "
                    "as it was.")
    decrypt.add_argument("file", type=Path, metavar="FILE", help="the encrypted export")
    decrypt.add_argument("--out", type=Path, required=True, metavar="DIR", help="a new (or empty) directory")
    decrypt.add_argument("--passphrase-file", dest="export_passphrase_file", type=Path, metavar="F",
                         help="read the export's passphrase from F instead of the terminal")
    decrypt.set_defaults(handler=_decrypt)


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="the encrypted export to write (new)")
    parser.add_argument("--passphrase-file", dest="export_passphrase_file", type=Path, metavar="F",
                        help="read the passphrase to encrypt the export to from F instead of the terminal")
    # --passphrase-file names the export's passphrase here, so the master key's has its own name.
    parser.add_argument("--master-passphrase-file", dest="passphrase_file", type=Path, metavar="F",
                        help="passphrase for a wrapped master key")


def export_passphrase(path: Path | None, *, new: bool) -> str:
    """The export's passphrase from its file, else from the terminal (twice for a new export); never a prompt
    without a terminal."""

    if path is not None:
        passphrase = read_passphrase(path)
    elif not sys.stdin.isatty():
        raise ConfigurationError("standard input is not a terminal: give the export's passphrase with "
                                 "--passphrase-file F")
    else:
        passphrase = getpass.getpass("Passphrase for the export: " if new else "The export's passphrase: ")
        if new and getpass.getpass("Repeat it: ") != passphrase:
            raise ValidationError("the two passphrases differ; nothing was exported")
    return check_passphrase(passphrase) if new else passphrase


def _export_workspace(args: argparse.Namespace) -> int:
    passphrase = export_passphrase(args.export_passphrase_file, new=True)
    receipt = _with_exports(args, lambda exports: write_new_file(args.out, lambda target: exports.export_workspace(
        args.workspace_id, target, passphrase=passphrase, requester=CLI)))
    counts = receipt.counts
    print(f"Exported workspace {args.workspace_id} to {args.out}: {counts['sources']} sources, {counts['agents']} "
          f"agents, {counts['conversations']} conversations, {counts['leads']} leads.")
    _print_sizes(receipt, args.out)
    return 0


def _export_subject(args: argparse.Namespace) -> int:
    email = subject_email(args.email)
    passphrase = export_passphrase(args.export_passphrase_file, new=True)
    receipt = _with_exports(args, lambda exports: write_new_file(args.out, lambda target: exports.export_subject(
        email, target, passphrase=passphrase, workspace_ids=exports.workspace_ids(), account_scope=APPLIANCE,
        requester=CLI)))
    counts = receipt.counts
    print(f"Exported everything about {email} to {args.out}: {counts['leads']} leads and "
          f"{counts['conversations']} conversations in {counts['workspaces_found']} of "
          f"{counts['workspaces_searched']} workspaces; {'an' if counts['account'] else 'no'} account.")
    _print_sizes(receipt, args.out)
    return 0


def _decrypt(args: argparse.Namespace) -> int:
    passphrase = export_passphrase(args.export_passphrase_file, new=False)
    opened = decrypt_export(args.file, passphrase, args.out)
    manifest = opened.manifest
    workspace = manifest.get("workspace") if isinstance(manifest.get("workspace"), dict) else {}
    what = (f"workspace {workspace.get('id')} ({workspace.get('name')})"
            if opened.kind == "chatspark-workspace-export" else "a data subject")
    print(f"Decrypted {args.file} into {opened.directory}: the export of {what} made {manifest.get('created_at')}, "
          f"{opened.files} files ({opened.content_bytes} bytes), each matching its manifest.")
    return 0


def _with_exports(args: argparse.Namespace, use):

    appliance, settings = open_from(args)
    try:
        services = build_services(appliance, settings)
        try:
            return use(services.exports)
        finally:
            services.knowledge.close()
    finally:
        appliance.close()


def _print_sizes(receipt: ExportReceipt, out: Path) -> None:
    print(f"  {receipt.files} files, {receipt.content_bytes} bytes unpacked, {receipt.archive_bytes} bytes "
          "encrypted to your passphrase. Without it the export cannot be opened: keep it safe.")
    print(f"Open it with: chatspark export decrypt {out} --out DIR")
