"""Invitations to a workspace: mailed, single use, expiring, bound to the invited address, never above the inviter."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from appliance.accounts import messages
from appliance.accounts.permissions import outranks_or_equals
from appliance.accounts.tokens import new_token, token_hash
from appliance.accounts.users import UserService, check_email
from appliance.audit.log import AuditLog
from appliance.clock import Clock, isoformat
from appliance.errors import Conflict, InvalidToken, NotFound, PermissionDenied, ValidationError
from appliance.mail.outbox import Outbox, check_recipient
from appliance.storage.database import Database
from appliance.workspaces.service import WorkspaceService


@dataclass(frozen=True)
class Invitation:
    id: str
    workspace_id: str
    email: str
    role: str
    invited_by: str | None
    created_at: str
    expires_at: str
    accepted_at: str | None
    revoked_at: str | None

    def public(self) -> dict:
        return {"id": self.id, "workspace_id": self.workspace_id, "email": self.email, "role": self.role,
                "invited_by": self.invited_by, "created_at": self.created_at, "expires_at": self.expires_at,
                "accepted_at": self.accepted_at, "revoked_at": self.revoked_at}


def _invitation(row) -> Invitation:
    return Invitation(row["id"], row["workspace_id"], row["email"], row["role"], row["invited_by"], row["created_at"],
                      row["expires_at"], row["accepted_at"], row["revoked_at"])


@dataclass(frozen=True)
class Acceptance:
    invitation: Invitation
    user_id: str
    new_account: bool


class InvitationService:
    def __init__(self, db: Database, *, clock: Clock, users: UserService, workspaces: WorkspaceService,
                 outbox: Outbox, audit: AuditLog, links: messages.Links, lifetime: dt.timedelta) -> None:
        self._db = db
        self._clock = clock
        self._users = users
        self._workspaces = workspaces
        self._outbox = outbox
        self._audit = audit
        self._links = links
        self._lifetime = lifetime

    def invite(self, workspace_id: str, *, email: str, role: str, inviter_id: str, inviter_role: str,
               client_address: str | None) -> tuple[Invitation, str]:
        """Store and mail an invitation; returns it and its acceptance link, for the inviter to pass on where mail
        cannot leave (audited: the link is handed over, never stored)."""
        email = check_email(email)
        try:
            check_recipient(email)
        except ValidationError:
            # Said here, before anything is stored, rather than as the outbox's complaint about a 'to'.
            raise ValidationError(f"'email': {email!r} is not an address the appliance can send an invitation to; "
                                  "use a plain address like name@example.com") from None
        if role not in ("admin", "editor", "viewer"):
            raise ValidationError("an invitation grants admin, editor or viewer; ownership moves with a transfer")
        if not outranks_or_equals(inviter_role, role):
            raise PermissionDenied(f"a {inviter_role} cannot invite someone as {role}, a role above their own")
        invitee = self._users.find_by_email(email)
        if invitee and self._workspaces.role_of(workspace_id, invitee.id):
            raise Conflict(f"{email} is already a member of this workspace")
        invitation_id = uuid.uuid4().hex[:16]
        with self._db.transaction() as conn:
            # A new invitation to the same address replaces any still open.
            conn.execute("UPDATE invitations SET revoked_at = ? WHERE workspace_id = ? AND email = ? "
                         "AND accepted_at IS NULL AND revoked_at IS NULL",
                         (isoformat(self._clock.now()), workspace_id, email))
            link = self._insert_and_mail(conn, invitation_id, workspace_id, email, role, inviter_id)
            self._audit.record("invitation.create", actor_type="user", actor_id=inviter_id,
                               target_type="invitation", target_id=invitation_id, workspace_id=workspace_id,
                               client_address=client_address, details={"role": role, "link_returned": True},
                               conn=conn)
        return self.get(workspace_id, invitation_id), link

    def _insert_and_mail(self, conn, invitation_id: str, workspace_id: str, email: str, role: str,
                         inviter_id: str) -> str:
        token = new_token()
        now = self._clock.now()
        conn.execute(
            "INSERT INTO invitations (id, workspace_id, email, role, token_hash, invited_by, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (invitation_id, workspace_id, email, role, token_hash(token), inviter_id, isoformat(now),
             isoformat(now + self._lifetime)),
        )
        workspace = self._workspaces.get(workspace_id)
        inviter = self._users.get(inviter_id)
        subject, body = messages.invitation(self._links.invitation(token), workspace=workspace.name, role=role,
                                            inviter=inviter.display_name, inviter_email=inviter.email,
                                            hours=int(self._lifetime.total_seconds() // 3600))
        self._outbox.enqueue(to=email, subject=subject, body=body, conn=conn)
        return self._links.invitation(token)

    def resend(self, workspace_id: str, invitation_id: str, *, actor_id: str, actor_role: str,
               client_address: str | None) -> tuple[Invitation, str]:
        """Revoke the open invitation and send a fresh one (new link, new expiry) to the same address; returns it and
        its link, like `invite`."""
        old = self.get(workspace_id, invitation_id)
        if old.accepted_at:
            raise Conflict("this invitation was already accepted")
        if old.revoked_at:
            raise Conflict("this invitation was revoked or replaced; resend the newest one, or invite again")
        if not outranks_or_equals(actor_role, old.role):
            raise PermissionDenied(f"a {actor_role} cannot resend an invitation as {old.role}")
        new_id = uuid.uuid4().hex[:16]
        with self._db.transaction() as conn:
            conn.execute("UPDATE invitations SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                         (isoformat(self._clock.now()), invitation_id))
            link = self._insert_and_mail(conn, new_id, workspace_id, old.email, old.role, actor_id)
            self._audit.record("invitation.resend", actor_type="user", actor_id=actor_id, target_type="invitation",
                               target_id=new_id, workspace_id=workspace_id, client_address=client_address,
                               details={"replaces": invitation_id, "link_returned": True}, conn=conn)
        return self.get(workspace_id, new_id), link

    def revoke(self, workspace_id: str, invitation_id: str, *, actor_id: str, client_address: str | None) -> None:
        invitation = self.get(workspace_id, invitation_id)
        if invitation.accepted_at:
            raise Conflict("this invitation was already accepted; remove the member instead")
        with self._db.transaction() as conn:
            conn.execute("UPDATE invitations SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                         (isoformat(self._clock.now()), invitation_id))
            self._audit.record("invitation.revoke", actor_type="user", actor_id=actor_id, target_type="invitation",
                               target_id=invitation_id, workspace_id=workspace_id, client_address=client_address,
                               conn=conn)

    def get(self, workspace_id: str, invitation_id: str) -> Invitation:
        row = self._db.query_one("SELECT * FROM invitations WHERE id = ? AND workspace_id = ?",
                                 (invitation_id, workspace_id))
        if row is None:
            raise NotFound(f"no invitation {invitation_id} in this workspace")
        return _invitation(row)

    def list(self, workspace_id: str) -> list[Invitation]:
        return [_invitation(r) for r in self._db.query(
            "SELECT * FROM invitations WHERE workspace_id = ? ORDER BY created_at DESC", (workspace_id,))]

    def lookup(self, token: str) -> Invitation:
        """The open invitation a link token stands for (for the acceptance page)."""
        return self._open(self._db.connection, token)

    def _open(self, conn, token: str) -> Invitation:
        row = conn.execute("SELECT * FROM invitations WHERE token_hash = ?", (token_hash(token or ""),)).fetchone()
        if (row is None or row["accepted_at"] or row["revoked_at"]
                or row["expires_at"] <= isoformat(self._clock.now())):
            raise InvalidToken("this invitation is not valid any more: it was used, revoked or has expired; "
                               "ask for a new one")
        return _invitation(row)

    def accept(self, token: str, *, password: str | None = None, display_name: str = "",
               signed_in_user_id: str | None = None, client_address: str | None) -> Acceptance:
        """Join the workspace. A new address gets a pending account (verified by mail before first login);
        an existing account must be the one signed in, and the invitation must be for its address."""
        with self._db.transaction() as conn:
            invitation = self._open(conn, token)
            existing = conn.execute("SELECT id FROM users WHERE email = ?", (invitation.email,)).fetchone()
            if existing is not None:
                if signed_in_user_id != existing["id"]:
                    raise PermissionDenied(f"this invitation is for {invitation.email}: log in as that account "
                                           "to accept it")
                user_id, new_account = existing["id"], False
            else:
                if signed_in_user_id is not None:
                    raise PermissionDenied(f"this invitation is for {invitation.email}, not for the account "
                                           "you are logged in as")
                if not password:
                    raise ValidationError("choose a password to create your account")
                workspace = self._workspaces.get(invitation.workspace_id)
                user_id = self._users.create_pending(conn, email=invitation.email, password=password,
                                                     display_name=display_name, context=(workspace.name,))
                new_account = True
            self._workspaces.add_member(conn, workspace_id=invitation.workspace_id, user_id=user_id,
                                        role=invitation.role)
            conn.execute("UPDATE invitations SET accepted_at = ? WHERE id = ?",
                         (isoformat(self._clock.now()), invitation.id))
            self._audit.record("invitation.accept", actor_type="user", actor_id=user_id, target_type="invitation",
                               target_id=invitation.id, workspace_id=invitation.workspace_id,
                               client_address=client_address, details={"new_account": new_account}, conn=conn)
        return Acceptance(self.get(invitation.workspace_id, invitation.id), user_id, new_account)
