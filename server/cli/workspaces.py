"""`chatspark workspaces list|create|cancel`: the appliance's workspaces from a shell, through the services the API
uses, each change audited with the CLI as its actor."""

from __future__ import annotations

import argparse
import json

from appliance.accounts.users import check_email
from appliance.errors import ValidationError
from appliance.retention.service import Actor
from appliance.workspaces.service import Workspace
from server.cli.options import CLI_ACTOR_ID, CLI_ACTOR_TYPE, passphrase_option, services_from

CLI = Actor(CLI_ACTOR_TYPE, CLI_ACTOR_ID)


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    workspaces = commands.add_parser("workspaces", help="list, create and cancel workspaces",
                                     description="Every workspace of the appliance, as operators see them.")
    actions = workspaces.add_subparsers(dest="workspaces_command", required=True, metavar="ACTION")
    opened = [common, passphrase_option()]

    listing = actions.add_parser("list", parents=opened, help="every workspace, oldest first",
                                 description="Every workspace: id, status, name, owner, when it was created and, "
                                             "for a cancelled one, when it is purged.")
    listing.add_argument("--status", choices=("active", "cancelled"), help="only workspaces in this state")
    listing.add_argument("--json", action="store_true", help="print a JSON array (each as the API shows it)")
    listing.set_defaults(handler=_list)

    create = actions.add_parser("create", parents=opened, help="create a workspace with its owner",
                                description="Create a workspace owned by an existing, enabled account, with its own "
                                            "encrypted database. Audited as workspace.create by the CLI.")
    create.add_argument("--name", required=True, help="the workspace's name (one line of printable text)")
    create.add_argument("--owner-email", required=True, metavar="EMAIL",
                        help="the account that owns it (invite others once it exists)")
    create.add_argument("--json", action="store_true", help="print the new workspace as JSON")
    create.set_defaults(handler=_create)

    cancel = actions.add_parser("cancel", parents=opened, help="cancel a workspace (read-only, purged later)",
                                description="Cancel a workspace: it turns read-only at once (exports still work) and "
                                            "is purged with its key at the purge date, unless its owner undoes the "
                                            "cancellation first. The owner is mailed; audited as workspace.cancel.")
    cancel.add_argument("workspace_id", metavar="ID", help="the workspace's id, from `chatspark workspaces list`")
    cancel.add_argument("--json", action="store_true", help="print the cancellation as JSON")
    cancel.set_defaults(handler=_cancel)


def workspace_json(workspace: Workspace) -> dict:
    """A workspace as GET /api/v1/workspaces?all=1 shows it to an operator."""
    return workspace.public(with_hold=True)


def _list(args: argparse.Namespace) -> int:
    with services_from(args) as services:
        found = [w for w in services.workspaces.list_all() if args.status in (None, w.status)]
    if args.json:
        print(json.dumps([workspace_json(w) for w in found], indent=2, ensure_ascii=False))
        return 0
    if not found:
        print("no workspaces yet; create one with `chatspark workspaces create --name NAME --owner-email EMAIL`"
              if args.status is None else f"no {args.status} workspaces")
    for w in found:
        state = f"cancelled, purged after {w.purge_after}" if w.status == "cancelled" else w.status
        hold = "  (legal hold)" if w.legal_hold_since else ""
        print(f"{w.id}  {w.created_at}  {w.owner_email or '-':<30}  {w.name}  [{state}]{hold}")
    return 0


def _create(args: argparse.Namespace) -> int:
    email = check_email(args.owner_email, field="--owner-email")
    with services_from(args) as services:
        owner = services.users.find_by_email(email)
        if owner is None:
            raise ValidationError(f"--owner-email: no account uses {email}; create it first (`chatspark users "
                                  "create-operator`, or invite it to another workspace)")
        workspace = services.workspaces.create(name=args.name, owner_id=owner.id, actor_type=CLI.type,
                                               actor_id=CLI.id, client_address=None)
    if args.json:
        print(json.dumps(workspace_json(workspace), indent=2, ensure_ascii=False))
    else:
        print(f"Workspace {workspace.id} ({workspace.name}) created, owned by {workspace.owner_email}.")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    with services_from(args) as services:
        workspace = services.workspaces.get(args.workspace_id)
        cancellation = services.cancellation.cancel(workspace.id, actor=CLI)
    if args.json:
        print(json.dumps(cancellation.public(), indent=2))
    else:
        print(f"Workspace {workspace.id} ({workspace.name}) is cancelled: read-only from now on, and purged after "
              f"{cancellation.purge_after} (UTC) unless its owner undoes it first. {workspace.owner_email} was "
              "mailed.")
    return 0
