"""The files of one workspace's export: training data with the originals as uploaded, agents' settings, conversations,
leads and analytics over the workspace's whole life, made one at a time from one read snapshot of its database."""

from __future__ import annotations

import datetime as dt
import json
from typing import Iterator

from appliance.agent.agents import AgentService
from appliance.clock import Clock
from appliance.conversations.analytics_report import COUNTS, MAX_DAYS, AnalyticsReport
from appliance.conversations.lead_records import LeadFilters, LeadRecords
from appliance.conversations.records import ConversationFilters, ConversationRecords
from appliance.exports import queries
from appliance.exports.archive import Entry, safe_filename
from appliance.exports.spreadsheets import to_csv
from appliance.exports.streamed import json_array_chunks
from appliance.storage.database import Database
from appliance.workspaces.service import Workspace

# What pasted text and Q&A sources keep as their original, by kind; files keep their own name.
ORIGINAL_NAMES = {"text": "text.md", "qa": "pairs.json"}


def as_json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1).encode("utf-8")


class WorkspaceExport:
    """Entries (path, bytes or chunks) for the archive; `counts` is complete once they have all been read."""

    def __init__(self, db: Database, workspace: Workspace, *, clock: Clock) -> None:
        self._db = db
        self._workspace = workspace
        self._clock = clock
        self.counts: dict[str, int] = {}

    def entries(self) -> Iterator[Entry]:
        with self._db.snapshot():
            yield from self._training()
            yield from self._agents()
            yield from self._conversations()
            yield from self._leads()
            yield from self._analytics()

    def _training(self) -> Iterator[Entry]:
        sources = queries.sources(self._db)
        for source in sources:
            folder = f"training/sources/{source.id}"
            original = queries.source_original(self._db, source.id)
            name = None
            if original:
                name = ORIGINAL_NAMES.get(source.kind) or safe_filename(source.filename)
                yield f"{folder}/original/{name}", original
            yield f"{folder}/metadata.json", as_json(
                {**source.public(), "original": f"original/{name}" if name else None})
        pairs = queries.qa_pairs(self._db)
        yield "training/qa_pairs.json", as_json([{"source_id": p.source_id, "source_title": p.source_title,
                                                  "question": p.question, "answer": p.answer} for p in pairs])
        yield "training/qa_pairs.csv", to_csv(("source_id", "source_title", "question", "answer"), (
            [p.source_id, p.source_title, p.question, p.answer] for p in pairs)).encode("utf-8")
        self.counts.update(sources=len(sources), qa_pairs=len(pairs))

    def _agents(self) -> Iterator[Entry]:
        agents = AgentService(self._db, clock=self._clock).list()
        for agent in agents:
            yield f"agents/{agent.id}.json", as_json(agent.public())
        self.counts["agents"] = len(agents)

    def _conversations(self) -> Iterator[Entry]:
        # Made a page of conversations at a time as the archive reads them: a large workspace never sits in memory.
        records = ConversationRecords(self._db, clock=self._clock)
        as_json_export = records.stream(ConversationFilters(), "json")
        yield "conversations/conversations.json", as_json_export.encoded()
        yield "conversations/conversations.csv", records.stream(ConversationFilters(), "csv").encoded()
        self.counts["conversations"] = as_json_export.count

    def _leads(self) -> Iterator[Entry]:
        records = LeadRecords(self._db, clock=self._clock)
        export = records.stream_csv(LeadFilters())
        yield "leads/leads.csv", export.encoded()
        # JSON as well: it keeps what the CSV leaves out, such as the visitor's address
        yield "leads/leads.json", (chunk.encode("utf-8") for chunk in json_array_chunks(
            [lead.public() for lead in page] for page in records.pages(LeadFilters())))
        self.counts["leads"] = export.count

    def _analytics(self) -> Iterator[Entry]:
        """The daily table and the fell-back questions from the workspace's first day to today."""
        report = AnalyticsReport(self._db, clock=self._clock)
        first_event, last_event = queries.analytics_days(self._db)
        today = self._clock.now().astimezone(dt.timezone.utc).date().isoformat()
        first = min(filter(None, (self._workspace.created_at[:10], first_event, today)))
        last = max(filter(None, (today, last_event)))
        days, questions = [], {}
        for since, until in _windows(first, last):  # a report covers at most MAX_DAYS days; whole life is longer
            days += report.daily(since, until)
            for question in report.fell_back_questions(since, until, limit=1_000_000):
                count, last_asked = questions.get(question.question, (0, ""))
                questions[question.question] = (count + question.count, max(last_asked, question.last_asked))
        yield "analytics/daily.csv", to_csv(("day", *COUNTS), (
            [d.day, *(getattr(d, name) for name in COUNTS)] for d in days)).encode("utf-8")
        # The report's own order: most often fallen back first, then most recent, then alphabetical.
        ranked = sorted(questions.items(), key=lambda item: item[0])
        ranked.sort(key=lambda item: item[1], reverse=True)
        yield "analytics/fell_back_questions.csv", to_csv(("question", "count", "last_asked"), (
            [text, count, last_asked] for text, (count, last_asked) in ranked)).encode("utf-8")
        self.counts["analytics_days"] = len(days)


def _windows(first: str, last: str) -> Iterator[tuple[str, str]]:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    while start <= end:
        stop = min(end, start + dt.timedelta(days=MAX_DAYS - 1))
        yield start.isoformat(), stop.isoformat()
        start = stop + dt.timedelta(days=1)
