"""What the chat widget may do: open a visitor session, ask, rate a reply, leave a lead, each checked against the
agent's allowed origins, the visitor's token and the rate limits."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from appliance.agent.agents import Agent, origin_of
from appliance.agent.routes import AgentRoutes
from appliance.agent.service import Agents
from appliance.clock import Clock
from appliance.conversations.analytics import day_of
from appliance.conversations.chat import Message, Visitor
from appliance.conversations.leads import Lead
from appliance.conversations.service import Conversations
from appliance.errors import NotAvailableHere, NotFound, VisitorTokenInvalid
from appliance.rate_limits import DailyCounts, MinuteWindows
from appliance.widget.visitor_tokens import VisitorToken, VisitorTokens
from appliance.workspaces.service import WorkspaceService

log = logging.getLogger("chatspark.widget")
NOT_HERE = "This chat is not available here."
MAX_PAGE_URL_CHARS = 2000


@dataclass(frozen=True)
class WidgetLimits:
    requests_per_minute_per_address: int = 120
    messages_per_minute_per_visitor: int = 12
    messages_per_agent_per_day: int = 10_000
    max_message_chars: int = 1000


@dataclass(frozen=True)
class WidgetSession:
    token: str
    claims: VisitorToken
    agent: Agent
    messages: list[Message]
    lead_submitted: bool


@dataclass(frozen=True)
class Caller:
    """What the widget's request says about itself: the page's Origin header, the page, the client's address."""

    origin: str | None
    page_url: str | None = None
    client_address: str | None = None


def page_url_of(url: Any, origin: str) -> str | None:
    """The page the widget is on, without query or fragment (they may carry personal data); None if elsewhere."""
    if not isinstance(url, str) or len(url) > MAX_PAGE_URL_CHARS or origin_of(url) != origin:
        return None
    return url.split("#", 1)[0].split("?", 1)[0]


