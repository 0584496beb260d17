"""A workspace with a trained agent and people talking to it through the real services, spread over days."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from appliance.agent.agents import Agent
from appliance.clock import FixedClock
from appliance.conversations import message_index
from appliance.conversations.chat import Exchange, Visitor
from appliance.conversations.leads import Lead
from appliance.services import Services

PAGE = "https://intranet.example.com"
HANDBOOK = ("# Parking\n\nVisitors park in the north car park, next to reception. Staff park on level B2 of the "
            "garage.\n")
ANSWERED = "How many days of paid leave do I get?"       # a Q&A pair answers it verbatim
PARKING = "Where do visitors park?"                      # the handbook answers it, citing its Parking section
FALLS_BACK = "What is the capital of Mongolia?"          # nothing in the workspace answers it
HANDOFF = "Can I talk to a person?"                      # asks for someone, not about the content
OWNER_PASSWORD = "a long enough passphrase for tests"


@dataclass
class Chats:
    """A workspace as its visitors use it: questions, ratings and leads, made through the services."""

    services: Services
    clock: FixedClock
    workspace_id: str
    agent: Agent
    other_agent: Agent
    handbook_id: str
    faq_id: str

    def ask(self, question: str, *, conversation_id: str | None = None, widget: bool = False,
            agent: Agent | None = None) -> Exchange:
        visitor = Visitor("visitor-1", PAGE, f"{PAGE}/hr", "203.0.113.7") if widget else None
        return self.services.conversations.chat(self.workspace_id).ask(
            agent or self.agent, question, conversation_id=conversation_id, visitor=visitor)

    def conversation(self, *questions: str, **options) -> str:
        """A conversation of these questions, one after another; its id."""
        conversation_id = None
        for question in questions:
            conversation_id = self.ask(question, conversation_id=conversation_id, **options).conversation_id
        return conversation_id

    def rate(self, exchange: Exchange, rating: str) -> None:
        self.services.conversations.chat(self.workspace_id).rate(exchange.conversation_id, exchange.message_id,
                                                                      rating)

    def lead(self, conversation_id: str | None = None, *, agent: Agent | None = None, **fields: str) -> Lead:
        """A lead left in the (widget) conversation, or in a new one, with the agent's consent text."""
        agent = agent or self.agent
        return self.services.conversations.leads(self.workspace_id).submit(
            agent, conversation_id=conversation_id or uuid.uuid4().hex,
            visitor=Visitor("visitor-1", PAGE, f"{PAGE}/contact", "203.0.113.7"),
            fields={"email": "jane@example.com", **fields}, consent=True, consent_version=agent.consent_version)

    def index_messages(self) -> None:
        """Put the messages that wait for the full-text index in it, as the next batch's commit would."""
        message_index.up_to_date(self.services.conversations.records(self.workspace_id)._db)

    def sql(self, query: str, params=()) -> list:
        """Raw rows of the workspace file, to check what is really stored."""
        return self.services.conversations.records(self.workspace_id)._db.query(query, params)


def start_chats(services: Services, clock: FixedClock) -> Chats:
    """A workspace owned by an operator, trained on a Q&A pair and a handbook, with two agents."""
    owner = services.users.create_operator(email="op@example.com", password=OWNER_PASSWORD)
    workspace = services.workspaces.create(name="Acme", owner_id=owner.id, actor_id=owner.id, client_address=None)
    knowledge = services.knowledge
    faq = knowledge.sources(workspace.id).add_qa(title="HR FAQ", pairs=[(ANSWERED, "28 days a year.")])
    handbook = knowledge.sources(workspace.id).add_file(filename="handbook.md", data=HANDBOOK.encode(),
                                                        media_type="text/markdown")
    lead_fields = [{"name": "name", "label": "Name"}, {"name": "email", "label": "Email", "required": True},
                   {"name": "phone", "label": "Phone"}, {"name": "company", "label": "Company"},
                   {"name": "team_size", "label": "Team size"}]
    agent = services.agents.of(workspace.id).create({"name": "Helper", "lead_fields": lead_fields})
    other = services.agents.of(workspace.id).create({"name": "Sales"})
    assert knowledge.wait_idle(30)
    return Chats(services, clock, workspace.id, agent, other, handbook.id, faq.id)
