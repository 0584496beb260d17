"""What every screen is given: the API client, who is signed in (the API's /me), and what their role allows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gui.client.api import ApiClient
from gui.client.background import Background


@dataclass
class PanelContext:
    api: ApiClient
    background: Background
    me: dict[str, Any] = field(default_factory=dict)

    @property
    def user(self) -> dict[str, Any]:
        return self.me.get("user", {})

    @property
    def is_operator(self) -> bool:
        return bool(self.user.get("is_operator"))

    @property
    def mail_can_leave(self) -> bool:
        return bool(self.me.get("appliance", {}).get("mail_relay_configured"))

    @property
    def appliance(self) -> dict[str, Any]:
        """What /api/v1/me says of the appliance itself (its limits and settings); an older appliance says less, so
        read each field with .get."""
        return self.me.get("appliance", {})

    def memberships(self) -> list[dict[str, Any]]:
        return list(self.me.get("workspaces", []))

    def membership(self, workspace_id: str) -> dict[str, Any] | None:
        """The caller's membership of the workspace as /api/v1/me gives it: id, name, status, role, permissions."""
        return next((m for m in self.memberships() if m.get("id") == workspace_id), None)

    def operator_may(self, action: str) -> bool:
        return action in self.me.get("operator_permissions", [])

    def role_in(self, workspace_id: str) -> str | None:
        membership = self.membership(workspace_id)
        return membership.get("role") if membership else ("operator" if self.is_operator else None)

    def may(self, workspace_id: str, action: str) -> bool:
        """Whether the API said the caller's role allows `action` in the workspace (never guessed here)."""
        membership = self.membership(workspace_id)
        return bool(membership) and action in membership.get("permissions", [])
