"""The passage a reply cited, as the reply used it: what a visitor opens from a source that has no web address."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.errors import NotFound, PassageChanged
from appliance.knowledge.search import citation_url, content_hash
from appliance.storage.database import Database


@dataclass(frozen=True)
class CitedPassage:
    title: str
    heading_path: str
    text: str
    question: str | None = None     # a Q&A pair's question; `text` is then its answer
    url: str | None = None          # a crawled page's address

    def public(self) -> dict:
        return {"title": self.title, "heading_path": self.heading_path, "question": self.question,
                "text": self.text, "url": self.url}


def cited_passage(db: Database, *, conversation_id: str, message_id: int, rank: int) -> CitedPassage:
    """The `rank`th source of reply `message_id`, if that reply is in the conversation and the passage still holds
    the text it had then (checked by its hash): NotFound otherwise, PassageChanged once edited or deleted."""
    row = db.query_one(
        """SELECT ms.source_id, ms.content_hash, ms.chunk_id, ms.qa_pair_id,
                  c.source_id AS chunk_source, c.title, c.heading_path, c.url, c.text, c.content_hash AS chunk_hash,
                  q.source_id AS qa_source, q.question, q.answer, s.title AS source_title, s.kind
           FROM message_sources ms
           JOIN messages m ON m.id = ms.message_id
           LEFT JOIN chunks c ON c.id = ms.chunk_id
           LEFT JOIN qa_pairs q ON q.id = ms.qa_pair_id
           LEFT JOIN sources s ON s.id = ms.source_id
           WHERE ms.message_id = ? AND ms.rank = ? AND m.conversation_id = ? AND m.role = 'agent'""",
        (message_id, rank, conversation_id))
    if row is None:
        raise NotFound("This reply has no such source in your conversation.")
    if row["chunk_id"] is not None:
        if row["chunk_source"] == row["source_id"] and row["chunk_hash"] == row["content_hash"]:
            return CitedPassage(row["title"], row["heading_path"] or "", row["text"],
                                url=citation_url(row["kind"], row["url"]))
    elif (row["answer"] is not None and row["qa_source"] == row["source_id"]
          and content_hash(row["answer"]) == row["content_hash"]):
        return CitedPassage(row["source_title"] or row["question"], "", row["answer"], question=row["question"])
    raise PassageChanged("This passage has been changed or removed since the reply, so it can no longer be shown.")
