"""What every `chatspark` command shares: the common options, settings from files and flags, the passphrase, opening
the appliance a command names, and the exit codes."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import pwd
import sys
from pathlib import Path
from typing import Iterator

from appliance import errors
from appliance import settings as settings_module
from appliance.bootstrap import Appliance, open_appliance
from appliance.clock import SystemClock
from appliance.keys import masterkey
from appliance.services import Services, build_services
from appliance.storage.layout import Layout

EXIT_FAILURE = 1
EXIT_NOT_ANSWERING = 3
# Who a change made from a shell is, as the audit log names it: whoever holds the appliance's keys at its console.
CLI_ACTOR_TYPE, CLI_ACTOR_ID = "system", "cli"


def common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, metavar="FILE",
                        help="settings file to read instead of the installed ones (see `chatspark --help`)")
    common.add_argument("--data-dir", type=Path, metavar="DIR", help="data directory (databases, logs, certificates)")
    common.add_argument("--key-dir", type=Path, metavar="DIR", help="key directory (master key, keystore)")
    return common


def passphrase_option() -> argparse.ArgumentParser:
    """`--passphrase-file`, for the commands that open the keys."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--passphrase-file", type=Path, metavar="FILE", help="passphrase for a wrapped master key")
    return parent


def settings_from(args: argparse.Namespace) -> settings_module.Settings:
    """Settings for a command: the settings files it finds (see settings.settings_files) and the environment, then
    the flags the command was given."""
    overrides = {name: getattr(args, name, None)
                 for name in ("data_dir", "key_dir", "host", "port", "http_redirect_port", "passphrase_file",
                              "demo_site_port")}
    return settings_module.load(args.config, overrides=overrides, search=True)


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


def refuse_root_in_service_data(layout: Layout) -> None:
    """Root opening a data directory that belongs to the service's user would leave files (a database's -wal and
    -shm, a log) the service can no longer open; such commands are run as that user instead."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    try:
        owner = layout.data_dir.stat().st_uid
    except FileNotFoundError:
        return
    if owner != 0:
        try:
            name = pwd.getpwuid(owner).pw_name
        except KeyError:
            name = str(owner)
        raise errors.ConfigurationError(
            f"{layout.data_dir} belongs to {name}, and files this command made there as root would lock the service "
            f"out: run it as {name} (runuser -u {name} -- chatspark ...)")


def open_from(args: argparse.Namespace) -> tuple[Appliance, settings_module.Settings]:
    """Open the appliance a command names, asking for the passphrase only on a terminal."""
    settings = settings_from(args)
    layout = Layout.of(settings.data_dir, settings.key_dir)
    refuse_root_in_service_data(layout)
    passphrase = read_passphrase(settings.passphrase_file) if masterkey.is_wrapped(layout.key_dir) else None
    return open_appliance(layout, clock=SystemClock(), passphrase=passphrase), settings


@contextlib.contextmanager
def services_from(args: argparse.Namespace) -> Iterator[Services]:
    """The services of the appliance a command names; indexing stopped and the databases closed when done."""
    appliance, settings = open_from(args)
    try:
        services = build_services(appliance, settings)
        try:
            yield services
        finally:
            services.knowledge.close()
    finally:
        appliance.close()
