"""Full-text retrieval over one workspace's passages and Q&A pairs: SQLite FTS5's BM25 (its published k1 = 1.2,
b = 0.75), the question's content words OR-ed, the title counted twice, as in the plain FTS5 baseline that
`chatspark eval retrieval` measures beside it.

Stop words are left out of the query for a reason beyond the evaluation sets: FTS5 floors the IDF of a word found in
more than half the passages at almost zero, so in a small workspace the words a question is about ("badge office",
in three of six passages) would weigh nothing against a "the" or an "at" found in one passage. Heavier title
weights were measured to help one evaluation set and hurt the other (docs/retrieval.md), so they are not taken."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from appliance.storage.database import Database

# Column weights for bm25(): title, heading path, passage text.
TITLE_WEIGHT, HEADING_WEIGHT, TEXT_WEIGHT = 2.0, 1.0, 1.0
WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both but by
can could did do does doing down during each few for from further had has have having he her here hers herself him
himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or other
our ours ourselves out over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which while who whom why will
with would you your yours yourself yourselves please tell know get got also one s t
""".split())
# Only a crawled page has an address to link to; an upload, pasted text or a Q&A pair never does, whatever its name.
WEB_SOURCE_KINDS = ("url", "sitemap")


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    source_id: str
    title: str
    heading_path: str
    url: str | None
    text: str
    content_hash: str
    score: float          # BM25, higher is better
    origin: str = "passage"


@dataclass(frozen=True)
class QaHit:
    qa_id: int
    source_id: str
    question: str
    answer: str
    score: float


def terms(text: str) -> list[str]:
    """The content words of a question, lower-cased, in order, without repeats or stop words."""
    seen: dict[str, None] = {}
    for word in WORD.findall(text.lower()):
        if word not in STOPWORDS and (len(word) > 1 or word.isdigit()):
            seen.setdefault(word, None)
    return list(seen)


def stem(word: str) -> str:
    """A light English stemmer for comparing words in Python (the index itself uses FTS5's Porter stemmer)."""
    if word.endswith("ss"):
        return word
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("edly", ""), ("ed", ""), ("es", ""),
                         ("s", ""), ("ly", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: len(word) - len(suffix)] + keep
    return word


def citation_url(kind: str | None, url: str | None) -> str | None:
    """The http(s) address a passage of a source of `kind` can be read at, or None: a file's name (which its
    uploader chose, `https://evil.example/...` included) or a title is never a link."""
    if kind not in WEB_SOURCE_KINDS or not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.hostname else None


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def match_expression(words: list[str]) -> str:
    """An FTS5 query that ORs the words, each quoted so no word is read as an operator."""
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


def search(db: Database, question: str, *, limit: int = 10) -> list[Hit]:
    words = terms(question)
    if not words:
        return []
    rows = db.query(
        "SELECT c.id, c.source_id, c.title, c.heading_path, c.url, s.kind, c.text, c.content_hash, c.origin, "
        f"bm25(chunks_fts, {TITLE_WEIGHT}, {HEADING_WEIGHT}, {TEXT_WEIGHT}) AS rank "
        "FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid "
        "JOIN sources s ON s.id = c.source_id AND s.status = 'ready' "
        "WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?",
        (match_expression(words), limit),
    )
    return [Hit(r["id"], r["source_id"], r["title"], r["heading_path"], citation_url(r["kind"], r["url"]), r["text"],
                r["content_hash"], -r["rank"], r["origin"]) for r in rows]


def hits_by_id(db: Database, chunk_ids: list[int]) -> dict[int, Hit]:
    if not chunk_ids:
        return {}
    marks = ",".join("?" * len(chunk_ids))
    rows = db.query(f"SELECT c.id, c.source_id, c.title, c.heading_path, c.url, s.kind, c.text, c.content_hash, "
                    f"c.origin FROM chunks c JOIN sources s ON s.id = c.source_id WHERE c.id IN ({marks})", chunk_ids)
    return {r["id"]: Hit(r["id"], r["source_id"], r["title"], r["heading_path"], citation_url(r["kind"], r["url"]),
                         r["text"], r["content_hash"], 0.0, r["origin"]) for r in rows}


def search_qa(db: Database, question: str, *, limit: int = 5) -> list[QaHit]:
    words = terms(question)
    if not words:
        return []
    rows = db.query(
        "SELECT q.id, q.source_id, q.question, q.answer, bm25(qa_fts) AS rank FROM qa_fts "
        "JOIN qa_pairs q ON q.id = qa_fts.rowid JOIN sources s ON s.id = q.source_id AND s.status = 'ready' "
        "WHERE qa_fts MATCH ? ORDER BY rank LIMIT ?",
        (match_expression(words), limit),
    )
    return [QaHit(r["id"], r["source_id"], r["question"], r["answer"], -r["rank"]) for r in rows]


class TermStatistics:
    """How rare each query word is in the workspace's passages: the weight of a word in a confidence score."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._total = db.query_one("SELECT count(*) FROM chunks")[0] or 0

    def idf(self, word: str) -> float:
        found = self._db.query_one("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?",
                                   (match_expression([word]),))[0]
        return self.idf_of(found)

    def idf_of(self, found: int) -> float:
        """The IDF of a word that `found` of the workspace's passages hold."""
        return math.log((self._total - found + 0.5) / (found + 0.5) + 1.0)

    def contains(self, chunk_id: int, word: str) -> bool:
        return self._db.query_one("SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid = ?",
                                  (match_expression([word]), chunk_id)) is not None
