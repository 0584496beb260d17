"""Which screens the signed-in person sees, from what the API says their account and roles allow (never guessed):
the appliance's pages for operators, each workspace's pages as far as the role there permits, and their account."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from gui.context import PanelContext


@dataclass(frozen=True)
class Destination:
    key: str                      # stable: "jobs", or "team:<workspace id>"
    label: str
    page: str                     # "module:Class" of the Page, imported when first opened
    workspace_id: str | None = None

    def page_class(self):
        module, name = self.page.split(":")
        return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Section:
    label: str
    destinations: list[Destination]


APPLIANCE = [
    ("overview", "Overview", "gui.views.overview:OverviewPage"),
    ("workspaces", "Workspaces", "gui.views.workspaces:WorkspacesPage"),
    ("users", "Users", "gui.views.users:UsersPage"),
    ("sign_in_providers", "Sign-in providers", "gui.views.sso_providers:SsoProvidersPage"),
    ("backups", "Backups", "gui.views.backups:BackupsPage"),
    ("jobs", "Jobs", "gui.views.jobs:JobsPage"),
    ("outbox", "Mail outbox", "gui.views.outbox:OutboxPage"),
    ("audit", "Audit log", "gui.views.audit:AuditPage"),
]
# A workspace's pages and the permission each needs (from /api/v1/me's permissions for the caller's role there).
WORKSPACE = [
    ("agents", "Agents", "gui.views.agents:AgentsPage", "agents.read"),
    ("sources", "Training data", "gui.views.sources:SourcesPage", "sources.read"),
    ("playground", "Playground", "gui.views.playground:PlaygroundPage", "agents.ask"),
    ("conversations", "Conversations", "gui.views.conversations:ConversationsPage", "conversations.read"),
    ("leads", "Leads", "gui.views.leads:LeadsPage", "leads.read"),
    ("analytics", "Analytics", "gui.views.analytics:AnalyticsPage", "analytics.read"),
    ("retention", "Retention & requests", "gui.views.retention:RetentionPage", "retention.read"),
    ("team", "Team", "gui.views.team:TeamPage", "members.read"),
    ("api_keys", "API keys", "gui.views.api_keys:ApiKeysPage", "api_keys.read"),
    ("workspace_audit", "Audit trail", "gui.views.audit:WorkspaceAuditPage", "audit.read"),
]
ACCOUNT = Destination("account", "My account", "gui.views.account:AccountPage")


def sections(context: PanelContext) -> list[Section]:
    found = []
    if context.is_operator:
        found.append(Section("Appliance", [Destination(key, label, page) for key, label, page in APPLIANCE]))
    else:
        found.append(Section("Appliance", [Destination("workspaces", "Workspaces", "gui.views.workspaces:"
                                                       "WorkspacesPage")]))
    for membership in sorted(context.memberships(), key=lambda m: m["name"].lower()):
        pages = [Destination(f"{key}:{membership['id']}", label, page, membership["id"])
                 for key, label, page, needs in WORKSPACE if needs in membership.get("permissions", [])]
        if pages:
            status = " (cancelled)" if membership.get("status") == "cancelled" else ""
            found.append(Section(f"{membership['name']}{status}", pages))
    found.append(Section("You", [ACCOUNT]))
    return found
