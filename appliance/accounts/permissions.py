"""Who may do what: workspace roles ranked owner > admin > editor > viewer, and what only operators may do.

`docs/permissions.md` is generated from these tables (`python -m appliance.accounts.permissions`); a test keeps them
equal.
"""

from __future__ import annotations

from appliance.errors import NotFound, PermissionDenied

ROLES = ("viewer", "editor", "admin", "owner")
_RANK = {role: rank for rank, role in enumerate(ROLES)}

# Workspace actions and the least role that may take them.
WORKSPACE_PERMISSIONS: dict[str, str] = {
    "workspace.read": "viewer",
    "members.read": "viewer",
    "agents.read": "viewer",
    "agents.ask": "viewer",
    "sources.read": "viewer",
    "analytics.read": "viewer",
    "agents.write": "editor",
    "sources.write": "editor",
    # Editors improve the agents from the questions people really asked.
    "conversations.read": "editor",
    "conversations.delete": "admin",
    # Leads are personal data: names, addresses, numbers.
    "leads.read": "admin",
    "leads.delete": "admin",
    "workspace.update": "admin",
    "members.manage": "admin",
    "invitations.read": "admin",
    "invitations.manage": "admin",
    "audit.read": "admin",
    # Keys are read apart from managed so that a cancelled (read-only) workspace still shows them.
    "api_keys.read": "admin",
    "api_keys.manage": "admin",
    # The whole workspace at once, leads included, encrypted to the caller's passphrase; also what a data-subject
    # export searches: the workspaces where the caller may take this action.
    "workspace.export": "admin",
    # Retention policies (with their preview), and the legal hold that suspends every purge.
    "retention.read": "admin",
    "retention.manage": "admin",
    "retention.hold": "admin",
    "workspace.transfer": "owner",
    # Cancelling the workspace (read-only, purged within 30 days) and undoing that before the purge.
    "workspace.cancel": "owner",
}

# What stays possible in a cancelled workspace, besides exports: reading, leaving, the legal hold, and undoing the
# cancellation. Every other action is refused with 409 until the owner undoes it.
ALLOWED_WHILE_CANCELLED = frozenset(
    {action for action in WORKSPACE_PERMISSIONS if action.endswith(".read")}
    | {"workspace.export", "retention.hold", "workspace.cancel"})
# What a legal hold refuses besides the purges (409), so that nothing in the workspace can be deleted on demand either.
BLOCKED_BY_LEGAL_HOLD = frozenset({"conversations.delete", "leads.delete"})

# Appliance actions, for operators only. Operators see that workspaces exist, never their content unless members.
OPERATOR_PERMISSIONS: dict[str, str] = {
    "workspaces.create": "create a workspace and name its owner",
    "workspaces.list_all": "list every workspace (name, status, owner), not its content",
    "users.list": "list every user account",
    "users.disable": "disable or re-enable an account (its sessions end)",
    "users.sessions": "see any account's sessions and end them",
    "audit.read_all": "read and export the whole audit log",
    "workspaces.purge_date": "see cancelled workspaces' purge dates and bring a purge earlier, never later",
    "workspaces.legal_hold": "put any workspace on legal hold, which suspends its purges, or lift the hold",
    "jobs.read": "see the scheduled jobs, each run's outcome and what it did",
    "jobs.run": "run a scheduled job now (refused while a run of it is going on)",
    "backups.create": "make a backup of every database now (restore is on the command line only)",
    "backups.read": "list the backups and read each one's verification results",
    "mail.read": "list the mail outbox and read a waiting mail whole, links and all (audited as mail.show)",
    "backups.verify": "verify a backup by restoring it into a scratch directory and checking it",
    "backups.prune": "delete the backups beyond the kept number (never the newest verified one)",
    "users.create": "create another appliance operator",
    "audit.verify": "walk the audit log's HMAC chain now and name the first altered, removed or inserted row",
    "appliance.overview": "see the appliance at a glance: health, certificate, sizes, free disk, jobs, backups, mail",
    "metrics.manage": "make, list and revoke the tokens a monitoring system scrapes /metrics with",
    "reports.compliance": "generate the compliance evidence report (each control measured now; audited)",
    "sso.manage": "configure single sign-on providers and map their groups to workspace roles",
}


def rank(role: str) -> int:
    return _RANK[role]


def outranks_or_equals(role: str, other: str) -> bool:
    return _RANK[role] >= _RANK[other]


def allowed(role: str) -> list[str]:
    """Every workspace action `role` may take, in the table's order (what /api/v1/me tells the panel)."""
    return [action for action, needed in WORKSPACE_PERMISSIONS.items() if _RANK[role] >= _RANK[needed]]


def check(role: str | None, action: str, *, workspace_id: str) -> None:
    """Raise NotFound for non-members (existence does not leak) and PermissionDenied for too small a role."""
    needed = WORKSPACE_PERMISSIONS[action]
    if role is None:
        raise NotFound(f"no workspace {workspace_id}")
    if _RANK[role] < _RANK[needed]:
        raise PermissionDenied(f"this needs the {needed} role in the workspace; you are {role}", role=role)


def markdown() -> str:
    lines = ["# Permissions", "",
             "Generated from `appliance/accounts/permissions.py` by `python -m appliance.accounts.permissions`; a test "
             "keeps the two equal and walks every endpoint with every role.", "",
             "## Workspace roles", "",
             "Roles rank owner > admin > editor > viewer; each may do what the roles below it may. A user who is not a "
             "member of a workspace gets 404 for everything in it, so its existence does not leak.", "",
             "| action | " + " | ".join(ROLES) + " |", "|---|" + "---|" * len(ROLES)]
    for action, needed in WORKSPACE_PERMISSIONS.items():
        cells = ["yes" if _RANK[role] >= _RANK[needed] else "no" for role in ROLES]
        lines.append(f"| `{action}` | " + " | ".join(cells) + " |")
    lines += ["", "Exports need the read permission of what they export; an API key needs its `export` scope as well.",
              "A workspace export (`workspace.export`) needs, of an API key, every read scope besides `export`; a "
              "data-subject export (`POST /api/v1/subject-exports`, people only) searches the workspaces where the "
              "caller may take `workspace.export`.",
              "", "A cancelled workspace is read-only until its owner undoes the cancellation: only "
              + ", ".join(f"`{a}`" for a in sorted(ALLOWED_WHILE_CANCELLED)) + " and exports are allowed; "
              "every other action answers 409.", "",
              "A workspace on legal hold is never purged, and "
              + ", ".join(f"`{a}`" for a in sorted(BLOCKED_BY_LEGAL_HOLD)) + " answer 409 until the hold is lifted.",
              "", "## Appliance operators", "",
              "Operators manage the appliance. They are not members of any workspace by being operators.", "",
              "| action | what |", "|---|---|"]
    lines += [f"| `{action}` | {what} |" for action, what in OPERATOR_PERMISSIONS.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
