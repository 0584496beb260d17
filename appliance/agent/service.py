"""The agents of every workspace: each workspace's AgentService, kept in step with the widget's routes, and the
answerer that replies from the workspace's own knowledge."""

from __future__ import annotations

from typing import Iterable

from appliance.agent.agents import AgentService
from appliance.agent.answer import Answerer
from appliance.agent.routes import AgentRoutes
from appliance.clock import Clock
from appliance.knowledge.service import Knowledge
from appliance.storage.database import Database
from appliance.storage.workspace_files import WorkspaceDatabases
from appliance.turns import Turns


class Agents:
    def __init__(self, *, files: WorkspaceDatabases, clock: Clock, knowledge: Knowledge,
                 routes: AgentRoutes | None = None, egress_allowed_hosts: frozenset[str] = frozenset(),
                 turns: Turns | None = None) -> None:
        self._files = files
        self._clock = clock
        self._knowledge = knowledge
        self._routes = routes
        self._egress_allowed_hosts = egress_allowed_hosts
        self._turns = turns or Turns(1)

    def of(self, workspace_id: str) -> AgentService:
        """The agents of one workspace; creating or deleting one adds or removes its widget route."""
        routes = self._routes
        if routes is None:
            return AgentService(self._files.open(workspace_id), clock=self._clock)
        return AgentService(
            self._files.open(workspace_id), clock=self._clock,
            on_created=lambda agent: routes.add(agent.public_id, workspace_id=workspace_id, agent_id=agent.id),
            on_deleted=lambda agent: routes.remove(agent.public_id))

    def answerer(self, db: Database) -> Answerer:
        """What replies to questions from the workspace database `db`: its Q&A pairs and passages, and the optional
        generator on an allowed host."""
        return Answerer(db, retriever=self._knowledge.retriever(db), egress_allowed_hosts=self._egress_allowed_hosts,
                        turns=self._turns)

    def repair_routes(self, workspace_ids: Iterable[str]) -> None:
        """Make the widget's routes match each workspace's agents again, after a crash between the two databases'
        writes."""
        if self._routes is None:
            return
        for workspace_id in workspace_ids:
            self._routes.sync(workspace_id, {a.public_id: a.id for a in self.of(workspace_id).list()})
