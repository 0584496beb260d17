"""`chatspark init`: create a new appliance (keys, keystore, control database, certificates), and its first operator."""

from __future__ import annotations

import argparse
from pathlib import Path

from appliance.bootstrap import initialise, open_appliance
from appliance.clock import SystemClock
from appliance.errors import CertificateError
from appliance.keys import certificates
from appliance.storage.layout import Layout
from server.cli.options import read_passphrase, settings_from
from server.cli.users import add_password_options, checked_operator_password, create_operator


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    init = commands.add_parser("init", parents=[common], help="create a new appliance (keys, databases, certificates)",
                               description="Create the key directory, keystore, control database, the appliance CA and "
                                           "a server certificate. Refuses to overwrite an existing appliance.")
    init.add_argument("--passphrase-file", type=Path, metavar="FILE",
                      help="wrap the master key under the passphrase in FILE instead of storing it in clear")
    init.add_argument("--san", action="append", default=[], metavar="NAME",
                      help="extra host name or IP address for the server certificate, and so for the CA, which "
                           "may sign for these names only (repeatable)")
    init.add_argument("--operator-email", metavar="EMAIL", help="also create the first appliance operator")
    init.add_argument("--operator-name", default="", metavar="NAME", help="the first operator's display name")
    add_password_options(init)
    init.add_argument("--no-hints", action="store_true",
                      help="leave out the hints of what to run next (for scripts that go on to it themselves)")
    init.set_defaults(handler=_init)


def _init(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    layout = Layout.of(settings.data_dir, settings.key_dir)
    try:
        certificates.default_names(args.san)  # the CA is constrained to these: each must be a name it can carry
    except CertificateError as exc:
        raise CertificateError(f"--san: {exc}") from None
    passphrase = read_passphrase(args.passphrase_file, confirm=True) if args.passphrase_file else None
    # The operator's email and password are checked before anything is created, so a refusal leaves nothing.
    operator = checked_operator_password(args.operator_email, args) if args.operator_email else None
    result = initialise(layout, clock=SystemClock(), passphrase=passphrase, extra_names=args.san)
    print(f"Initialised appliance {result.appliance_id}")
    print(f"  data directory:  {layout.data_dir}")
    protection = "master key wrapped under your passphrase" if passphrase else "master key in clear, 0600"
    print(f"  key directory:   {layout.key_dir} ({protection})")
    print(f"  certificate for: {', '.join(result.server_names)}")
    print(f"  CA certificate:  {layout.ca_cert}")
    print(f"  CA fingerprint:  SHA-256 {result.ca_fingerprint}")
    print("Back up the key directory apart from the data directory: without it nothing can be read.")
    if operator is not None:
        appliance = open_appliance(layout, clock=SystemClock(), passphrase=passphrase)
        try:
            create_operator(appliance, settings, email=args.operator_email, name=args.operator_name,
                            password=operator)
        finally:
            appliance.close()
    if args.no_hints:
        return 0
    # The directories are named only when flags gave them: otherwise the settings find them again.
    given = (("config", args.config and Path(args.config).resolve()),
             ("data-dir", args.data_dir and layout.data_dir), ("key-dir", args.key_dir and layout.key_dir))
    where = "".join(f" --{name} {path}" for name, path in given if path)
    if operator is None:
        print(f"No operator yet: add one with `chatspark users create-operator --email EMAIL{where}`.")
    print(f"Next: chatspark serve{where}")
    return 0
