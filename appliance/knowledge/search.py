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
from typing import Iterable
from urllib.parse import urlsplit

from appliance.storage.database import Database

# Column weights for bm25(): title, heading path, passage text.
TITLE_WEIGHT, HEADING_WEIGHT, TEXT_WEIGHT = 2.0, 1.0, 1.0
WORD = re.compile(r"\w+", re.UNICODE)
# NLTK's English stop-word list (nltk_data, corpora/stopwords/english), as published, with the forms that hold an
# apostrophe left out: `WORD` splits "don't" into "don" and "t", both listed. A published list rather than one of
# our own: the appliance's former hand-made list (close to NLTK's, with "please", "tell", "get" and the like) was
# 3 queries in 1,249 below plain FTS5 on stackfaq; this one is above it on both evaluation sets (docs/retrieval.md).
STOPWORDS = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers herself it
its itself they them their theirs themselves what which who whom this that these those am is are was were be been
being have has had having do does did doing a an the and but if or because as until while of at by for with about
against between into through during before after above below to from up down in out on off over under again further
then once here there when where why how all any both each few more most other some such no nor not only own same so
than too very s t can will just don should now d ll m o re ve y ain aren couldn didn doesn hadn hasn haven isn ma
mightn mustn needn shan shouldn wasn weren won wouldn
""".split())
# Passages ranked beyond those asked for, for sources being indexed whose passages are in the index but not ready.
RANK_MARGIN = 10
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


_SUFFIX_ENDS = frozenset("sgdy")  # the last letters of the suffixes `stem` takes off


def stem(word: str) -> str:
    """A light English stemmer for comparing words in Python (the index itself uses FTS5's Porter stemmer)."""
    if word[-1:] not in _SUFFIX_ENDS or word.endswith("ss"):
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
    """The `limit` best passages of ready sources for the question, best first.

    The full-text index ranks alone, and only the passages it puts first are read: joining every passage a question's
    words match (most of a workspace, for an OR of common words) read their text before sorting, page by page, and
    each of those pages is decrypted and authenticated again whenever a write elsewhere empties the page cache. A
    source being indexed or refreshed still has passages in the index, so a few more are ranked than asked for, and
    more again in the rare case that too few of them are ready."""
    words = terms(question)
    if not words:
        return []
    expression, fetch = match_expression(words), limit + RANK_MARGIN
    while True:
        ranked = db.query(
            f"SELECT rowid, bm25(chunks_fts, {TITLE_WEIGHT}, {HEADING_WEIGHT}, {TEXT_WEIGHT}) FROM chunks_fts "
            "WHERE chunks_fts MATCH ? ORDER BY 2 LIMIT ?", (expression, fetch))
        scores = {r[0]: -r[1] for r in ranked}
        ready = _hits(db, scores, ready_only=True)
        found = [ready[c] for c in scores if c in ready]
        if len(found) >= limit or len(ranked) < fetch:
            return found[:limit]
        fetch *= 4


def hits_by_id(db: Database, chunk_ids: list[int]) -> dict[int, Hit]:
    return _hits(db, dict.fromkeys(chunk_ids, 0.0), ready_only=False)


def _hits(db: Database, scores: dict[int, float], *, ready_only: bool) -> dict[int, Hit]:
    """The passages of `scores` (those of ready sources only, if asked) with their scores, by id."""
    if not scores:
        return {}
    marks = ",".join("?" * len(scores))
    ready = " AND s.status = 'ready'" if ready_only else ""
    rows = db.query(f"SELECT c.id, c.source_id, c.title, c.heading_path, c.url, s.kind, c.text, c.content_hash, "
                    f"c.origin FROM chunks c JOIN sources s ON s.id = c.source_id{ready} WHERE c.id IN ({marks})",
                    list(scores))
    return {r["id"]: Hit(r["id"], r["source_id"], r["title"], r["heading_path"], citation_url(r["kind"], r["url"]),
                         r["text"], r["content_hash"], scores[r["id"]], r["origin"]) for r in rows}


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
    """How rare each of a question's words is among the workspace's passages (the weight of a word in a confidence
    score), and which of the passages being weighed hold it: one query per word, however many passages are weighed."""

    def __init__(self, db: Database, words: Iterable[str], chunk_ids: Iterable[int]) -> None:
        ids = list(dict.fromkeys(chunk_ids))
        marks = ",".join("?" * len(ids))
        self._found: dict[str, int] = {}
        self._holders: dict[str, frozenset[int]] = {}
        self._total = db.query_one("SELECT count(*) FROM chunks")[0] or 0
        for word in dict.fromkeys(words):
            found, holders = db.query_one(
                f"SELECT count(*), group_concat(CASE WHEN rowid IN ({marks}) THEN rowid END) FROM chunks_fts "
                "WHERE chunks_fts MATCH ?", (*ids, match_expression([word])))
            self._found[word] = found
            self._holders[word] = frozenset(int(c) for c in holders.split(",")) if holders else frozenset()

    def idf(self, word: str) -> float:
        return self.idf_of(self._found[word])

    def idf_of(self, found: int) -> float:
        """The IDF of a word that `found` of the workspace's passages hold."""
        return math.log((self._total - found + 0.5) / (found + 0.5) + 1.0)

    def contains(self, chunk_id: int, word: str) -> bool:
        return chunk_id in self._holders[word]
