"""`chatspark demo create`: a demo workspace with an agent trained on shipped demo content, and a demo intranet page
that embeds its widget from a second origin, for `make run`."""

from __future__ import annotations

import argparse
import html
import os
from pathlib import Path

from appliance import resources
from appliance.errors import ValidationError
from appliance.services import build_services, public_url
from server.cli.options import open_from

DEMO_NAME = "Northwind demo"
SUGGESTED = ["How many days of leave do I get?", "Where do visitors park?", "How do I reach the IT help desk?"]


def demo_content_dir() -> Path:
    return resources.config_dir() / "demo"


def site_origins(port: int) -> list[str]:
    """The origins a browser may show for the demo page on this machine."""
    return [f"https://localhost:{port}", f"https://127.0.0.1:{port}"]


def write_site(target: Path, *, appliance_url: str, site_origin: str, public_id: str) -> str:
    """Fill the demo site's templates with the agent's embed snippet (returned); the files are replaced whole."""
    from server.widget import embed_snippet  # Flask only when the command runs, not for `chatspark --help`

    target.mkdir(mode=0o700, exist_ok=True)
    tag = embed_snippet(appliance_url, public_id)
    values = {"{{SNIPPET}}": tag, "{{SNIPPET_TEXT}}": html.escape(tag),
              "{{SITE_ORIGIN}}": html.escape(site_origin), "{{APPLIANCE_URL}}": html.escape(appliance_url)}
    for template in sorted((demo_content_dir() / "site").iterdir()):
        text = template.read_text(encoding="utf-8")
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        path = target / template.name
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    return tag


def register(commands, common: argparse.ArgumentParser) -> None:
    demo = commands.add_parser("demo", help="demo workspace for trying the appliance")
    actions = demo.add_subparsers(dest="demo_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", parents=[common], help="create the demo workspace (once)",
                                description="Create a workspace owned by OWNER with an agent trained on the demo "
                                            "content in config/demo; if it exists, only refresh the demo page.")
    create.add_argument("--owner-email", required=True, metavar="OWNER", help="an existing account to own it")
    create.add_argument("--site-port", type=int, default=0, metavar="PORT",
                        help="write the demo intranet page for `serve --demo-site-port PORT` and allow its origin")
    create.add_argument("--appliance-url", metavar="URL",
                        help="the appliance's URL as browsers reach it (default: from public_host and port)")
    create.set_defaults(handler=_create)


def _create(args: argparse.Namespace) -> int:
    appliance, settings = open_from(args)
    services = build_services(appliance, settings)
    try:
        existing = [w for w in services.workspaces.list_all() if w.name == DEMO_NAME]
        if existing:
            workspace = existing[0]
            agent = services.agents.of(workspace.id).list()[0]
            print(f"Demo workspace exists: {workspace.id}")
        else:
            owner = services.users.find_by_email(args.owner_email)
            if owner is None:
                raise ValidationError(f"no account uses {args.owner_email}; create it first")
            workspace = services.workspaces.create(name=DEMO_NAME, owner_id=owner.id, actor_id=owner.id,
                                                   client_address=None)
            sources = services.knowledge.sources(workspace.id)
            for path in sorted(demo_content_dir().glob("*.md")):
                sources.add_file(filename=path.name, data=path.read_bytes(), media_type="text/markdown")
            agent = services.agents.of(workspace.id).create({
                "name": "Northwind helper", "welcome_message": "Hi! Ask me about working at Northwind.",
                "suggested_questions": SUGGESTED, "color": "#14324a",
                "lead_fields": [{"name": "name", "label": "Name", "required": True},
                                {"name": "email", "label": "Work email", "required": True},
                                {"name": "phone", "label": "Phone"},
                                {"name": "question", "label": "What do you need help with?", "type": "textarea"}],
            })
            services.knowledge.wait_idle(120)
            print(f"Demo workspace {workspace.id} with agent {agent.id} ({agent.name}), trained on "
                  f"{len(sources.list())} demo document(s)")
        print(f"Ask it: POST /api/v1/workspaces/{workspace.id}/agents/{agent.id}/ask")
        if args.site_port:
            origins = site_origins(args.site_port)
            wanted = agent.allowed_origins + [o for o in origins if o not in agent.allowed_origins]
            if wanted != agent.allowed_origins:
                services.agents.of(workspace.id).update(agent.id, {"allowed_origins": wanted})
            appliance_url = args.appliance_url or public_url(settings)
            page = write_site(appliance.layout.demo_site_dir, appliance_url=appliance_url, site_origin=origins[0],
                              public_id=agent.public_id)
            print(f"Demo intranet page: {origins[0]}/ (embeds {page})")
        return 0
    finally:
        services.knowledge.close()
        appliance.close()
