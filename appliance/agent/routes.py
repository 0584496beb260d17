"""Which workspace holds the agent a widget names: a table in the control database, kept beside each agent's life."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.storage.database import Database


@dataclass(frozen=True)
class AgentRoute:
    public_id: str
    workspace_id: str
    agent_id: str


class AgentRoutes:
    def __init__(self, db: Database) -> None:
        self._db = db

    def find(self, public_id: str) -> AgentRoute | None:
        row = self._db.query_one("SELECT public_id, workspace_id, agent_id FROM agent_routes WHERE public_id = ?",
                                 (public_id,))
        return AgentRoute(row["public_id"], row["workspace_id"], row["agent_id"]) if row else None

    def add(self, public_id: str, *, workspace_id: str, agent_id: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO agent_routes (public_id, workspace_id, agent_id) VALUES (?, ?, ?)",
                         (public_id, workspace_id, agent_id))

    def remove(self, public_id: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM agent_routes WHERE public_id = ?", (public_id,))

    def sync(self, workspace_id: str, agents: dict[str, str]) -> None:
        """Make the workspace's routes exactly `agents` ({public_id: agent_id}), after a crash between two writes."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM agent_routes WHERE workspace_id = ?", (workspace_id,))
            conn.executemany("INSERT OR REPLACE INTO agent_routes (public_id, workspace_id, agent_id) VALUES (?, ?, ?)",
                             [(public_id, workspace_id, agent_id) for public_id, agent_id in agents.items()])
