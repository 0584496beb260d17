"""`chatspark users ...`: accounts from the command line, for whoever holds the appliance's keys: operators made,
accounts listed, disabled, enabled and signed out everywhere, through the services the API uses (audited as the
CLI)."""

from __future__ import annotations

import argparse
import getpass
import json
import secrets
import sys
from pathlib import Path

from appliance.accounts.passwords import PasswordPolicy, default_common_passwords_path, load_common_passwords
from appliance.accounts.users import User, check_email
from appliance.errors import ConfigurationError, NotFound, ValidationError
from appliance.services import Services, build_services
from server.cli.options import CLI_ACTOR_ID, CLI_ACTOR_TYPE, open_from, passphrase_option, services_from


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

    opened = [common, passphrase_option()]
    listing = actions.add_parser("list", parents=opened, help="every account, oldest first",
                                 description="Every account: id, email, status (active, pending, disabled), whether "
                                             "it is an operator and has a second factor, and its display name.")
    listing.add_argument("--json", action="store_true", help="print a JSON array (each as the API shows it)")
    listing.set_defaults(handler=_list)

    disable = actions.add_parser("disable", parents=opened, help="disable an account and end its sessions",
                                 description="Disable an account: it can no longer log in, its sessions end at once, "
                                             "and the API keys that answer to it are revoked, or handed to "
                                             "--hand-api-keys-to. Audited as user.disable by the CLI.")
    disable.add_argument("user", metavar="USER", help="the account's email address or id")
    disable.add_argument("--hand-api-keys-to", metavar="USER",
                         help="hand its API keys to this member (email or id) instead of revoking them")
    disable.set_defaults(handler=_disable)

    enable = actions.add_parser("enable", parents=opened, help="enable a disabled account again",
                                description="Let a disabled account log in again (revoked API keys stay revoked). "
                                            "Audited as user.enable by the CLI.")
    enable.add_argument("user", metavar="USER", help="the account's email address or id")
    enable.set_defaults(handler=_enable)

    end = actions.add_parser("end-sessions", parents=opened, help="sign an account out everywhere",
                             description="End every session of an account (it may log in again). Audited as "
                                         "session.end_all by the CLI.")
    end.add_argument("user", metavar="USER", help="the account's email address or id")
    end.set_defaults(handler=_end_sessions)


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


def find_user(services: Services, given: str) -> User:
    """The account named by its email address or its id."""
    user = services.users.find_by_email(given.strip()) if "@" in given else None
    if user is None and "@" not in given:
        try:
            user = services.users.get(given.strip())
        except NotFound:
            user = None
    if user is None:
        raise NotFound(f"no account {given}; `chatspark users list` shows them")
    return user


def _list(args: argparse.Namespace) -> int:
    with services_from(args) as services:
        users = services.users.list_all()
    if args.json:
        print(json.dumps([u.public() for u in users], indent=2, ensure_ascii=False))
        return 0
    for u in users:
        flags = ", ".join(f for f, on in (("operator", u.is_operator), ("second factor", u.second_factor)) if on)
        print(f"{u.id}  {u.status:<8}  {u.email:<32}  {u.display_name or '-'}" + (f"  ({flags})" if flags else ""))
    if not users:
        print("no accounts yet; add an operator with `chatspark users create-operator --email EMAIL`")
    return 0


def _disable(args: argparse.Namespace) -> int:
    with services_from(args) as services:
        user = find_user(services, args.user)
        heir = find_user(services, args.hand_api_keys_to).id if args.hand_api_keys_to else None
        change = services.users.set_disabled(user.id, disabled=True, actor_type=CLI_ACTOR_TYPE, actor_id=CLI_ACTOR_ID,
                                             client_address=None, hand_api_keys_to=heir)
    print(f"{user.email} is disabled; its sessions have ended.")
    for key in change.api_keys:
        fate = f"handed to {args.hand_api_keys_to}" if key.outcome == "handed_over" else "revoked"
        print(f"  API key {key.id} ({key.name}): {fate}")
    return 0


def _enable(args: argparse.Namespace) -> int:
    with services_from(args) as services:
        user = find_user(services, args.user)
        change = services.users.set_disabled(user.id, disabled=False, actor_type=CLI_ACTOR_TYPE,
                                             actor_id=CLI_ACTOR_ID, client_address=None)
    print(f"{user.email} is enabled ({change.user.status}).")
    return 0


def _end_sessions(args: argparse.Namespace) -> int:
    with services_from(args) as services:
        user = find_user(services, args.user)
        ended = services.auth.end_all_sessions(user.id, actor_type=CLI_ACTOR_TYPE, actor_id=CLI_ACTOR_ID,
                                               client_address=None)
    print(f"Ended {ended} session(s) of {user.email}.")
    return 0
