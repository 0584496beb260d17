"""What the chat widget may do: open a visitor session, ask, rate a reply, open a cited passage, leave a lead, each
checked against the agent's allowed origins, the visitor's token and the rate limits."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable

from appliance.agent.agents import Agent, origin_of
from appliance.agent.routes import AgentRoutes
from appliance.agent.service import Agents
from appliance.clock import Clock
from appliance.conversations.analytics import day_of
from appliance.conversations.chat import LeadLeft, Message, Visitor
from appliance.conversations.cited_passages import CitedPassage
from appliance.conversations.leads import Lead
from appliance.conversations.service import Conversations
from appliance.errors import ApplianceError, DailyShareUsedUp, NotAvailableHere, NotFound, VisitorTokenInvalid
from appliance.rate_limits import MinuteWindows
from appliance.widget.daily_shares import WHOLE_DAY, DailyShares, Share
from appliance.widget.networks import address_of, network_of, sender_of
from appliance.widget.visitor_tokens import VisitorToken, VisitorTokens
from appliance.workspaces.service import WorkspaceService

log = logging.getLogger("chatspark.widget")
# Within one request (`WidgetService.one_request`): each agent the request names, as found (or not) at its start.
_FOUND: ContextVar[dict | None] = ContextVar("chatspark_widget_agents", default=None)
NOT_HERE = "This chat is not available here."
MAX_PAGE_URL_CHARS = 2000


@dataclass(frozen=True)
class WidgetLimits:
    requests_per_minute_per_address: int = 120
    messages_per_minute_per_visitor: int = 12       # keyed on the visitor's address (IPv6: its /64), not its token
    messages_per_agent_per_day: int = 10_000
    max_message_chars: int = 1000
    # The most of an agent's day one client address, and one network (IPv4 /24, IPv6 /64), may use, in percent.
    address_share_percent: float = 2.0
    network_share_percent: float = 5.0
    # The shares of the agent's day at which its workspace's owners and admins are mailed, once a day each.
    alert_percents: tuple[int, ...] = (80, 100)

    def share_of_day(self, percent: float) -> int:
        return max(1, math.floor(self.messages_per_agent_per_day * percent / 100))


@dataclass(frozen=True)
class CapAlert:
    """What the admins are told when an agent has used `percent` of its day: `answered` of `per_day` questions."""

    percent: int
    answered: int
    per_day: int
    address_share: int
    network_share: int


@dataclass(frozen=True)
class WidgetSession:
    token: str
    claims: VisitorToken
    agent: Agent
    messages: list[Message]
    lead: LeadLeft | None


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
                 on_lead: Callable[[str, Agent, Lead], None] | None = None,
                 on_cap_alert: Callable[[str, Agent, CapAlert], None] | None = None) -> None:
        self._routes = routes
        self._agents = agents
        self._conversations = conversations
        self._workspaces = workspaces
        self._tokens = tokens
        self._clock = clock
        self.limits = limits
        self._on_lead = on_lead
        self._on_cap_alert = on_cap_alert
        self._per_address = MinuteWindows()
        self._per_visitor = MinuteWindows()
        self._day_shares = DailyShares()
        self._alerted: set[tuple[str, str, int]] = set()

    @property
    def token_lifetime(self):
        return self._tokens.lifetime

    @contextlib.contextmanager
    def one_request(self):
        """Within it, an agent is looked up once however often the request asks about it (its CORS check, then its
        answer): a request sees one state of the agent, and the next request looks again."""
        token = _FOUND.set({})
        try:
            yield
        finally:
            _FOUND.reset(token)

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
        if previous and not restart:
            return WidgetSession(text, claims, agent, conversations.messages(claims.conversation_id),
                                 conversations.lead_left(claims.conversation_id))
        return WidgetSession(text, claims, agent, [], None)

    def ask(self, token: str, caller: Caller, text: Any, *, agent: str) -> tuple[Message, Message]:
        """The visitor's message and the agent's reply, as the widget shows them."""
        self._limit_address(caller)
        claims, workspace_id, agent = self._visitor(token, caller, agent)
        self._limit_sender(caller, "You're sending messages quickly. Please wait a moment and try again.")
        conversations = self._conversations.chat(workspace_id)
        visitor = self._visitor_of(claims, caller)
        day, shares = day_of(self._clock.now()), self._shares(visitor)
        try:
            answered = self._day_shares.take(
                agent.id, day=day, shares=shares, retry_after_seconds=self._seconds_to_midnight(),
                already=lambda key: conversations.questions_today(agent.id, counted_as=key or None))
        except DailyShareUsedUp as exc:
            if exc.scope == "agent":
                self._alert(workspace_id, agent, day, answered=self.limits.messages_per_agent_per_day)
            raise
        try:
            exchange = conversations.ask(agent, text if isinstance(text, str) else "",
                                         conversation_id=claims.conversation_id,
                                         max_chars=self.limits.max_message_chars, visitor=visitor)
        except Exception:
            self._day_shares.give_back(agent.id, day=day, shares=shares)
            raise
        self._alert(workspace_id, agent, day, answered=answered)
        return exchange.messages()

    def rate(self, token: str, caller: Caller, message_id: Any, rating: Any, *, agent: str) -> None:
        self._limit_address(caller)
        claims, workspace_id, _ = self._visitor(token, caller, agent)
        if not isinstance(message_id, int):
            raise NotFound("no such reply")
        self._conversations.chat(workspace_id).rate(claims.conversation_id, message_id, rating)

    def cited_passage(self, token: str, caller: Caller, message_id: Any, rank: Any, *, agent: str) -> CitedPassage:
        """A passage a reply in the visitor's own conversation cited: nothing of any other conversation or source."""
        self._limit_address(caller)
        claims, workspace_id, _ = self._visitor(token, caller, agent)
        if not isinstance(message_id, int) or not isinstance(rank, int):
            raise NotFound("This reply has no such source in your conversation.")
        return self._conversations.chat(workspace_id).cited_passage(claims.conversation_id, message_id, rank)

    def leave_lead(self, token: str, caller: Caller, *, fields: Any, consent: Any, consent_version: Any,
                   agent: str) -> Lead:
        self._limit_address(caller)
        claims, workspace_id, agent = self._visitor(token, caller, agent)
        self._limit_sender(caller, "You're sending forms quickly. Please wait a moment and try again.")
        if agent.lead_capture == "off":
            raise NotAvailableHere("this chat does not take contact details")
        on_lead = self._on_lead
        leads = self._conversations.leads(
            workspace_id, on_lead=(lambda a, lead: on_lead(workspace_id, a, lead)) if on_lead else None)
        return leads.submit(agent, conversation_id=claims.conversation_id, visitor=self._visitor_of(claims, caller),
                            fields=fields, consent=consent, consent_version=consent_version)

    def _limit_address(self, caller: Caller) -> None:
        self._per_address.hit(sender_of(caller.client_address), limit=self.limits.requests_per_minute_per_address,
                              message="Too many requests from your network. Please wait a minute and try again.")

    def _limit_sender(self, caller: Caller, message: str) -> None:
        """The per-visitor limit, on the visitor's address rather than its token: a new session, which any script
        can open, must not start it afresh."""
        self._per_visitor.hit(sender_of(caller.client_address), limit=self.limits.messages_per_minute_per_visitor,
                              message=message)

    def _shares(self, visitor: Visitor) -> list[Share]:
        """The network's share first, then the address's, then the agent's whole day."""
        limits = self.limits
        network, address = visitor.counted_as
        return [
            Share(network, limits.share_of_day(limits.network_share_percent), "network",
                  "Your network has asked as many questions as it may today. Please try again tomorrow."),
            Share(address, limits.share_of_day(limits.address_share_percent), "address",
                  "You have asked as many questions as one visitor may today. Please try again tomorrow."),
            Share(WHOLE_DAY, limits.messages_per_agent_per_day, "agent",
                  "This chat has answered as many questions as it may today. Please try again tomorrow."),
        ]

    def _alert(self, workspace_id: str, agent: Agent, day: str, *, answered: int) -> None:
        """Mail the admins as the agent's day nears its end: once per threshold and day, even across restarts."""
        limits = self.limits
        for percent in limits.alert_percents:
            if answered < max(1, math.ceil(limits.messages_per_agent_per_day * percent / 100)):
                continue
            if (agent.id, day, percent) in self._alerted:
                continue
            self._alerted = {sent for sent in self._alerted if sent[1] == day} | {(agent.id, day, percent)}
            if not self._conversations.chat(workspace_id).note_cap_alert(agent.id, percent) or not self._on_cap_alert:
                continue
            alert = CapAlert(percent, answered, limits.messages_per_agent_per_day,
                             limits.share_of_day(limits.address_share_percent),
                             limits.share_of_day(limits.network_share_percent))
            try:
                self._on_cap_alert(workspace_id, agent, alert)
            except ApplianceError:
                # The visitor's answer is recorded and stands; the admins' mail is what failed, and the log says so.
                log.exception("the alert that agent %s answered %s%% of its day could not be queued", agent.id,
                              percent)

    def _seconds_to_midnight(self) -> int:
        now = self._clock.now().astimezone(dt.timezone.utc)
        midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
        return max(1, math.ceil((midnight - now).total_seconds()))

    def _visitor(self, token: str, caller: Caller, public_id: str) -> tuple[VisitorToken, str, Agent]:
        """The token's claims, the agent's workspace and the agent: the origin is checked before the token."""
        workspace_id, agent = self._agent(public_id, caller.origin, client_address=caller.client_address)
        claims = self._tokens.read(token, agent=public_id, origin=caller.origin)
        return claims, workspace_id, agent

    def _find(self, public_id: str, origin: str | None) -> tuple[Agent | None, Agent | None, str | None]:
        """(the agent if it exists in an active workspace, the same if it also allows `origin`, its workspace)."""
        found = _FOUND.get()
        if found is None:
            agent, workspace_id = self._look_up(public_id)
        else:
            if public_id not in found:
                found[public_id] = self._look_up(public_id)
            agent, workspace_id = found[public_id]
        allowed = agent if agent is not None and origin and origin.lower() in agent.allowed_origins else None
        return agent, allowed, workspace_id

    def _look_up(self, public_id: str) -> tuple[Agent | None, str | None]:
        """The agent and its workspace, if it exists in an active workspace."""
        route = self._routes.find(public_id) if isinstance(public_id, str) else None
        if route is None:
            return None, None
        try:
            if self._workspaces.get(route.workspace_id).status != "active":
                return None, None
            return self._agents.of(route.workspace_id).get(route.agent_id), route.workspace_id
        except NotFound:
            return None, None

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

    def _visitor_of(self, claims: VisitorToken, caller: Caller) -> Visitor:
        # Counted under keyed hashes of the network and the address, so the database never holds an address for it.
        counted_as = (f"network:{self._tokens.pseudonym(network_of(caller.client_address))}",
                      f"address:{self._tokens.pseudonym(address_of(caller.client_address))}")
        return Visitor(claims.visitor_id, claims.origin, page_url_of(caller.page_url, claims.origin),
                       caller.client_address, counted_as)


