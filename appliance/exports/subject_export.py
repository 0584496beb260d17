"""Everything the appliance holds about one email address (a data-subject access request): leads, the conversations
linked to them or held by the same widget visitor, and the account with that address if there is one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from appliance.accounts.users import check_email
from appliance.audit.log import MAX_PAGE, AuditLog
from appliance.clock import Clock
from appliance.conversations.records import ConversationRecords
from appliance.errors import NotFound
from appliance.exports import queries
from appliance.storage.database import Database
from appliance.storage.workspace_files import WorkspaceDatabases
from appliance.workspaces.service import Workspace

# How much of an account a subject export shows: all of it (operators, or the person asking about themselves), or
# only what lies in the workspaces searched, so one workspace's admins learn nothing of the person's other workspaces.
APPLIANCE, WORKSPACES = "appliance", "workspaces"
ACCOUNT_SCOPES = (APPLIANCE, WORKSPACES)


def subject_email(email: object) -> str:
    """The address to search for, checked and lower-cased (leads store it so, accounts compare without case)."""
    return check_email(email if isinstance(email, str) else "").lower()


def subject_hash(email: str) -> str:
    """How the audit log names a data subject: the SHA-256 of the lower-cased address, never the address."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


@dataclass
class SubjectDocument:
    document: dict
    counts: dict[str, int]
    per_workspace: dict[str, dict[str, int]] = field(default_factory=dict)   # only workspaces where something was found


class SubjectSearch:
    def __init__(self, control_db: Database, *, files: WorkspaceDatabases, audit: AuditLog, clock: Clock) -> None:
        self._db = control_db
        self._files = files
        self._audit = audit
        self._clock = clock

    def collect(self, email: str, workspaces: list[Workspace], *, account_scope: str) -> SubjectDocument:
        """The JSON document of everything about `email` (lower-cased) in `workspaces`, and what it counts."""
        if account_scope not in ACCOUNT_SCOPES:
            raise ValueError(f"account_scope is one of {ACCOUNT_SCOPES}")
        found, per_workspace = [], {}
        for workspace in workspaces:
            part = self._in_workspace(email, workspace)
            if part["leads"] or part["conversations"]:
                found.append(part)
                per_workspace[workspace.id] = {"leads": len(part["leads"]),
                                               "conversations": len(part["conversations"])}
        searched = {w.id for w in workspaces}
        account = self._account(email, searched, account_scope)
        counts = {"workspaces_searched": len(workspaces), "workspaces_found": len(found),
                  "leads": sum(c["leads"] for c in per_workspace.values()),
                  "conversations": sum(c["conversations"] for c in per_workspace.values()),
                  "account": int(account is not None)}
        document = {"email": email, "account_scope": account_scope,
                    "workspaces_searched": [{"id": w.id, "name": w.name} for w in workspaces],
                    "workspaces": found, "account": account}
        return SubjectDocument(document, counts, per_workspace)

    def _in_workspace(self, email: str, workspace: Workspace) -> dict:
        db = self._files.open(workspace.id)
        with db.snapshot():
            leads = queries.leads_with_email(db, email)
            linked = queries.conversations_of(db, ids=[lead.conversation_id for lead in leads if lead.conversation_id])
            visitors = sorted({c.visitor_id for c in linked if c.visitor_id})
            held = {c.id: c for c in queries.conversations_of_visitors(db, visitors)} if visitors else {}
            conversations = {**held, **{c.id: c for c in linked}}
            linked_ids = {c.id for c in linked}
            records = ConversationRecords(db, clock=self._clock)
            transcripts = []
            for conversation_id, conversation in conversations.items():
                try:
                    transcript = records.get(conversation_id)
                except NotFound:  # gone between the two reads
                    continue
                # Without the conversation's leads: those of other addresses are not this person's data.
                transcripts.append({**transcript.public(with_leads=False), "visitor_id": conversation.visitor_id,
                                    "client_address": conversation.client_address,
                                    "found_by": "lead" if conversation_id in linked_ids else "same_visitor"})
        transcripts.sort(key=lambda t: (t["started_at"], t["id"]))
        return {"id": workspace.id, "name": workspace.name, "leads": [lead.public() for lead in leads],
                "conversations": transcripts}

    def _account(self, email: str, workspace_ids: set[str], scope: str) -> dict | None:
        user = queries.user_with_email(self._db, email)
        if user is None:
            return None
        memberships = queries.memberships_of(self._db, user.id)
        if scope == WORKSPACES:
            memberships = [m for m in memberships if m.workspace_id in workspace_ids]
            if not memberships:  # the account is no business of these workspaces
                return None
        account = {"email": user.email, "display_name": user.display_name, "created_at": user.created_at,
                   "email_verified": user.email_verified, "second_factor": user.second_factor,
                   "status": user.status, "is_operator": user.is_operator,
                   "memberships": [{"workspace_id": m.workspace_id, "workspace_name": m.workspace_name,
                                    "role": m.role, "joined_at": m.joined_at} for m in memberships],
                   "audit_events": self._events(user.id, None if scope == APPLIANCE else workspace_ids)}
        if scope == APPLIANCE:
            account["sessions"] = [s.public() for s in queries.sessions_of(self._db, user.id)]
        return account

    def _events(self, user_id: str, workspace_ids: set[str] | None) -> list[dict]:
        """Every audit event the account was the actor of (within `workspace_ids` when given), oldest first."""
        events, after = [], None
        while True:
            page = self._audit.events(actor_id=user_id, after_seq=after, limit=MAX_PAGE)
            events += [{"seq": e.seq, "at": e.at, "action": e.action, "outcome": e.outcome,
                        "target_type": e.target_type, "target_id": e.target_id, "workspace_id": e.workspace_id,
                        "client_address": e.client_address, "details": e.details}
                       for e in page if workspace_ids is None or e.workspace_id in workspace_ids]
            if len(page) < MAX_PAGE:
                return events
            after = page[-1].seq