class WidgetService:
    def __init__(self, *, routes: AgentRoutes, agents: Agents, conversations: Conversations,
                 workspaces: WorkspaceService, tokens: VisitorTokens, clock: Clock, limits: WidgetLimits,
                 on_lead: Callable[[str, Agent, Lead], None] | None = None) -> None:
        self._routes = routes
        self._agents = agents
        self._conversations = conversations
        self._workspaces = workspaces
        self._tokens = tokens
        self._clock = clock
        self.limits = limits
        self._on_lead = on_lead
        self._per_address = MinuteWindows()
        self._per_visitor = MinuteWindows()
        self._per_agent_day = DailyCounts()

    @property
    def token_lifetime(self):
        return self._tokens.lifetime

    def allowed_origin(self, public_id: str, origin: str | None) -> bool:
        """Whether a page on `origin` may call about this agent (for CORS, which must know before the call)."""
        return self._find(public_id, origin)[1] is not None

    def refuse(self, public_id: str, origin: str | None, *, client_address: str | None) -> None:
        """Raise NotAvailableHere for a refused CORS preflight, logged like any other refusal."""
        self._agent(public_id, origin, client_address=client_address)
        raise NotAvailableHere(NOT_HERE)

    def open_session(self, public_id: str, caller: Caller, *, token: str | None = None,
                     restart: bool = False) -> WidgetSession:
        """A fresh visitor token; given the previous one (even expired, within the renewal window) it keeps the
        conversation and the visitor's identity, unless `restart` asks for a new conversation."""
        self._limit_address(caller)
        workspace_id, agent = self._agent(public_id, caller.origin, client_address=caller.client_address)
        previous = None
        if token:
            try:
                previous = self._tokens.read(token, agent=public_id, origin=caller.origin, allow_expired=True)
            except VisitorTokenInvalid:
                previous = None  # a stale or foreign token just means a new visitor
        text, claims = self._tokens.issue(
            agent=public_id, origin=caller.origin,
            conversation_id=previous.conversation_id if previous and not restart else None,
            visitor_id=previous.visitor_id if previous else None)
        conversations = self._conversations.chat(workspace_id)
        messages = conversations.messages(claims.conversation_id) if previous and not restart else []
        return WidgetSession(text, claims, agent, messages,
                             bool(messages) and conversations.has_lead(claims.conversation_id))

    def ask(self, token: str, caller: Caller, text: Any, *, agent: str) -> tuple[Message, Message]:
        """The visitor's message and the agent's reply, as the widget shows them."""
        self._limit_address(caller)
        claims, workspace_id, agent = self._visitor(token, caller, agent)
        self._per_visitor.hit(claims.visitor_id, limit=self.limits.messages_per_minute_per_visitor,
                              message="You're sending messages quickly. Please wait a moment and try again.")
        conversations = self._conversations.chat(workspace_id)
        self._per_agent_day.hit(
            agent.id, day=day_of(self._clock.now()), limit=self.limits.messages_per_agent_per_day,
            already=lambda: conversations.questions_today(agent.id),
            message="This chat has answered as many questions as it may today. Please try again tomorrow.")
        exchange = conversations.ask(agent, text if isinstance(text, str) else "",
                                     conversation_id=claims.conversation_id, max_chars=self.limits.max_message_chars,
                                     visitor=self._visitor_of(claims, caller))
        messages = {m.id: m for m in conversations.messages(exchange.conversation_id,
                                                            since_id=exchange.visitor_message_id - 1)}
        return messages[exchange.visitor_message_id], messages[exchange.message_id]

    def rate(self, token: str, caller: Caller, message_id: Any, rating: Any, *, agent: str) -> None:
        self._limit_address(caller)
        claims, workspace_id, _ = self._visitor(token, caller, agent)
        if not isinstance(message_id, int):
            raise NotFound("no such reply")
        self._conversations.chat(workspace_id).rate(claims.conversation_id, message_id, rating)

    def leave_lead(self, token: str, caller: Caller, *, fields: Any, consent: Any, consent_version: Any,
                   agent: str) -> Lead:
        self._limit_address(caller)
        claims, workspace_id, agent = self._visitor(token, caller, agent)
        self._per_visitor.hit(claims.visitor_id, limit=self.limits.messages_per_minute_per_visitor,
                              message="You're sending forms quickly. Please wait a moment and try again.")
        if agent.lead_capture == "off":
            raise NotAvailableHere("this chat does not take contact details")
        on_lead = self._on_lead
        leads = self._conversations.leads(
            workspace_id, on_lead=(lambda a, lead: on_lead(workspace_id, a, lead)) if on_lead else None)
        return leads.submit(agent, conversation_id=claims.conversation_id, visitor=self._visitor_of(claims, caller),
                            fields=fields, consent=consent, consent_version=consent_version)

    def _limit_address(self, caller: Caller) -> None:
        self._per_address.hit(caller.client_address or "unknown",
                              limit=self.limits.requests_per_minute_per_address,
                              message="Too many requests from your network. Please wait a minute and try again.")

    def _visitor(self, token: str, caller: Caller, public_id: str) -> tuple[VisitorToken, str, Agent]:
        """The token's claims, the agent's workspace and the agent: the origin is checked before the token."""
        workspace_id, agent = self._agent(public_id, caller.origin, client_address=caller.client_address)
        claims = self._tokens.read(token, agent=public_id, origin=caller.origin)
        return claims, workspace_id, agent

    def _find(self, public_id: str, origin: str | None) -> tuple[Agent | None, Agent | None, str | None]:
        """(the agent if it exists in an active workspace, the same if it also allows `origin`, its workspace)."""
        route = self._routes.find(public_id) if isinstance(public_id, str) else None
        if route is None:
            return None, None, None
        try:
            if self._workspaces.get(route.workspace_id).status != "active":
                return None, None, None
            agent = self._agents.of(route.workspace_id).get(route.agent_id)
        except NotFound:
            return None, None, None
        allowed = agent if origin and origin.lower() in agent.allowed_origins else None
        return agent, allowed, route.workspace_id

    def _agent(self, public_id: str, origin: str | None, *, client_address: str | None) -> tuple[str, Agent]:
        """The agent, if it exists, its workspace is active and it allows the page's origin; else NotAvailableHere,
        logged, with the same answer whichever it was."""
        agent, allowed, workspace_id = self._find(public_id, origin)
        if allowed is None:
            log.warning("widget call refused", extra={
                "agent": str(public_id)[:40], "origin": (origin or "")[:200], "client": client_address,
                "reason": "unknown agent" if agent is None else "origin not allowed"})
            raise NotAvailableHere(NOT_HERE)
        return workspace_id, allowed

    @staticmethod
    def _visitor_of(claims: VisitorToken, caller: Caller) -> Visitor:
        return Visitor(claims.visitor_id, claims.origin, page_url_of(caller.page_url, claims.origin),
                       caller.client_address)


def lead_notifier(*, workspaces, outbox, public_url: str) -> Callable[[str, Agent, Lead], None]:
    """Mail the workspace's owners and admins that a lead arrived; the mail holds no visitor's details."""
    def notify(workspace_id: str, agent: Agent, lead: Lead) -> None:
        if not agent.notify_on_lead:
            return
        workspace = workspaces.get(workspace_id)
        subject = f"New lead from {agent.name}"
        body = (f"A visitor left their contact details with the agent \"{agent.name}\" in the workspace "
                f"\"{workspace.name}\" at {lead.created_at} (UTC).\n\n"
                f"See it in the control panel, or through the API:\n"
                f"{public_url.rstrip('/')}/api/v1/workspaces/{workspace_id}/leads/{lead.id}\n\n"
                "You receive this because you are an owner or admin of the workspace.\n")
        for member in workspaces.members(workspace_id):
            if member.role in ("owner", "admin"):
                outbox.enqueue(to=member.email, subject=subject, body=body)
    return notify

