"""Workspaces where people talked to a trained agent at chosen times, made through the real services, and ways to
look at what is really stored in them."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from appliance.agent.agents import Agent
from appliance.clock import FixedClock
from appliance.conversations import message_index
from appliance.conversations.chat import Exchange, Visitor
from appliance.conversations.leads import Lead
from appliance.keys.keystore import workspace_db_key
from appliance.retention.service import Actor
from appliance.services import Services
from appliance.storage.database import Database
from tests.appliance.accounts.account_steps import make_user

PAGE = "https://intranet.example.com"
HANDBOOK = "# Parking\n\nVisitors park in the north car park, next to reception. Staff park on level B2.\n"
PARKING = "Where do visitors park?"
LEAVE = "How many days of paid leave do I get?"
# One token that the full-text index keeps whole (no stemming changes it); found in raw pages by its tail, which
# survives the index's prefix compression of neighbouring terms.
CANARY = "zqxcanaryvwk"
CANARY_TAIL = b"canaryvwk"


@dataclass
class Place:
    """One workspace with a trained agent, and the clock its conversations are made at."""

    services: Services
    clock: FixedClock
    workspace_id: str
    owner_id: str
    agent: Agent
    handbook_id: str

    @property
    def db(self) -> Database:
        return self.services.appliance.workspaces.open(self.workspace_id)

    @property
    def owner(self) -> Actor:
        return Actor("user", self.owner_id)

    def at(self, moment: dt.datetime) -> "Place":
        self.clock._now = moment
        return self

    def ask(self, question: str = PARKING, *, conversation_id: str | None = None, visitor: str | None = None,
            address: str | None = "203.0.113.7") -> Exchange:
        widget = Visitor(visitor, PAGE, f"{PAGE}/hr", address) if visitor else None
        return self.services.conversations.chat(self.workspace_id).ask(
            self.agent, question, conversation_id=conversation_id or (uuid.uuid4().hex if visitor else None),
            visitor=widget)

    def conversation(self, *questions: str, visitor: str | None = None) -> str:
        conversation_id = None
        for question in questions or (PARKING,):
            conversation_id = self.ask(question, conversation_id=conversation_id, visitor=visitor).conversation_id
        return conversation_id

    def lead(self, email: str = "jane@example.com", *, conversation_id: str | None = None,
             visitor: str = "visitor-1", address: str | None = "203.0.113.7", **fields: str) -> Lead:
        return self.services.conversations.leads(self.workspace_id).submit(
            self.agent, conversation_id=conversation_id or uuid.uuid4().hex,
            visitor=Visitor(visitor, PAGE, f"{PAGE}/contact", address),
            fields={"email": email, **fields}, consent=True, consent_version=self.agent.consent_version)

    def index_messages(self) -> None:
        """Put the messages that wait for the full-text index in it, as the next batch's commit would."""
        message_index.up_to_date(self.db)

    def count(self, table: str, where: str = "1", params=()) -> int:
        return self.db.query_one(f"SELECT count(*) FROM {table} WHERE {where}", params)[0]

    def column(self, sql: str, params=()) -> list:
        return [row[0] for row in self.db.query(sql, params)]

    def set_policy(self, **policy) -> None:
        self.services.retention.apply(self.workspace_id, policy, actor=self.owner)

    def key(self) -> bytes:
        return self.services.appliance.keystore.get(workspace_db_key(self.workspace_id))


def make_place(services: Services, clock: FixedClock, *, name: str = "Acme", owner_email: str | None = None) -> Place:
    """A workspace owned by a fresh user, trained on a Q&A pair and an uploaded handbook, with one agent."""
    owner = make_user(services, owner_email or f"owner-{uuid.uuid4().hex[:8]}@example.com")
    workspace = services.workspaces.create(name=name, owner_id=owner.id, actor_id=owner.id, client_address=None)
    knowledge = services.knowledge
    knowledge.sources(workspace.id).add_qa(title="HR FAQ", pairs=[(LEAVE, "28 days a year.")])
    handbook = knowledge.sources(workspace.id).add_file(filename="handbook.md", data=HANDBOOK.encode(),
                                                        media_type="text/markdown")
    agent = services.agents.of(workspace.id).create({"name": "Helper", "lead_fields": [
        {"name": "name", "label": "Name"}, {"name": "email", "label": "Email", "required": True},
        {"name": "company", "label": "Company"}, {"name": "notes", "label": "Notes", "type": "textarea"}]})
    assert knowledge.wait_idle(30)
    return Place(services, clock, workspace.id, owner.id, agent, handbook.id)


def text_columns(db: Database) -> dict[str, list[str]]:
    """Every table (full-text shadow tables included) with the columns that may hold text or blobs."""
    tables = [r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {table: [c["name"] for c in db.query(f"PRAGMA table_info('{table}')")
                    if c["type"].upper() in ("TEXT", "BLOB", "")] for table in tables}


def rows_containing(db: Database, needle: str) -> list[str]:
    """table.column of every stored value that contains `needle` (text, or blob bytes), read through SQL."""
    found = []
    for table, columns in text_columns(db).items():
        for column in columns:
            hit = db.query_one(
                f"SELECT 1 FROM \"{table}\" WHERE instr(lower(CAST(\"{column}\" AS TEXT)), ?) > 0 "
                f"OR instr(CAST(\"{column}\" AS BLOB), CAST(? AS BLOB)) > 0 LIMIT 1", (needle, needle))
            if hit:
                found.append(f"{table}.{column}")
    # The index's own view: a term query finds the word wherever the index still holds it.
    for fts in {"messages_fts", "chunks_fts", "qa_fts"} & set(text_columns(db)):
        if db.query_one(f"SELECT 1 FROM {fts} WHERE {fts} MATCH ? LIMIT 1", (f'"{needle}"',)):
            found.append(f"{fts} (MATCH)")
    return found


def fill_conversations(db: Database, agent_id: str, *, count: int, messages_each: int, first: dt.datetime,
                       spacing: dt.timedelta, prefix: str = "bulk") -> list[str]:
    """Many widget conversations written straight into the file (fast, one transaction), each with its messages
    (indexed, as a batch's commit would) and question events, the i-th last active at `first + i * spacing`; their
    ids."""
    from appliance.clock import isoformat

    ids, conversations, messages, events = [], [], [], []
    for i in range(count):
        conversation_id, at = f"{prefix}{i:07d}", isoformat(first + i * spacing)
        ids.append(conversation_id)
        conversations.append((conversation_id, agent_id, at, at, f"visitor-{i % 97}", f"198.51.100.{i % 250}"))
        for j in range(messages_each):
            role = "visitor" if j % 2 == 0 else "agent"
            messages.append((conversation_id, role, f"question {i} part {j} about parking lot {i % 13} and leave",
                             at))
        events.append((agent_id, at[:10], conversation_id, f"question {i} about parking", at))
    with db.transaction() as conn:
        conn.executemany("INSERT INTO conversations (id, agent_id, started_at, updated_at, channel, visitor_id, "
                         "client_address) VALUES (?, ?, ?, ?, 'widget', ?, ?)", conversations)
        conn.executemany("INSERT INTO messages (conversation_id, role, text, created_at) VALUES (?, ?, ?, ?)",
                         messages)
        conn.executemany("INSERT INTO analytics_events (agent_id, day, kind, conversation_id, question, created_at) "
                         "VALUES (?, ?, 'question', ?, ?, ?)", events)
        message_index.index_waiting(conn)
    return ids
