"""The `chatspark` command: init, serve and status here, more from COMMAND_MODULES. Failures print one line."""

from __future__ import annotations

import argparse
import getpass
import importlib
import sys
from pathlib import Path
from typing import Sequence

from appliance import __version__, errors
from appliance import settings as settings_module
from appliance.bootstrap import Appliance, initialise, open_appliance
from appliance.clock import SystemClock
from appliance.keys import masterkey
from appliance.layout import Layout
from server.cli_users import add_password_options, checked_operator_password, create_operator

EXIT_FAILURE = 1
EXIT_NOT_ANSWERING = 3
# Modules that add their own subcommands through `register(commands, common)`.
COMMAND_MODULES: tuple[str, ...] = (
    "server.cli_users", "server.cli_audit", "server.cli_eval", "server.cli_models", "server.cli_demo",
    "server.cli_retention",
    "server.cli_export",
    "server.cli_jobs",
    "server.cli_keys",
    "server.cli_backup",
)


def common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, metavar="FILE", help="settings file read after config/appliance.toml")
    common.add_argument("--data-dir", type=Path, metavar="DIR", help="data directory (databases, logs, certificates)")
    common.add_argument("--key-dir", type=Path, metavar="DIR", help="key directory (master key, keystore)")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatspark", description="ChatSpark Appliance: on-prem AI chat agents.")
    parser.add_argument("--version", action="version", version=f"chatspark {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = common_options()

    init = commands.add_parser("init", parents=[common], help="create a new appliance (keys, databases, certificates)",
                               description="Create the key directory, keystore, control database, the appliance CA and "
                                           "a server certificate. Refuses to overwrite an existing appliance.")
    init.add_argument("--passphrase-file", type=Path, metavar="FILE",
                      help="wrap the master key under the passphrase in FILE instead of storing it in clear")
    init.add_argument("--san", action="append", default=[], metavar="NAME",
                      help="extra host name or IP address for the server certificate (repeatable)")
    init.add_argument("--operator-email", metavar="EMAIL", help="also create the first appliance operator")
    init.add_argument("--operator-name", default="", metavar="NAME", help="the first operator's display name")
    add_password_options(init)
    init.set_defaults(handler=_init)

    serve = commands.add_parser("serve", parents=[common], help="serve HTTPS until stopped",
                                description="Run the appliance: Caddy (TLS 1.3) in front of the application server.")
    serve.add_argument("--host", metavar="HOST", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, metavar="PORT", help="HTTPS port (default 8443)")
    serve.add_argument("--http-redirect-port", type=int, metavar="PORT",
                       help="also listen for plain HTTP on PORT, only to redirect to HTTPS")
    serve.add_argument("--passphrase-file", type=Path, metavar="FILE", help="passphrase for a wrapped master key")
    serve.add_argument("--demo-site-port", type=int, metavar="PORT",
                       help="also serve the demo intranet page (see `demo create --site-port`) on this port")
    serve.set_defaults(handler=_serve)

    status = commands.add_parser("status", parents=[common], help="show what is installed and whether it answers",
                                 description="Print version, directories, database sizes, certificate expiry and "
                                             "whether the service answers (exit 3 if it does not).")
    status.add_argument("--host", metavar="HOST", help="address the service listens on")
    status.add_argument("--port", type=int, metavar="PORT", help="HTTPS port")
    status.add_argument("--passphrase-file", type=Path, metavar="FILE",
                        help="passphrase for a wrapped master key, to show the mail outbox too")
    status.set_defaults(handler=_status)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands, common)
    return parser


def settings_from(args: argparse.Namespace) -> settings_module.Settings:
    """Settings for a command: files and environment, then the flags the command was given."""
    overrides = {name: getattr(args, name, None)
                 for name in ("data_dir", "key_dir", "host", "port", "http_redirect_port", "passphrase_file",
                              "demo_site_port")}
    return settings_module.load(args.config, overrides=overrides)


def read_passphrase(path: Path | None, *, confirm: bool = False) -> str | None:
    """The passphrase from its file, else from the terminal; never a prompt without a terminal."""
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise errors.ConfigurationError(f"cannot read passphrase file {path}: {exc.strerror}") from None
        passphrase = text.rstrip("\r\n")
        if not passphrase:
            raise errors.ConfigurationError(f"passphrase file {path} is empty")
        return passphrase
    if not confirm and sys.stdin.isatty():
        return getpass.getpass("Master key passphrase: ")
    return None


def open_from(args: argparse.Namespace) -> tuple[Appliance, settings_module.Settings]:
    """Open the appliance a command names, asking for the passphrase only on a terminal."""
    settings = settings_from(args)
    layout = Layout.of(settings.data_dir, settings.key_dir)
    passphrase = read_passphrase(settings.passphrase_file) if masterkey.is_wrapped(layout.key_dir) else None
    return open_appliance(layout, clock=SystemClock(), passphrase=passphrase), settings


def _init(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    layout = Layout.of(settings.data_dir, settings.key_dir)
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
    else:
        print("No operator yet: add one with `chatspark users create-operator --email EMAIL "
              f"--data-dir {layout.data_dir} --key-dir {layout.key_dir}`.")
    print(f"Next: chatspark serve --data-dir {layout.data_dir} --key-dir {layout.key_dir}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from server.serve import serve  # keeps `chatspark --help` and `init` free of Flask start-up

    settings = settings_from(args)
    passphrase = None
    if masterkey.is_wrapped(Path(settings.key_dir).expanduser()):
        passphrase = read_passphrase(settings.passphrase_file)
    serve(settings, passphrase=passphrase, out=sys.stdout)
    return 0


def _status(args: argparse.Namespace) -> int:
    from server.status import collect

    settings = settings_from(args)
    wrapped = masterkey.is_wrapped(Path(settings.key_dir).expanduser())
    passphrase = read_passphrase(settings.passphrase_file) if wrapped and settings.passphrase_file else None
    report = collect(settings, now=SystemClock().now(), passphrase=passphrase)
    print("\n".join(report.lines))
    return 0 if report.service_answers else EXIT_NOT_ANSWERING


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except errors.ApplianceError as exc:
        print(f"chatspark: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
