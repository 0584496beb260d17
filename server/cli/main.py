"""The `chatspark` command: one parser over the command modules, each adding its subcommands; failures print one
line, and output cut short by its reader (`| head`) ends quietly."""

from __future__ import annotations

import argparse
import importlib
import os
import select
import signal
import sys
from typing import Sequence

from appliance import __version__, errors
from appliance import settings as settings_module
from server.cli.options import EXIT_FAILURE, common_options

# What a shell reports for a command that SIGPIPE ended, as `cat` would be when `head` has read enough.
EXIT_BROKEN_PIPE = 128 + getattr(signal, "SIGPIPE", 13)

# Each adds its own subcommands through `register(commands, common)`, in the order `chatspark --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "server.cli.init", "server.cli.serve", "server.cli.status", "server.cli.doctor", "server.cli.panel",
    "server.cli.workspaces", "server.cli.users", "server.cli.invitations", "server.cli.mail",
    "server.cli.audit", "server.cli.eval", "server.cli.models", "server.cli.demo",
    "server.cli.retention",
    "server.cli.export",
    "server.cli.jobs",
    "server.cli.keys",
    "server.cli.backup",
    "server.cli.upgrade",
    "server.cli.report",
)


class CommandParser(argparse.ArgumentParser):
    """Reports arguments it does not know with its own usage. Plain argparse leaves them to the top-level parser,
    whose usage names none of the subcommand's options; every subcommand's parser is of this class too."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras

    def _print_message(self, message, file=None):
        # argparse would swallow a broken pipe here; `main` ends help cut short like any other output.
        if message:
            (file or sys.stderr).write(message)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="chatspark", description="ChatSpark Appliance: on-prem AI chat agents.",
                           epilog=settings_module.describe_search())
    parser.add_argument("--version", action="version", version=f"chatspark {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = common_options()
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _run(argv)
    except BrokenPipeError:
        if not _reader_gone():
            raise
        # Whatever is still buffered must not be flushed into the closed pipe as the interpreter exits.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        if _reader_gone(sys.stderr):
            os.dup2(devnull, sys.stderr.fileno())
        return EXIT_BROKEN_PIPE


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = args.handler(args)
        sys.stdout.flush()  # a reader that went away is found here, not as the interpreter exits
        return status
    except errors.ApplianceError as exc:
        print(f"chatspark: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


def _reader_gone(*streams) -> bool:
    """Whether standard output (or error) is a pipe whose reader has closed it, rather than some other pipe that
    broke inside a command."""
    if not hasattr(select, "poll"):
        return True
    for stream in streams or (sys.stdout, sys.stderr):
        try:
            poller = select.poll()
            poller.register(stream.fileno(), select.POLLOUT)
            if any(event & select.POLLERR for _, event in poller.poll(0)):
                return True
        except (OSError, ValueError, AttributeError):
            continue
    return False


if __name__ == "__main__":
    sys.exit(main())
