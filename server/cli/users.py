"""`chatspark users ...`: accounts from the command line, for whoever holds the appliance's keys."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from pathlib import Path

from appliance.accounts.passwords import PasswordPolicy, default_common_passwords_path, load_common_passwords
from appliance.accounts.users import check_email
from appliance.errors import ConfigurationError, ValidationError
from appliance.services import build_services
from server.cli.options import open_from


def add_password_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password-file", type=Path, metavar="FILE",
                        help="read the new account's password from FILE (for unattended installs)")
    parser.add_argument("--generate-password", action="store_true",
                        help="generate a strong password and print it once")


def register(commands, common: argparse.ArgumentParser) -> None:
    users = commands.add_parser("users", help="manage accounts from the command line")
    actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    create = actions.add_parser("create-operator", parents=[common], help="add an appliance operator",
                                description="Create an active appliance operator. The password comes from "
                                            "--password-file, is asked for on a terminal, or is generated with "
                                            "--generate-password and printed once.")
    create.add_argument("--email", required=True, help="the operator's email address")
    create.add_argument("--name", default="", help="display name")
    add_password_options(create)
    create.set_defaults(handler=_create_operator)


def new_password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password to set and whether it was generated (and so must be printed)."""
    if args.password_file:
        try:
            password = Path(args.password_file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigurationError(f"cannot read password file {args.password_file}: {exc.strerror}") from None
        if not password:
            raise ValidationError(f"password file {args.password_file} is empty")
        return password, False
    if args.generate_password:
        return secrets.token_urlsafe(18), True
    if not sys.stdin.isatty():
        raise ConfigurationError("standard input is not a terminal: give --password-file FILE or --generate-password")
    password = getpass.getpass("Password for the operator (empty: generate one): ")
    if not password:
        return secrets.token_urlsafe(18), True
    if getpass.getpass("Repeat it: ") != password:
        raise ValidationError("the two passwords differ; nothing was created")
    return password, False


def checked_operator_password(email: str, args: argparse.Namespace) -> tuple[str, bool]:
    """The new operator's password, already checked against the policy for this address."""
    password, generated = new_password(args)
    PasswordPolicy(load_common_passwords(default_common_passwords_path())).check(password, email=check_email(email),
                                                                                 context=(getattr(args, "name", ""),))
    return password, generated


def create_operator(appliance, settings, *, email: str, name: str, password: tuple[str, bool]) -> None:
    secret, generated = password
    user = build_services(appliance, settings).users.create_operator(email=email, password=secret,
                                                                     display_name=name)
    print(f"Operator {user.email} created (id {user.id}).")
    if generated:
        print(f"Password (shown only now): {secret}")


def _create_operator(args: argparse.Namespace) -> int:

    password = checked_operator_password(args.email, args)
    appliance, settings = open_from(args)
    try:
        create_operator(appliance, settings, email=args.email, name=args.name, password=password)
    finally:
        appliance.close()
    return 0
