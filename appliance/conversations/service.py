"""Conversations per workspace: the chat with an agent as it happens, the leads visitors leave, and the records,
lead lists and analytics that the workspace's people read."""

from __future__ import annotations

from appliance.agent.service import Agents
from appliance.clock import Clock
from appliance.conversations.analytics_report import AnalyticsReport
from appliance.conversations.chat import ConversationService
from appliance.conversations.lead_records import LeadRecords
from appliance.conversations.leads import LeadService
from appliance.conversations.records import ConversationRecords
from appliance.storage.workspace_files import WorkspaceDatabases


class Conversations:
    def __init__(self, *, files: WorkspaceDatabases, clock: Clock, agents: Agents, on_reply=None) -> None:
        self._files = files
        self._clock = clock
        self._agents = agents
        self._on_reply = on_reply  # (channel, reply) of every reply given: the metrics count them

    def chat(self, workspace_id: str) -> ConversationService:
        """Asking the workspace's agents, each question and reply kept."""
        db = self._files.open(workspace_id)
        return ConversationService(db, clock=self._clock, answerer=self._agents.answerer(db), on_reply=self._on_reply)

    def leads(self, workspace_id: str, *, on_lead=None) -> LeadService:
        return LeadService(self._files.open(workspace_id), clock=self._clock, on_lead=on_lead)

    def records(self, workspace_id: str) -> ConversationRecords:
        return ConversationRecords(self._files.open(workspace_id), clock=self._clock)

    def lead_records(self, workspace_id: str) -> LeadRecords:
        return LeadRecords(self._files.open(workspace_id), clock=self._clock)

    def analytics(self, workspace_id: str, *, redacted: bool) -> AnalyticsReport:
        """The analytics report; `redacted` masks personal data in question texts, for readers who may not read
        conversations."""
        return AnalyticsReport(self._files.open(workspace_id), clock=self._clock, redacted=redacted)
