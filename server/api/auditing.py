"""The audit row for a change the caller made in a workspace through the API: who (user or API key), from where,
what, and on which record. Rows name records by id and count what changed, never their content."""

from __future__ import annotations

from server.auth import actor, client_address, services


def audit(workspace_id: str, action: str, details: dict | None = None, *, target_type: str | None = None,
          target_id: str | None = None, conn=None) -> None:
    actor_type, actor_id = actor()
    services().audit.record(action, actor_type=actor_type, actor_id=actor_id, target_type=target_type,
                            target_id=target_id, workspace_id=workspace_id, client_address=client_address(),
                            details=details, conn=conn)