def cap_alert_notifier(*, workspaces, outbox) -> Callable[[str, Agent, CapAlert], None]:
    """Mail the workspace's owners and admins that an agent has used (most of) the questions it may answer through
    the widget today; the mail names no visitor and no address."""
    def notify(workspace_id: str, agent: Agent, alert: CapAlert) -> None:
        workspace = workspaces.get(workspace_id)
        used_up = alert.answered >= alert.per_day
        subject = (f"{agent.name} has answered all its widget questions for today" if used_up else
                   f"{agent.name} has answered {alert.percent}% of its widget questions for today")
        body = (f"The agent \"{agent.name}\" in the workspace \"{workspace.name}\" has answered {alert.answered} of "
                f"the {alert.per_day} questions it may answer through the widget today (UTC).\n\n"
                + ("Until midnight UTC the widget asks every visitor to come back tomorrow.\n\n" if used_up else
                   f"At {alert.per_day} the widget asks every visitor to come back tomorrow.\n\n")
                + f"No single address may ask more than {alert.address_share} of them, and no network (IPv4 /24, "
                  f"IPv6 /64) more than {alert.network_share}, so one source cannot use up the day alone. If real "
                  "visitors are being turned away, an operator can raise widget_messages_per_agent_per_day.\n\n"
                  "You receive this because you are an owner or admin of the workspace.\n")
        for member in workspaces.members(workspace_id):
            if member.role in ("owner", "admin"):
                outbox.enqueue(to=member.email, subject=subject, body=body)
    return notify


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

