"""Workspaces and memberships: creating a workspace with its owner and its own database, roles, ownership transfer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from appliance.accounts import names
from appliance.accounts.api_keys import KeySettlement, settle_keys, settled_details
from appliance.accounts.permissions import ROLES, outranks_or_equals
from appliance.audit.log import AuditLog
from appliance.clock import Clock, isoformat
from appliance.errors import Conflict, NotFound, PermissionDenied, ValidationError
from appliance.storage.database import Database
from appliance.storage.workspace_files import WorkspaceDatabases


@dataclass(frozen=True)
class Workspace:
    id: str
    name: str
    status: str
    created_at: str
    owner_id: str | None
    owner_email: str | None
    purge_after: str | None = None        # when a cancelled workspace is purged (unless undone or held)
    purge_started_at: str | None = None   # the purge has begun: it can no longer be undone
    legal_hold_since: str | None = None   # a hold keeps it from being purged and its records from being deleted
    legal_hold_reason: str | None = None

    def public(self, *, with_hold: bool) -> dict:
        """As the API and the CLI show it. The purge date is every member's to know (it is mailed to them); the legal
        hold, whose reason may name a dispute, only when `with_hold` (operators, and roles that may read retention
        settings): then `legal_hold` is null when there is none, and otherwise absent."""
        data = {"id": self.id, "name": self.name, "status": self.status, "created_at": self.created_at,
                "owner": {"id": self.owner_id, "email": self.owner_email},
                "purge_after": self.purge_after if self.status == "cancelled" else None,
                "purge_started_at": self.purge_started_at}
        if with_hold:
            data["legal_hold"] = ({"since": self.legal_hold_since, "reason": self.legal_hold_reason}
                                  if self.legal_hold_since else None)
        return data


@dataclass(frozen=True)
class Member:
    user_id: str
    email: str
    display_name: str
    role: str
    joined_at: str


_SELECT = """
SELECT w.id, w.name, w.status, w.created_at, u.id AS owner_id, u.email AS owner_email, w.purge_after,
       w.purge_started_at, w.legal_hold_since, w.legal_hold_reason
