"""Leads as the workspace's admins work with them: searched, read with their conversation, exported, deleted."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterator

from appliance.clock import Clock, isoformat
from appliance.conversations import listing
from appliance.conversations.leads import BUILTIN_COLUMNS, Lead, lead_from_row
from appliance.conversations.records import ConversationRecords, Export, Transcript
from appliance.errors import NotFound
from appliance.exports.spreadsheets import csv_chunks
from appliance.exports.streamed import StreamedExport
from appliance.storage.database import Database

EXPORT_BATCH = 500
CUSTOM_PREFIX = "custom."  # custom field columns are named apart, so a field called "origin" cannot clash


@dataclass(frozen=True)
class LeadFilters:
    agent_id: str | None = None
    since: str | None = None          # left at or after (inclusive)
    until: str | None = None          # left before (exclusive)
    q: str | None = None              # in the name, email, phone, company or a custom field, any case

    @classmethod
    def from_params(cls, params: listing.Params) -> "LeadFilters":
        return cls(agent_id=params.get("agent_id") or None, since=listing.instant(params, "since"),
                   until=listing.instant(params, "until"), q=(params.get("q") or "").strip() or None)

    def summary(self) -> dict:
        """The filters in force, for an audit row; a search text may be someone's name, so only its use is kept."""
        used = {name: value for name, value in asdict(self).items() if value is not None}
        if "q" in used:
            used["q"] = True
        return used


@dataclass(frozen=True)
class LeadRecord:
    lead: Lead
    conversation: Transcript | None   # None when the conversation was deleted


@dataclass(frozen=True)
class LeadDeletion:
    leads: int
    ids: list[str]
    at: str

    def counts(self) -> dict[str, int]:
        return {"leads": self.leads}


def _where(filters: LeadFilters) -> tuple[list[str], list]:
    clauses, params = [], []
    for column, value in (("l.agent_id = ?", filters.agent_id), ("l.created_at >= ?", filters.since),
                          ("l.created_at < ?", filters.until)):
        if value is not None:
            clauses.append(column)
            params.append(value)
    if filters.q:
        # LIKE ignores the case of ASCII letters; custom fields are searched by value, not by field name.
        clauses.append("(" + " OR ".join(f"l.{c} LIKE ? ESCAPE '\\'" for c in BUILTIN_COLUMNS)
                       + " OR EXISTS (SELECT 1 FROM json_each(l.custom_fields) f WHERE f.value LIKE ? ESCAPE '\\'))")
        params += [listing.like_pattern(filters.q)] * (len(BUILTIN_COLUMNS) + 1)
    return clauses, params


class LeadRecords:
    def __init__(self, db: Database, *, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._conversations = ConversationRecords(db, clock=clock)

    def count(self, filters: LeadFilters | None = None) -> int:
        clauses, params = _where(filters or LeadFilters())
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._db.query_one(f"SELECT count(*) FROM leads l {where}", params)[0]

    def list(self, filters: LeadFilters | None = None, *, limit: int = listing.DEFAULT_LIMIT,
             after: str | None = None) -> listing.Page[Lead]:
        """Leads newest first (ties by id), `limit` at a time; `after` is the previous page's next_after."""
        clauses, params = _where(filters or LeadFilters())
        start = listing.position(after)
        if start is not None:
            clauses.append("(l.created_at < ? OR (l.created_at = ? AND l.id > ?))")
            params += [start[0], start[0], start[1]]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.query(f"SELECT l.* FROM leads l {where} ORDER BY l.created_at DESC, l.id LIMIT ?",
                              [*params, limit + 1])
        more, rows = len(rows) > limit, rows[:limit]
        next_after = listing.cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None
        return listing.Page([lead_from_row(r) for r in rows], next_after)

    def get(self, lead_id: str) -> LeadRecord:
        """One lead with the transcript of the conversation it was left in, if that still exists."""
        row = self._db.query_one("SELECT * FROM leads WHERE id = ?", (lead_id,))
        if row is None:
            raise NotFound(f"no lead {lead_id}")
        lead = lead_from_row(row)
        conversation = None
        if lead.conversation_id is not None:
            try:
                conversation = self._conversations.get(lead.conversation_id)
            except NotFound:  # deleted between the two reads
                conversation = None
        return LeadRecord(lead, conversation)

    def delete(self, lead_id: str) -> LeadDeletion:
        """Delete one lead and the consent record it carries; its conversation and the day's counts stay."""
        with self._db.transaction() as conn:
            if conn.execute("DELETE FROM leads WHERE id = ?", (lead_id,)).rowcount != 1:
                raise NotFound(f"no lead {lead_id}")
        return LeadDeletion(1, [lead_id], isoformat(self._clock.now()))

    def export_csv(self, filters: LeadFilters) -> Export:
        """Every matching lead as CSV at once; `stream_csv` gives the same a page at a time."""
        stream = self.stream_csv(filters)
        content = "".join(stream.chunks)
        return Export(content, stream.media_type, stream.filename, stream.count)

    def stream_csv(self, filters: LeadFilters) -> StreamedExport:
        """Every matching lead as CSV, newest first, one column per custom field any of them has: a first pass over
        the leads finds those fields, the second writes the rows (inside `Database.snapshot()`, both see one moment).
        """
        export = StreamedExport("text/csv", f"leads-{isoformat(self._clock.now())[:10]}.csv")

        def chunks() -> Iterator[str]:
            custom = list(dict.fromkeys(name for page in self.pages(filters) for lead in page
                                        for name in lead.custom_fields))
            header = ["id", "created_at", "agent_id", *BUILTIN_COLUMNS, *(CUSTOM_PREFIX + n for n in custom),
                      "consent_version", "consent_text", "consented_at", "page_url", "origin", "conversation_id"]
            rows = ([lead.id, lead.created_at, lead.agent_id, lead.name, lead.email, lead.phone, lead.company,
                     *(lead.custom_fields.get(n) for n in custom), lead.consent_version, lead.consent_text,
                     lead.consented_at, lead.page_url, lead.origin, lead.conversation_id]
                    for page in export.counting(self.pages(filters)) for lead in page)
            yield from csv_chunks(header, rows)

        export.chunks = chunks()
        return export

    def pages(self, filters: LeadFilters) -> Iterator[list[Lead]]:
        """Every matching lead, newest first, `EXPORT_BATCH` at a time."""
        after = None
        while True:
            page = self.list(filters, limit=EXPORT_BATCH, after=after)
            yield page.items
            if page.next_after is None:
                return
            after = page.next_after
