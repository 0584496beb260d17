"""`chatspark mail outbox|show`: the mail waiting in the outbox, and one message printed whole, so that without a mail
relay an operator can pass an invitation or password-reset link on by hand."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from appliance.clock import isoformat
from appliance.mail.outbox import reveal
from server.cli.options import CLI_ACTOR_ID, CLI_ACTOR_TYPE, passphrase_option, services_from

STATES = {"pending": "waiting", "failed": "failed", "sent": "sent"}


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    mail = commands.add_parser("mail", help="the mail outbox: what waits, and one message whole",
                               description="Mail leaves through an outbox that a job sends to the SMTP relay "
                                           "(smtp_host). Without a relay it waits there: list it, and print a "
                                           "message to pass its link on.")
    actions = mail.add_subparsers(dest="mail_command", required=True, metavar="ACTION")
    opened = [common, passphrase_option()]

    outbox = actions.add_parser("outbox", parents=opened, help="mail not delivered yet, newest first",
                                description="Mail waiting to be sent or given up on, newest first: id, state, age, "
                                            "attempts, recipient, subject and the last error.")
    outbox.add_argument("--all", action="store_true", help="delivered mail too (without its body)")
    outbox.add_argument("--limit", type=_positive, default=50, metavar="N", help="at most N mails (default 50)")
    outbox.add_argument("--json", action="store_true", help="print a JSON array")
    outbox.set_defaults(handler=_outbox)

    show = actions.add_parser("show", parents=opened, help="print one queued mail with its links",
                              description="Print a mail that was not delivered, body and links included (an "
                                          "invitation, a password reset, an address confirmation), for the operator "
                                          "to pass on to its recipient alone. Audited as mail.show.")
    show.add_argument("mail_id", type=int, metavar="ID", help="the mail's id, from `chatspark mail outbox`")
    show.add_argument("--json", action="store_true", help="print it as JSON")
    show.set_defaults(handler=_show)


def _outbox(args: argparse.Namespace) -> int:
    with services_from(args) as services:
        entries = services.outbox.recent(args.limit, unsent=not args.all)
        now = services.appliance.clock.now()
        relay = services.outbox.relay is not None
    if args.json:
        print(json.dumps([e.public(now=now) for e in entries], indent=2, ensure_ascii=False))
        return 0
    if not entries:
        print("the outbox is empty" if args.all else "no mail waiting")
    for e in entries:
        print(f"{e.id:>6}  {STATES.get(e.status, e.status):<7}  {_age(now - e.created_at):>9} ago  "
              f"{e.attempts} attempt(s)  {e.recipient:<32}  {e.subject}")
        if e.last_error and e.status != "sent":
            print(f"        last error: {e.last_error}")
    if entries and not relay and not args.all:
        print("No mail relay is set (smtp_host), so this mail waits here: `chatspark mail show ID` prints one to "
              "pass its link on.")
    return 0


def _show(args: argparse.Namespace) -> int:
    with services_from(args) as services:
        mail = reveal(services.outbox, services.audit, args.mail_id, actor_type=CLI_ACTOR_TYPE,
                      actor_id=CLI_ACTOR_ID)
        entry = mail.entry
        now = services.appliance.clock.now()
    if args.json:
        print(json.dumps({**entry.public(now=now), "body": mail.body}, indent=2, ensure_ascii=False))
        return 0
    print(f"Mail {entry.id}, {STATES.get(entry.status, entry.status)}, queued {isoformat(entry.created_at)} "
          f"({_age(now - entry.created_at)} ago), {entry.attempts} attempt(s)")
    print(f"To:      {entry.recipient}")
    print(f"Subject: {entry.subject}")
    print()
    print(mail.body.rstrip("\n"))
    print()
    print(f"Pass it to {entry.recipient} alone: its links act for them.")
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _age(elapsed: dt.timedelta) -> str:
    seconds = max(0, int(elapsed.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"
