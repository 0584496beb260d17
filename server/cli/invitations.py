"""`chatspark invitations list`: the invitations of every workspace (or one), and what became of each."""

from __future__ import annotations

import argparse
import json

from appliance.clock import isoformat
from appliance.workspaces.invitations import Invitation
from server.cli.options import passphrase_option, services_from

STATES = ("pending", "accepted", "revoked", "expired")


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    invitations = commands.add_parser("invitations", help="list the invitations to workspaces",
                                      description="Invitations to join workspaces, newest first.")
    actions = invitations.add_subparsers(dest="invitations_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[common, passphrase_option()], help="invitations, newest first",
                                 description="The invitations of every workspace, or of one: who was invited, with "
                                             "which role, by whom, and whether it is pending, accepted, revoked or "
                                             "expired. Without a mail relay, `chatspark mail outbox` holds their "
                                             "links.")
    listing.add_argument("--workspace", metavar="ID", help="only the invitations to workspace ID")
    listing.add_argument("--status", choices=STATES, help="only invitations in this state")
    listing.add_argument("--json", action="store_true",
                         help="print a JSON array (each as the API shows it, with its status)")
    listing.set_defaults(handler=_list)


def state_of(invitation: Invitation, *, now: str) -> str:
    if invitation.accepted_at:
        return "accepted"
    if invitation.revoked_at:
        return "revoked"
    return "expired" if invitation.expires_at <= now else "pending"


def _list(args: argparse.Namespace) -> int:
    with services_from(args) as services:
        workspaces = ([services.workspaces.get(args.workspace)] if args.workspace
                      else services.workspaces.list_all())
        now = isoformat(services.appliance.clock.now())
        found = [(w, i, state_of(i, now=now)) for w in workspaces for i in services.invitations.list(w.id)]
        relay = services.outbox.relay is not None
    found = [entry for entry in found if args.status in (None, entry[2])]
    found.sort(key=lambda entry: entry[1].created_at, reverse=True)
    if args.json:
        print(json.dumps([{**i.public(), "status": state, "workspace_name": w.name} for w, i, state in found],
                         indent=2, ensure_ascii=False))
        return 0
    if not found:
        print("no invitations" + (f" {args.status}" if args.status else ""))
    for w, i, state in found:
        print(f"{i.id}  {i.created_at}  {state:<8}  {i.email:<32}  {i.role:<6}  {w.name} ({w.id})"
              + (f"  expires {i.expires_at}" if state == "pending" else ""))
    if not relay and any(state == "pending" for _, _, state in found):
        print("No mail relay is set: `chatspark mail outbox` lists the invitation mails, and `chatspark mail show ID` "
              "prints one's link to pass on.")
    return 0
