"""Training sources of one workspace: adding, editing, refreshing and deleting them, and indexing each into passages."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Callable, Iterable

from appliance.clock import Clock, isoformat
from appliance.errors import ApplianceError, Conflict, NotFound, ValidationError
from appliance.knowledge.chunking import Passage, chunk_document, chunk_section
from appliance.knowledge.dense import bump_index_version
from appliance.knowledge.extract import Document, Limits, extract, extract_html, extract_text
from appliance.knowledge.indexing_progress import IndexingProgress
from appliance.knowledge.search import citation_url, content_hash
from appliance.storage import fts_merge
from appliance.storage.database import Database

log = logging.getLogger(__name__)
MAX_TITLE = 200
# Texts embedded between two progress reports: a few seconds of work on one core.
EMBED_STEP = 16
# The full-text indexes of a workspace's sources: its passages, and its Q&A pairs' questions.
INDEXES = ("chunks_fts", "qa_fts")


@dataclass(frozen=True)
class Source:
    id: str
    kind: str
    title: str
    url: str | None
    filename: str | None
    media_type: str | None
    status: str
    error: str | None
    size_bytes: int
    chunk_count: int
    created_at: str
    updated_at: str
    refreshed_at: str | None
    # While the embedding model works through an indexing source: {"done": texts embedded, "total": texts}.
    progress: dict | None = None

    def public(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _source(row, progress: tuple[int, int] | None = None) -> Source:
    return Source(row["id"], row["kind"], row["title"], citation_url(row["kind"], row["url"]), row["filename"],
                  row["media_type"], row["status"], row["error"], row["size_bytes"], row["chunk_count"],
                  row["created_at"], row["updated_at"], row["refreshed_at"],
                  {"done": progress[0], "total": progress[1]} if progress and row["status"] == "indexing" else None)


_COLUMNS = ("id, kind, title, url, filename, media_type, status, error, size_bytes, chunk_count, created_at, "
            "updated_at, refreshed_at")


@dataclass(frozen=True)
class Extracted:
    """What one source became: passages (with where each can be read) and Q&A pairs."""

    passages: list[tuple[str, str | None, Passage]]      # (title, url, passage)
    qa_pairs: list[tuple[str, str]]


class IndexingStopped(Exception):
    """The service is stopping: the source is left as it was (indexing), and indexed again at the next start."""


class SourceService:
    """Sources of one workspace database. Adding returns at once (status queued); `index` does the work."""

    def __init__(self, db: Database, *, clock: Clock, limits: Limits, max_workspace_bytes: int,
                 fetch_pages: Callable[[str, bool], Iterable[tuple[str, str, bytes]]] | None = None,
                 embed: Callable[[list[str]], list[bytes]] | None = None,
                 on_queued: Callable[[str], None] | None = None,
                 progress: IndexingProgress | None = None,
                 stopping: Callable[[], bool] | None = None) -> None:
        self._db = db
        self._clock = clock
        self._limits = limits
        self._max_workspace_bytes = max_workspace_bytes
        self._fetch_pages = fetch_pages
        self._embed = embed
        self._on_queued = on_queued or (lambda source_id: None)
        self._progress = progress or IndexingProgress()
        self._stopping = stopping or (lambda: False)

    def list(self) -> list[Source]:
        return [_source(r, self._progress.of(r["id"]))
                for r in self._db.query(f"SELECT {_COLUMNS} FROM sources ORDER BY created_at, id")]

    def get(self, source_id: str) -> Source:
        row = self._db.query_one(f"SELECT {_COLUMNS} FROM sources WHERE id = ?", (source_id,))
        if row is None:
            raise NotFound(f"no source {source_id}")
        return _source(row, self._progress.of(source_id))

    def original(self, source_id: str) -> bytes:
        row = self._db.query_one("SELECT kind, original FROM sources WHERE id = ?", (source_id,))
        if row is None:
            raise NotFound(f"no source {source_id}")
        if row["kind"] == "file" and row["original"] is None:
            raise NotFound(f"the uploaded file of source {source_id} was removed by the workspace's retention "
                           "policy; the source itself stays indexed")
        return bytes(row["original"] or b"")

    def add_file(self, *, filename: str, data: bytes, media_type: str | None = None) -> Source:
        if len(data) > self._limits.max_bytes:
            raise ValidationError(f"{filename} is {len(data) / 1e6:.1f} MB; the limit is "
                                  f"{self._limits.max_bytes / 1e6:.0f} MB per file")
        return self._add("file", title=_title(filename), original=data, filename=filename, media_type=media_type)

    def add_text(self, *, title: str, text: str) -> Source:
        if not text.strip():
            raise ValidationError("the text is empty")
        return self._add("text", title=_title(title), original=text.encode("utf-8"), media_type="text/markdown")

    def add_qa(self, *, title: str, pairs: list[tuple[str, str]]) -> Source:
        clean = _check_pairs(pairs)
        return self._add("qa", title=_title(title), original=json.dumps(clean).encode("utf-8"),
                         media_type="application/json")

    def add_url(self, *, url: str, sitemap: bool = False) -> Source:
        if not url.lower().startswith(("http://", "https://")):
            raise ValidationError("a URL source starts with http:// or https://")
        if self._fetch_pages is None:
            raise ValidationError("no sites are allowed for crawling on this appliance (crawl_allowed_hosts)")
        return self._add("sitemap" if sitemap else "url", title=_title(url), original=b"", url=url)

    def update_text(self, source_id: str, *, text: str, title: str | None = None) -> Source:
        source = self.get(source_id)
        if source.kind != "text":
            raise ValidationError("only pasted text can be edited; upload a new file instead")
        return self._replace(source, original=text.encode("utf-8"), title=title)

    def update_qa(self, source_id: str, *, pairs: list[tuple[str, str]], title: str | None = None) -> Source:
        source = self.get(source_id)
        if source.kind != "qa":
            raise ValidationError("only Q&A sources hold question and answer pairs")
        return self._replace(source, original=json.dumps(_check_pairs(pairs)).encode("utf-8"), title=title)

    def put_pair(self, source_id: str, *, question: str, answer: str) -> tuple[Source, int]:
        """Add one pair to a Q&A source, or give a question it already holds (worded alike: case and spacing aside)
        this answer; read and written in one transaction, so two people adding answers at once both keep theirs.
        Returns the source and how many pairs it now holds."""
        [(question, answer)] = _check_pairs([(question, answer)])
        same = " ".join(question.split()).casefold()
        with self._db.transaction() as conn:
            row = conn.execute("SELECT kind, original, title FROM sources WHERE id = ?", (source_id,)).fetchone()
            if row is None:
                raise NotFound(f"no source {source_id}")
            if row["kind"] != "qa":
                raise ValidationError("only Q&A sources hold question and answer pairs")
            pairs = [(q, a) for q, a in json.loads(bytes(row["original"] or b"[]"))
                     if " ".join(q.split()).casefold() != same] + [(question, answer)]
            original = json.dumps(pairs).encode("utf-8")
            conn.execute("UPDATE sources SET original = ?, size_bytes = ?, status = 'queued', error = NULL, "
                         "updated_at = ? WHERE id = ?",
                         (original, len(original), isoformat(self._clock.now()), source_id))
        self._on_queued(source_id)
        return self.get(source_id), len(pairs)

    def refresh(self, source_id: str) -> Source:
        self.get(source_id)
        if self._db.query_one("SELECT 1 FROM sources WHERE id = ? AND kind = 'file' AND original IS NULL",
                              (source_id,)):
            raise Conflict("this source's uploaded file was removed by the workspace's retention policy, so it "
                           "cannot be indexed again; upload the file again as a new source")
        with self._db.transaction() as conn:
            conn.execute("UPDATE sources SET status = 'queued', error = NULL, updated_at = ? WHERE id = ?",
                         (isoformat(self._clock.now()), source_id))
        self._on_queued(source_id)
        return self.get(source_id)

    def delete(self, source_id: str) -> None:
        """Remove the source, its passages and Q&A pairs (and their index entries) in one transaction."""
        with self._db.transaction() as conn:
            if conn.execute("DELETE FROM sources WHERE id = ?", (source_id,)).rowcount == 0:
                raise NotFound(f"no source {source_id}")
            bump_index_version(conn)

    def pending(self) -> list[str]:
        """Sources waiting for (or interrupted in) indexing, oldest first: resumed when the service starts."""
        return [r["id"] for r in self._db.query(
            "SELECT id FROM sources WHERE status IN ('queued', 'indexing') ORDER BY created_at")]

    def unembedded(self) -> list[str]:
        """Ready sources with passages that have no vector: indexed while dense retrieval was off."""
        return [r["source_id"] for r in self._db.query(
            "SELECT DISTINCT c.source_id FROM chunks c JOIN sources s ON s.id = c.source_id AND s.status = 'ready' "
            "WHERE c.embedding IS NULL ORDER BY c.source_id")]

    def embed_missing(self, source_id: str) -> Source:
        """Give a ready source's passages that lack one their vectors, in place: the source stays ready and keeps
        answering by its words meanwhile. A passage replaced in the meantime (an edit re-indexed it) is left alone."""
        if self._embed is None:
            return self.get(source_id)
        rows = self._db.query("SELECT id, title, heading_path, url, text, origin FROM chunks "
                              "WHERE source_id = ? AND embedding IS NULL ORDER BY ordinal", (source_id,))
        try:
            blobs = self._embeddings(source_id, [(r["title"], r["heading_path"], r["url"], r["text"], r["origin"])
                                                 for r in rows])
        except IndexingStopped:
            return self.get(source_id)
        finally:
            self._progress.clear(source_id)
        with self._db.transaction() as conn:
            conn.executemany("UPDATE chunks SET embedding = ? WHERE id = ? AND embedding IS NULL",
                             [(blob, r["id"]) for blob, r in zip(blobs, rows, strict=True)])
            bump_index_version(conn)
        return self.get(source_id)

    def _add(self, kind: str, *, title: str, original: bytes, filename: str | None = None,
             media_type: str | None = None, url: str | None = None) -> Source:
        source_id = uuid.uuid4().hex[:16]
        now = isoformat(self._clock.now())
        with self._db.transaction() as conn:
            used = conn.execute("SELECT coalesce(sum(size_bytes), 0) FROM sources").fetchone()[0]
            if used + len(original) > self._max_workspace_bytes:
                raise ValidationError(f"this workspace's training data would exceed its "
                                      f"{self._max_workspace_bytes / 1e6:.0f} MB limit; delete sources first")
            conn.execute(
                "INSERT INTO sources (id, kind, title, url, filename, media_type, size_bytes, content_hash, original, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (source_id, kind, title, url, filename, media_type, len(original),
                 hashlib.sha256(original).hexdigest(), original, now, now),
            )
        self._on_queued(source_id)
        return self.get(source_id)

    def _replace(self, source: Source, *, original: bytes, title: str | None) -> Source:
        with self._db.transaction() as conn:
            conn.execute("UPDATE sources SET original = ?, size_bytes = ?, title = ?, status = 'queued', error = NULL, "
                         "updated_at = ? WHERE id = ?",
                         (original, len(original), _title(title) if title else source.title,
                          isoformat(self._clock.now()), source.id))
        self._on_queued(source.id)
        return self.get(source.id)

    def index(self, source_id: str) -> Source:
        """Extract, chunk and index one source; a failure marks only this source failed, with the reason."""
        row = self._db.query_one("SELECT * FROM sources WHERE id = ?", (source_id,))
        if row is None:
            raise NotFound(f"no source {source_id}")
        with self._db.transaction() as conn:
            conn.execute("UPDATE sources SET status = 'indexing', error = NULL WHERE id = ?", (source_id,))
        try:
            extracted = self._extract(row)
            if not extracted.passages and not extracted.qa_pairs:
                raise ValidationError("no text could be found in this source")
            rows = _chunk_rows(extracted)
            embeddings = self._embeddings(source_id, rows) if self._embed else None
        except IndexingStopped:
            log.info("indexing of source %s stopped with the service; it resumes at the next start", source_id)
            self._progress.clear(source_id)
            return self.get(source_id)
        except ApplianceError as exc:
            return self._mark_failed(source_id, str(exc))
        except Exception:  # an extractor bug must fail this source, not the indexing worker
            log.exception("indexing source %s failed unexpectedly", source_id)
            return self._mark_failed(source_id, "this file could not be read (unexpected error; see the logs)")
        finally:
            self._progress.clear(source_id)
        self._store(source_id, row["title"], rows, extracted.qa_pairs, embeddings)
        return self.get(source_id)

    def merge_index(self) -> int:
        """Fold the passage and Q&A indexes into one segment each, a short transaction at a time, stopping with the
        service (appliance/storage/fts_merge.py); the steps that did work. The indexing worker does it once a
        workspace's queued sources are all indexed, so the words of each are not searched segment by segment."""
        return sum(fts_merge.merge_fully(self._db, table, stopping=self._stopping) for table in INDEXES)

    def _embeddings(self, source_id: str, rows: list[tuple[str, str, str | None, str, str]]) -> list[bytes]:
        """One stored blob per passage: the vector of its title, heading and text, as a reader sees them; a Q&A
        pair's passage also carries the vector of its question alone, since a visitor's question is best matched
        against the question the FAQ asks (docs/retrieval.md). Embedded a few texts at a time, reporting progress."""
        texts: list[str] = []
        for title, heading, _, text, origin in rows:
            texts.append(f"{title}\n{heading}\n{text}")
            if origin == "qa":
                texts.append(title)
        vectors: list[bytes] = []
        self._progress.report(source_id, 0, len(texts))
        for start in range(0, len(texts), EMBED_STEP):
            if self._stopping():
                raise IndexingStopped(source_id)
            vectors += self._embed(texts[start:start + EMBED_STEP])
            self._progress.report(source_id, len(vectors), len(texts))
        blobs, taken = [], 0
        for *_, origin in rows:
            count = 2 if origin == "qa" else 1
            blobs.append(b"".join(vectors[taken:taken + count]))
            taken += count
        return blobs

    def _extract(self, row) -> Extracted:
        kind, title = row["kind"], row["title"]
        original = bytes(row["original"] or b"")
        if kind == "qa":
            return Extracted([], [tuple(p) for p in json.loads(original)])
        if kind == "text":
            return _as_extracted(extract_text(original.decode("utf-8"), title=title), title, None)
        if kind == "file":
            document = extract(original, filename=row["filename"], media_type=row["media_type"],
                               limits=self._limits)
            # No address: the file's name is the uploader's to choose, so it must never become a link.
            return _as_extracted(document, document.title or title, None)
        passages: list[tuple[str, str | None, Passage]] = []
        for page_url, media_type, body in self._fetch_pages(row["url"], kind == "sitemap"):
            if media_type in ("text/html", "application/xhtml+xml"):
                document = extract_html(body, url=page_url)
            else:
                document = extract(body, filename=page_url.rsplit("/", 1)[-1] or "page.txt", media_type=media_type,
                                   limits=self._limits)
            passages.extend(_as_extracted(document, document.title or page_url,
                                          citation_url(kind, page_url)).passages)
        return Extracted(passages, [])

    def _store(self, source_id: str, title: str, rows: list[tuple[str, str, str | None, str, str]],
               qa_pairs: list[tuple[str, str]], embeddings: list[bytes] | None) -> None:
        now = isoformat(self._clock.now())
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM chunks WHERE source_id = ?", (source_id,))
            conn.execute("DELETE FROM qa_pairs WHERE source_id = ?", (source_id,))
            conn.executemany(
                "INSERT INTO chunks (source_id, ordinal, title, heading_path, url, text, content_hash, origin, "
                "embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(source_id, i, chunk_title, heading, url, text, content_hash(text), origin,
                  embeddings[i] if embeddings else None)
                 for i, (chunk_title, heading, url, text, origin) in enumerate(rows)],
            )
            conn.executemany("INSERT INTO qa_pairs (source_id, question, answer) VALUES (?, ?, ?)",
                             [(source_id, q, a) for q, a in qa_pairs])
            bump_index_version(conn)
            conn.execute("UPDATE sources SET status = 'ready', chunk_count = ?, refreshed_at = ?, updated_at = ?, "
                         "title = CASE WHEN kind = 'file' THEN ? ELSE title END WHERE id = ?",
                         (len(rows), now, now, title, source_id))

    def _mark_failed(self, source_id: str, reason: str) -> Source:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM chunks WHERE source_id = ?", (source_id,))
            conn.execute("DELETE FROM qa_pairs WHERE source_id = ?", (source_id,))
            bump_index_version(conn)
            conn.execute("UPDATE sources SET status = 'failed', error = ?, chunk_count = 0, updated_at = ? "
                         "WHERE id = ?", (reason[:500], isoformat(self._clock.now()), source_id))
        return self.get(source_id)


def _chunk_rows(extracted: Extracted) -> list[tuple[str, str, str | None, str, str]]:
    """(title, heading path, url, text) of every passage; Q&A pairs are passages too, titled by their question, so
    questions worded differently still find them."""
    rows = [(title, p.heading_path, url, p.text, "passage") for title, url, p in extracted.passages]
    rows += [(q, "", None, p.text, "qa") for q, a in extracted.qa_pairs for p in chunk_section((), a)]
    return rows


def _as_extracted(document: Document, title: str, url: str | None) -> Extracted:
    passages = chunk_document((s.heading_path, s.text) for s in document.sections)
    return Extracted([(title, url, p) for p in passages], list(document.qa_pairs))


def _title(text: str | None) -> str:
    title = " ".join((text or "").split())[:MAX_TITLE]
    if not title:
        raise ValidationError("a source needs a title")
    return title


def _check_pairs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    clean = []
    for item in pairs:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise ValidationError("each Q&A pair is a question and an answer, both text")
        question, answer = (" ".join(x.split()) for x in item)
        if question and answer:
            clean.append((question, answer))
    if not clean:
        raise ValidationError("give at least one question with its answer")
    return clean
