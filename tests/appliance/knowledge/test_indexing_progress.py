"""Indexing with the embedding model reports how far it got, a few texts at a time, and forgets it when done."""

from __future__ import annotations

import threading

from appliance.knowledge.extract import Limits
from appliance.knowledge.sources import EMBED_STEP, IndexingProgress, SourceService


def test_the_source_shows_its_progress_while_it_is_embedded_and_none_once_ready(appliance, clock):
    db = appliance.workspaces.create("acme")
    seen: list[dict | None] = []
    progress = IndexingProgress()
    holder: dict = {}

    def embed(texts: list[str]) -> list[bytes]:
        assert len(texts) <= EMBED_STEP
        seen.append(holder["service"].get(holder["id"]).progress)
        return [b"\0" * 16 for _ in texts]

    service = SourceService(db, clock=clock, limits=Limits(), max_workspace_bytes=10**8, embed=embed,
                            progress=progress)
    holder["service"] = service
    text = "\n\n".join(f"## Part {n}\n\n" + f"Paragraph {n} of the long manual. " * 30 for n in range(40))
    source = service.add_text(title="Long manual", text=text)
    holder["id"] = source.id

    ready = service.index(source.id)

    total = seen[0]["total"]
    assert total == ready.chunk_count and total > EMBED_STEP
    assert [s["done"] for s in seen] == list(range(0, total, EMBED_STEP))
    assert all(s["total"] == total for s in seen)
    assert ready.status == "ready" and ready.progress is None and progress.of(source.id) is None


def test_a_q_and_a_pair_is_embedded_twice_and_counted_so(appliance, clock):
    db = appliance.workspaces.create("acme")
    calls: list[list[str]] = []
    service = SourceService(db, clock=clock, limits=Limits(), max_workspace_bytes=10**8,
                            embed=lambda texts: calls.append(texts) or [b"\1" * 8 for _ in texts])
    faq = service.add_qa(title="FAQ", pairs=[("Where is the cafeteria?", "On the ground floor.")])
    service.index(faq.id)

    assert calls == [["Where is the cafeteria?\n\nOn the ground floor.", "Where is the cafeteria?"]]
    [row] = db.query("SELECT embedding FROM chunks")
    assert bytes(row["embedding"]) == b"\1" * 16


def test_progress_reports_from_other_threads_are_seen_whole():
    progress = IndexingProgress()
    stop = threading.Event()

    def report():
        n = 0
        while not stop.is_set():
            n += 1
            progress.report("s", n, n)

    worker = threading.Thread(target=report)
    worker.start()
    try:
        for _ in range(1000):
            done, total = progress.of("s") or (0, 0)
            assert done == total
    finally:
        stop.set()
        worker.join()
    progress.clear("s")
    assert progress.of("s") is None