FROM workspaces w
LEFT JOIN memberships m ON m.workspace_id = w.id AND m.role = 'owner'
LEFT JOIN users u ON u.id = m.user_id
"""


def _workspace(row) -> Workspace:
    return Workspace(row["id"], row["name"], row["status"], row["created_at"], row["owner_id"], row["owner_email"],
                     row["purge_after"], row["purge_started_at"], row["legal_hold_since"], row["legal_hold_reason"])


def check_name(name: object) -> str:
    return names.check_name(name, what="a workspace name")


class WorkspaceService:
    def __init__(self, db: Database, *, clock: Clock, files: WorkspaceDatabases, audit: AuditLog) -> None:
        self._db = db
        self._clock = clock
        self._files = files
        self._audit = audit

    def create(self, *, name: str, owner_id: str, actor_id: str, client_address: str | None,
               actor_type: str = "user") -> Workspace:
        """Record the workspace with its owner, then make its database under a key of its own. The actor is a user
        (`actor_id`) unless `actor_type` says otherwise (the CLI is the system)."""
        name = check_name(name)
        workspace_id = uuid.uuid4().hex[:16]
        now = isoformat(self._clock.now())
        with self._db.transaction() as conn:
            owner = conn.execute("SELECT 1 FROM users WHERE id = ? AND status != 'disabled'", (owner_id,)).fetchone()
            if owner is None:
                raise ValidationError("the owner must be an existing, enabled user")
            conn.execute("INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)", (workspace_id, name, now))
            conn.execute("INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?, ?, 'owner', ?)",
                         (workspace_id, owner_id, now))
            self._audit.record("workspace.create", actor_type=actor_type, actor_id=actor_id, target_type="workspace",
                               target_id=workspace_id, workspace_id=workspace_id, client_address=client_address,
                               details={"owner_id": owner_id}, conn=conn)
        try:
            self._files.create(workspace_id)
        except BaseException:
            with self._db.transaction() as conn:
                conn.execute("DELETE FROM workspaces WHERE id = ?", (workspace_id,))
            raise
        return self.get(workspace_id)

    def get(self, workspace_id: str) -> Workspace:
        row = self._db.query_one(_SELECT + " WHERE w.id = ?", (workspace_id,))
        if row is None:
            raise NotFound(f"no workspace {workspace_id}")
        return _workspace(row)

    def list_all(self) -> list[Workspace]:
        return [_workspace(r) for r in self._db.query(_SELECT + " ORDER BY w.created_at, w.id")]

    def list_for_user(self, user_id: str) -> list[tuple[Workspace, str]]:
        rows = self._db.query(
            _SELECT + " JOIN memberships mine ON mine.workspace_id = w.id AND mine.user_id = ? "
            "ORDER BY w.created_at, w.id", (user_id,))
        roles = {r["workspace_id"]: r["role"] for r in self._db.query(
            "SELECT workspace_id, role FROM memberships WHERE user_id = ?", (user_id,))}
        return [(_workspace(r), roles[r["id"]]) for r in rows]

    def role_of(self, workspace_id: str, user_id: str) -> str | None:
        row = self._db.query_one("SELECT role FROM memberships WHERE workspace_id = ? AND user_id = ?",
                                 (workspace_id, user_id))
        return row["role"] if row else None

    def rename(self, workspace_id: str, *, name: str, actor_id: str, client_address: str | None) -> Workspace:
        name = check_name(name)
        with self._db.transaction() as conn:
            conn.execute("UPDATE workspaces SET name = ? WHERE id = ?", (name, workspace_id))
            self._audit.record("workspace.rename", actor_type="user", actor_id=actor_id, target_type="workspace",
                               target_id=workspace_id, workspace_id=workspace_id, client_address=client_address,
                               conn=conn)
        return self.get(workspace_id)

    def members(self, workspace_id: str) -> list[Member]:
        rows = self._db.query(
            "SELECT u.id, u.email, u.display_name, m.role, m.created_at FROM memberships m "
            "JOIN users u ON u.id = m.user_id WHERE m.workspace_id = ? ORDER BY m.created_at, u.email",
            (workspace_id,))
        return [Member(r["id"], r["email"], r["display_name"], r["role"], r["created_at"]) for r in rows]

    def add_member(self, conn, *, workspace_id: str, user_id: str, role: str) -> None:
        if role not in ROLES or role == "owner":
            raise ValidationError(f"role must be one of admin, editor, viewer, not {role!r}")
        exists = conn.execute("SELECT role FROM memberships WHERE workspace_id = ? AND user_id = ?",
                              (workspace_id, user_id)).fetchone()
        if exists:
            raise Conflict(f"that user is already a member ({exists['role']})")
        conn.execute("INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
                     (workspace_id, user_id, role, isoformat(self._clock.now())))

    def change_role(self, workspace_id: str, *, user_id: str, role: str, actor_id: str, actor_role: str,
                    client_address: str | None, hand_api_keys_to: str | None = None) -> list[KeySettlement]:
        """Admins manage members up to their own rank; nobody changes the owner's role here (see transfer). A role
        that may not manage keys takes the member's API keys with it: revoked, or handed to `hand_api_keys_to`."""
        if role not in ROLES or role == "owner":
            raise ValidationError("role must be admin, editor or viewer; ownership moves with a transfer")
        with self._db.transaction() as conn:
            current = self._member_role(conn, workspace_id, user_id)
            self._check_may_manage(actor_role, current, role)
            conn.execute("UPDATE memberships SET role = ? WHERE workspace_id = ? AND user_id = ?",
                         (role, workspace_id, user_id))
            settled = self._settle_keys(conn, workspace_id, user_id, "member.role_change", hand_api_keys_to,
                                        actor_id, client_address)
            self._audit.record("member.role_change", actor_type="user", actor_id=actor_id, target_type="user",
                               target_id=user_id, workspace_id=workspace_id, client_address=client_address,
                               details={"from": current, "to": role, **settled_details(settled)}, conn=conn)
        return settled

    def remove_member(self, workspace_id: str, *, user_id: str, actor_id: str, actor_role: str,
                      client_address: str | None, hand_api_keys_to: str | None = None) -> list[KeySettlement]:
        """Remove a member (or leave, when `user_id` is the actor's own); their API keys here are revoked, or handed
        to `hand_api_keys_to`."""
        with self._db.transaction() as conn:
            current = self._member_role(conn, workspace_id, user_id)
            if current == "owner":
                raise Conflict("the owner cannot be removed; transfer ownership first")
            if user_id != actor_id:
                self._check_may_manage(actor_role, current, current)
            conn.execute("DELETE FROM memberships WHERE workspace_id = ? AND user_id = ?", (workspace_id, user_id))
            settled = self._settle_keys(conn, workspace_id, user_id, "member.remove", hand_api_keys_to, actor_id,
                                        client_address)
            self._audit.record("member.remove", actor_type="user", actor_id=actor_id, target_type="user",
                               target_id=user_id, workspace_id=workspace_id, client_address=client_address,
                               details={"role": current, **settled_details(settled)}, conn=conn)
        return settled

    def transfer_ownership(self, workspace_id: str, *, to_user_id: str, actor_id: str,
                           client_address: str | None) -> list[KeySettlement]:
        """The owner hands over to an existing member and becomes an admin (who may still hold API keys: the list
        of keys settled is empty unless the permission tables say otherwise)."""
        with self._db.transaction() as conn:
            self._member_role(conn, workspace_id, to_user_id)
            if to_user_id == actor_id:
                raise Conflict("you already own this workspace")
            status = conn.execute("SELECT status FROM users WHERE id = ?", (to_user_id,)).fetchone()["status"]
            if status == "disabled":
                raise ValidationError("ownership cannot go to a disabled account")
            conn.execute("UPDATE memberships SET role = 'admin' WHERE workspace_id = ? AND user_id = ?",
                         (workspace_id, actor_id))
            conn.execute("UPDATE memberships SET role = 'owner' WHERE workspace_id = ? AND user_id = ?",
                         (workspace_id, to_user_id))
            settled = self._settle_keys(conn, workspace_id, actor_id, "workspace.transfer", None, actor_id,
                                        client_address)
            self._audit.record("workspace.transfer", actor_type="user", actor_id=actor_id, target_type="user",
                               target_id=to_user_id, workspace_id=workspace_id, client_address=client_address,
                               details=settled_details(settled) or None, conn=conn)
        return settled

    def _settle_keys(self, conn, workspace_id: str, user_id: str, reason: str, hand_to: str | None,
                     actor_id: str, client_address: str | None) -> list[KeySettlement]:
        return settle_keys(conn, workspace_id=workspace_id, holder_id=user_id, reason=reason, hand_to=hand_to,
                           audit=self._audit, now=isoformat(self._clock.now()), actor_id=actor_id,
                           client_address=client_address)

    @staticmethod
    def _member_role(conn, workspace_id: str, user_id: str) -> str:
        row = conn.execute("SELECT role FROM memberships WHERE workspace_id = ? AND user_id = ?",
                           (workspace_id, user_id)).fetchone()
        if row is None:
            raise NotFound(f"no member {user_id} in this workspace")
        return row["role"]

    @staticmethod
    def _check_may_manage(actor_role: str, current: str, wanted: str) -> None:
        if current == "owner":
            raise Conflict("the owner's role changes only by a transfer of ownership")
        if not (outranks_or_equals(actor_role, current) and outranks_or_equals(actor_role, wanted)):
            raise PermissionDenied(f"a {actor_role} cannot manage a member at or to a rank above their own")
