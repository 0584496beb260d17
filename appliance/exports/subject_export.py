"""Everything the appliance holds about one email address (a data-subject access request): what erasure would
delete, found by the same matcher (leads, the conversations linked to them or held by the same widget visitor, the
conversations where a visitor wrote it), and the account with that address if there is one."""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.accounts.users import check_email
from appliance.audit.log import MAX_PAGE, AuditLog
from appliance.clock import Clock
from appliance.conversations import subjects
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
    """The address to search for, checked, then normalised as erasure matches it (subjects.subject_address)."""
    return subjects.subject_address(check_email(email if isinstance(email, str) else ""))


def subject_hash(email: str) -> str:
    """How the audit log names a data subject: the SHA-256 of the address as matched, never the address."""
    return subjects.subject_hash(email)


# What brought a conversation in, by the field of its first match.
_FOUND_BY = {"lead": "lead", "visitor": "same_visitor", "messages": "message"}


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
            # The very records an erasure for this address would delete, each with why it matched.
            found = subjects.find_subject(db.connection, email)
            leads = subjects.leads_of(db, found.leads)
            records = ConversationRecords(db, clock=self._clock)
            transcripts = []
            for conversation in queries.conversations_of(db, ids=found.conversations):
                try:
                    transcript = records.get(conversation.id)
                except NotFound:  # gone between the two reads
                    continue
                matched_in = found.fields_of("conversation", conversation.id)
                # Without the conversation's leads: those of other addresses are not this person's data.
                transcripts.append({**transcript.public(with_leads=False), "visitor_id": conversation.visitor_id,
                                    "client_address": conversation.client_address,
                                    "found_by": _FOUND_BY[matched_in[0].split(".", 1)[0]], "matched_in": matched_in})
        transcripts.sort(key=lambda t: (t["started_at"], t["id"]))
        return {"id": workspace.id, "name": workspace.name,
                "leads": [{**lead.public(), "matched_in": found.fields_of("lead", lead.id)} for lead in leads],
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
