"""Training data per workspace: its sources, the background queue that extracts, chunks and indexes them, and
retrieval over what they hold."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

from appliance.clock import Clock
from appliance.errors import StorageUnwritable
from appliance.knowledge.dense import VectorCache
from appliance.knowledge.extract import Limits
from appliance.knowledge.indexing_progress import IndexingProgress
from appliance.knowledge.retrieval import Retriever
from appliance.knowledge.sources import SourceService
from appliance.storage.database import Database
from appliance.storage.workspace_files import WorkspaceDatabases

log = logging.getLogger(__name__)


class Knowledge:
    def __init__(self, *, files: WorkspaceDatabases, clock: Clock, limits: Limits, max_workspace_bytes: int,
                 crawl_policy=None, embedder=None, threads: int = 1, on_indexed=None) -> None:
        self._files = files
        self._clock = clock
        self._limits = limits
        self._max_workspace_bytes = max_workspace_bytes
        self._crawl_policy = crawl_policy
        self._embedder = embedder
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="indexing")
        self._vectors = VectorCache()
        self._progress = IndexingProgress()
        self._stopping = threading.Event()
        self._pending = 0
        self._in_flight: set[tuple[str, str]] = set()
        self._idle = threading.Condition()
        # (outcome, seconds) of each source's indexing: ready, failed, put_off (the disk), error (a bug)
        self._on_indexed = on_indexed or (lambda outcome, seconds: None)

    def sources(self, workspace_id: str) -> SourceService:
        return SourceService(
            self._files.open(workspace_id), clock=self._clock, limits=self._limits,
            max_workspace_bytes=self._max_workspace_bytes,
            fetch_pages=self._fetch_pages if self._crawl_policy and self._crawl_policy.allowed_hosts else None,
            embed=self._embed if self._embedder else None,
            on_queued=lambda source_id: self._submit(workspace_id, source_id),
            progress=self._progress,
            stopping=self._stopping.is_set,
        )

    def retriever(self, db: Database) -> Retriever:
        """Retrieval over the workspace database `db`, dense too where a model is installed (vectors cached)."""
        return Retriever(db, embedder=self._embedder, vectors=self._vectors)

    def load_model(self) -> None:
        """Load the embedding model now if dense retrieval is on; raises EmbeddingUnavailable if it cannot be."""
        if self._embedder is not None:
            self._embedder.model()

    def resume(self, workspace_ids: Iterable[str]) -> int:
        """Queue again every source that is waiting or half-indexed and not in this process's queue: those the
        service was indexing when it last stopped, and those whose indexing a full or failing disk cut short. With
        the model on, ready sources indexed without it (before it was turned on) are embedded too, in place: they
        keep answering meanwhile."""
        count = 0
        for workspace_id in workspace_ids:
            sources = self.sources(workspace_id)
            for source_id in sources.pending():
                if self._submit(workspace_id, source_id):
                    count += 1
            for source_id in sources.unembedded() if self._embedder is not None else []:
                if self._submit(workspace_id, source_id, embed_only=True):
                    count += 1
        return count

    def wait_idle(self, timeout: float = 60.0) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Stop indexing: queued sources are dropped and one being embedded stops at its next step, all of them left
        for the next start to resume, so a stop never waits for a large document's embedding."""
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, workspace_id: str, source_id: str, *, embed_only: bool = False) -> bool:
        """Queue one source (to index, or only to embed its passages) unless it is queued already; whether it was
        queued now."""
        with self._idle:
            if (workspace_id, source_id) in self._in_flight:
                return False
            self._in_flight.add((workspace_id, source_id))
            self._pending += 1
        self._pool.submit(self._index, workspace_id, source_id, embed_only)
        return True

    def _index(self, workspace_id: str, source_id: str, embed_only: bool = False) -> None:
        started, outcome = time.monotonic(), "error"
        try:
            sources = self.sources(workspace_id)
            source = sources.embed_missing(source_id) if embed_only else sources.index(source_id)
            outcome = source.status
            log.info("source indexed", extra={"workspace_id": workspace_id, "source_id": source_id,
                                              "status": source.status, "chunks": source.chunk_count})
        except StorageUnwritable as exc:
            # Not the source's fault: it stays queued, and the resume_indexing job queues it again.
            outcome = "put_off"
            log.warning("indexing put off: %s", exc, extra={"workspace_id": workspace_id, "source_id": source_id})
        except Exception:  # a worker thread must survive anything one source does
            log.exception("indexing failed", extra={"workspace_id": workspace_id, "source_id": source_id})
        finally:
            try:  # counted before the queue says idle; counting must never stop the worker
                self._on_indexed(outcome, time.monotonic() - started)
            except Exception:
                log.exception("the indexing of source %s could not be counted", source_id)
            if not embed_only:
                self._merge_if_idle(workspace_id, indexing=1)
            with self._idle:
                self._in_flight.discard((workspace_id, source_id))
                self._pending -= 1
                self._idle.notify_all()

    def merge_when_idle(self, workspace_ids: Iterable[str]) -> None:
        """Queue a merge of each workspace's indexes, as the server starts: one indexed before this process merged
        them is searched faster without indexing anything again."""
        for workspace_id in workspace_ids:
            with self._idle:
                self._pending += 1
            self._pool.submit(self._merge_job, workspace_id)

    def _merge_job(self, workspace_id: str) -> None:
        try:
            self._merge_if_idle(workspace_id, indexing=0)
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def _merge_if_idle(self, workspace_id: str, *, indexing: int) -> None:
        """Merge the workspace's indexes unless more of its sources are queued than the `indexing` ones this worker
        holds (those would add segments to merge again); before the queue says idle, so what waits for it searches
        merged indexes."""
        with self._idle:
            queued = sum(1 for of_workspace, _ in self._in_flight if of_workspace == workspace_id)
            if queued > indexing or self._stopping.is_set():
                return
        try:
            self.sources(workspace_id).merge_index()
        except StorageUnwritable as exc:  # the indexes stay as they are, searched as well, only slower
            log.warning("merging the indexes put off: %s", exc, extra={"workspace_id": workspace_id})
        except Exception:
            log.exception("merging the indexes failed", extra={"workspace_id": workspace_id})

    def _fetch_pages(self, url: str, sitemap: bool):
        from appliance.knowledge.crawl import crawl, crawl_sitemap

        pages = crawl_sitemap(url, self._crawl_policy) if sitemap else crawl(url, self._crawl_policy)
        for page in pages:
            yield page.url, page.media_type, page.body

    def _embed(self, texts: list[str]) -> list[bytes]:
        from appliance.knowledge.embedding import to_blob

        # One text at a time: on a CPU nothing is padded, and it ran fastest (16k characters/s against 10k at 4).
        return [to_blob(v) for v in self._embedder.embed(texts, batch_size=1)] if texts else []
