"""The `chatspark` command: one parser over the command modules, each adding its subcommands; failures print one
line."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from appliance import __version__, errors
from server.cli.options import EXIT_FAILURE, common_options

# Each adds its own subcommands through `register(commands, common)`, in the order `chatspark --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "server.cli.init", "server.cli.serve", "server.cli.status", "server.cli.panel",
    "server.cli.users", "server.cli.audit", "server.cli.eval", "server.cli.models", "server.cli.demo",
    "server.cli.retention",
    "server.cli.export",
    "server.cli.jobs",
    "server.cli.keys",
    "server.cli.backup",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatspark", description="ChatSpark Appliance: on-prem AI chat agents.")
    parser.add_argument("--version", action="version", version=f"chatspark {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = common_options()
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands, common)
    return parser


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
