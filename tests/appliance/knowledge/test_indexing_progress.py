"""Indexing with the embedding model reports how far it got, a few texts at a time, and forgets it when done."""

from __future__ import annotations

import threading

from appliance.knowledge.extract import Limits
from appliance.knowledge.indexing_progress import IndexingProgress
from appliance.knowledge.sources import EMBED_STEP, SourceService


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


def test_a_stop_halts_the_embedding_at_its_next_step_and_leaves_the_source_to_resume(appliance, clock):
    db = appliance.workspaces.create("acme")
    steps: list[int] = []
    service = SourceService(db, clock=clock, limits=Limits(), max_workspace_bytes=10**8,
                            embed=lambda texts: steps.append(len(texts)) or [b"\0" * 16 for _ in texts],
                            stopping=lambda: len(steps) >= 2)
    text = "\n\n".join(f"## Part {n}\n\n" + f"Paragraph {n} of the long manual. " * 30 for n in range(60))
    source = service.add_text(title="Long manual", text=text)

    stopped = service.index(source.id)

    assert len(steps) == 2 and stopped.status == "indexing" and stopped.progress is None
    assert db.query_one("SELECT count(*) FROM chunks")[0] == 0
    assert service.pending() == [source.id]


def test_closing_knowledge_does_not_wait_for_a_large_document_to_be_embedded(appliance, clock):
    import time

    from appliance.knowledge.service import Knowledge

    class SlowModel:
        dimension = 4

        def embed(self, texts, *, batch_size=32):
            import numpy

            time.sleep(0.05 * len(texts))  # about a second a step
            return numpy.zeros((len(texts), 4), dtype=numpy.float32)

    knowledge = Knowledge(files=appliance.workspaces, clock=clock, limits=Limits(), max_workspace_bytes=10**8,
                          embedder=SlowModel())
    appliance.workspaces.create("acme")
    sources = knowledge.sources("acme")
    text = "\n\n".join(f"## Part {n}\n\n" + f"Paragraph {n} of the long manual. " * 30 for n in range(200))
    source = sources.add_text(title="Long manual", text=text)
    deadline = time.monotonic() + 10
    while sources.get(source.id).progress is None and time.monotonic() < deadline:
        time.sleep(0.05)

    started = time.monotonic()
    knowledge.close()

    assert time.monotonic() - started < 3  # one step at most, not the 200 passages' 10 s
    assert sources.get(source.id).status == "indexing"


def test_sources_indexed_without_the_model_are_embedded_in_place_once_it_is_on(appliance, clock):
    from appliance.knowledge.service import Knowledge

    class Model:
        dimension = 4

        def embed(self, texts, *, batch_size=32):
            import numpy

            return numpy.ones((len(texts), 4), dtype=numpy.float32) / 2

    appliance.workspaces.create("acme")
    before = Knowledge(files=appliance.workspaces, clock=clock, limits=Limits(), max_workspace_bytes=10**8)
    faq = before.sources("acme").add_qa(title="FAQ", pairs=[("Where is the cafeteria?", "On the ground floor.")])
    text = before.sources("acme").add_text(title="Manual", text="The ZX-3000 must be balanced before every run.")
    assert before.wait_idle(30)
    before.close()
    db = appliance.workspaces.open("acme")
    assert db.query_one("SELECT count(*) FROM chunks WHERE embedding IS NULL")[0] == 2

    after = Knowledge(files=appliance.workspaces, clock=clock, limits=Limits(), max_workspace_bytes=10**8,
                      embedder=Model())
    try:
        assert sorted(after.sources("acme").unembedded()) == sorted([faq.id, text.id])
        assert after.resume(["acme"]) == 2
        assert after.wait_idle(30)
        sizes = {r["origin"]: len(r["embedding"]) for r in db.query("SELECT origin, embedding FROM chunks")}
        assert sizes == {"qa": 32, "passage": 16}  # the pair and its question; the passage
        assert {s.status for s in after.sources("acme").list()} == {"ready"}
        assert after.sources("acme").unembedded() == [] and after.resume(["acme"]) == 0
    finally:
        after.close()
