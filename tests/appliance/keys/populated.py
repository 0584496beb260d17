"""An appliance with data in every database, and what its databases hold, to compare before and after a rotation."""

from __future__ import annotations

import hashlib
import uuid

from appliance.bootstrap import Appliance, open_appliance
from appliance.clock import isoformat
from appliance.conversations import message_index
from appliance.services import build_services
from appliance.storage.database import Database
from appliance.storage.layout import Layout

# Rows the rotation itself adds to the control database (its audit rows and the chain's head): not "content".
ROTATION_WRITES = ("audit_log", "meta")


def canary(workspace_id: str) -> str:
    return f"canary-{workspace_id}-ask-about-the-north-car-park"


def populate(layout: Layout, *, clock, settings, workspaces: int, messages_per_workspace: int) -> list[str]:
    """Workspaces with an agent and conversations (one message a canary), made through the services; their ids."""
    appliance = open_appliance(layout, clock=clock)
    services = build_services(appliance, settings)
    try:
        owner = services.users.create_operator(email="owner@example.com", password="a long enough passphrase!")
        ids = []
        for number in range(workspaces):
            workspace = services.workspaces.create(name=f"Workspace {number}", owner_id=owner.id,
                                                   actor_id=owner.id, client_address=None)
            agent = services.agents.of(workspace.id).create({"name": "Helper"})
            _talk(appliance.workspaces.open(workspace.id), agent.id, canary(workspace.id), messages_per_workspace,
                  at=isoformat(clock.now()))
            ids.append(workspace.id)
        return ids
    finally:
        services.knowledge.close()
        appliance.close()


def _talk(db: Database, agent_id: str, canary_text: str, count: int, *, at: str) -> None:
    # Conversations written in bulk, and indexed as a batch's commit would: volume, so that a rekey takes long
    # enough to be killed half-way.
    with db.transaction() as conn:
        conversation_id = None
        for number in range(count):
            if number % 20 == 0:
                conversation_id = uuid.uuid4().hex
                conn.execute("INSERT INTO conversations (id, agent_id, started_at, updated_at) VALUES (?, ?, ?, ?)",
                             (conversation_id, agent_id, at, at))
            text = canary_text if number == 0 else f"question {number}: " + uuid.uuid4().hex * 8
            conn.execute("INSERT INTO messages (conversation_id, role, text, created_at) VALUES (?, 'visitor', ?, ?)",
                         (conversation_id, text, at))
        message_index.index_waiting(conn)


def digest(db: Database, *, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """A hash of every row of every ordinary table (virtual tables are covered by their shadow tables)."""
    tables = [r["name"] for r in db.query("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
              if not r["sql"].upper().startswith("CREATE VIRTUAL") and r["name"] not in skip]
    found = {}
    for table in tables:
        rows = sorted(repr(tuple(row)) for row in db.query(f'SELECT * FROM "{table}"'))
        found[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest() + f" ({len(rows)} rows)"
    return found


def contents(appliance: Appliance, workspace_ids: list[str]) -> dict[str, dict[str, str]]:
    """What every database holds, the rotation's own audit rows aside."""
    found = {"control": digest(appliance.control_db, skip=ROTATION_WRITES)}
    for workspace_id in workspace_ids:
        found[workspace_id] = digest(appliance.workspaces.open(workspace_id))
    return found


def canary_found(appliance: Appliance, workspace_id: str) -> bool:
    rows = appliance.workspaces.open(workspace_id).query(
        "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?", (f'"{canary(workspace_id)}"',))
    return len(rows) == 1
