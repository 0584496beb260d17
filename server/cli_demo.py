"""`chatspark demo create`: a demo workspace with an agent trained on shipped demo content, for `make run`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appliance.errors import ValidationError
from appliance.services import build_services

DEMO_NAME = "Northwind demo"
SUGGESTED = ["How many days of leave do I get?", "Where do visitors park?", "How do I reach the IT help desk?"]


def demo_content_dir() -> Path:
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent.parent))
    return base / "config" / "demo"


def register(commands, common: argparse.ArgumentParser) -> None:
    demo = commands.add_parser("demo", help="demo workspace for trying the appliance")
    actions = demo.add_subparsers(dest="demo_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", parents=[common], help="create the demo workspace (once)",
                                description="Create a workspace owned by OWNER with an agent trained on the demo "
                                            "content in config/demo; does nothing if it exists already.")
    create.add_argument("--owner-email", required=True, metavar="OWNER", help="an existing account to own it")
    create.set_defaults(handler=_create)


def _create(args: argparse.Namespace) -> int:
    from server.cli import open_from

    appliance, settings = open_from(args)
    services = build_services(appliance, settings)
    try:
        existing = [w for w in services.workspaces.list_all() if w.name == DEMO_NAME]
        if existing:
            print(f"Demo workspace exists: {existing[0].id}")
            return 0
        owner = services.users.find_by_email(args.owner_email)
        if owner is None:
            raise ValidationError(f"no account uses {args.owner_email}; create it first")
        workspace = services.workspaces.create(name=DEMO_NAME, owner_id=owner.id, actor_id=owner.id,
                                               client_address=None)
        sources = services.knowledge.sources(workspace.id)
        for path in sorted(demo_content_dir().glob("*.md")):
            sources.add_file(filename=path.name, data=path.read_bytes(), media_type="text/markdown")
        agent = services.knowledge.agents(workspace.id).create({
            "name": "Northwind helper", "welcome_message": "Hi! Ask me about working at Northwind.",
            "suggested_questions": SUGGESTED,
        })
        services.knowledge.wait_idle(120)
        print(f"Demo workspace {workspace.id} with agent {agent.id} ({agent.name}), trained on "
              f"{len(sources.list())} demo document(s)")
        print(f"Ask it: POST /api/v1/workspaces/{workspace.id}/agents/{agent.id}/ask")
        return 0
    finally:
        services.knowledge.close()
        appliance.close()
