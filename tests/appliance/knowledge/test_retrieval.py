"""Retrieval with the dense model fused in: paraphrased FAQ questions, exact-term passages, per-source diversity."""

from __future__ import annotations

import pytest

from appliance.knowledge.embedding import Embedder, to_blob
from appliance.knowledge.extract import Limits
from appliance.knowledge.retrieval import PER_SOURCE, Retriever, _diverse, _fuse_passages
from appliance.knowledge.search import Hit
from appliance.knowledge.sources import SourceService
from tests.appliance.knowledge.test_embedding import copy_minilm


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    return Embedder.load(copy_minilm(tmp_path_factory.mktemp("retrieval") / "minilm"))


@pytest.fixture
def sources(appliance, clock, embedder):
    db = appliance.workspaces.create("acme")
    return SourceService(db, clock=clock, limits=Limits(), max_workspace_bytes=10**8,
                         embed=lambda texts: [to_blob(v) for v in embedder.embed(texts)])


def test_a_paraphrased_question_finds_its_faq_entry_through_the_dense_model(sources, embedder):
    faq = sources.add_qa(title="IT FAQ", pairs=[
        ("How do I reset my password?", "Use the self-service portal and choose 'Forgot password'."),
        ("Where is the cafeteria?", "On the ground floor, next to reception."),
        ("How do I book a meeting room?", "Use the room calendar in the intranet."),
    ])
    sources.index(faq.id)
    lexical_only = Retriever(sources._db).retrieve("I can't remember my login secret", limit=3)
    fused = Retriever(sources._db, embedder=embedder).retrieve("I can't remember my login secret", limit=3)

    assert fused[0].title == "How do I reset my password?" and fused[0].origin == "qa"
    assert not lexical_only or lexical_only[0].title != "How do I reset my password?"


def test_exact_terms_still_win_in_long_document_passages(sources, embedder):
    text = sources.add_text(title="Lab manual", text="\n\n".join([
        "## Centrifuge\n\nThe centrifuge model ZX-3000 must be balanced before every run.",
        "## Safety\n\nGloves and goggles are required in the laboratory at all times.",
        "## Waste\n\nChemical waste goes into the red containers by the north door.",
    ]))
    sources.index(text.id)
    [first, *_] = Retriever(sources._db, embedder=embedder).retrieve("ZX-3000 balancing", limit=3)
    assert "ZX-3000" in first.text and first.origin == "passage"


def test_passage_fusion_adds_a_share_of_the_cosine_to_normalised_bm25():
    lexical = [Hit(1, "s", "t", "", None, "a", "h", 10.0), Hit(2, "s", "t", "", None, "b", "h", 5.0)]
    order = _fuse_passages(lexical, [(2, 0.9), (3, 0.95)])
    # 1: 0.7 * 1.0 = 0.70; 2: 0.7 * 0.5 + 0.3 * 0.9 = 0.62; 3: 0.3 * 0.95 = 0.285
    assert order == [1, 2, 3]


def test_one_source_cannot_fill_every_slot():
    hits = [Hit(i, "long-doc" if i < 8 else f"other-{i}", "t", "", None, "x", "h", 1.0) for i in range(12)]
    chosen = _diverse(hits, 6)
    assert sum(h.source_id == "long-doc" for h in chosen) == PER_SOURCE
    assert len(chosen) == 6


def test_cached_vectors_follow_sources_added_and_deleted(sources, embedder):
    from appliance.knowledge.dense import VectorCache, dense_ranking

    cache = VectorCache()
    first = sources.add_text(title="Badges", text="Lost badges are replaced at reception for a fee of 10 euros.")
    sources.index(first.id)
    [(chunk, _)] = dense_ranking(sources._db, embedder, "replacement badge", limit=5, cache=cache)
    second = sources.add_text(title="Keys", text="Office keys are handed out by the facility manager.")
    sources.index(second.id)

    assert len(dense_ranking(sources._db, embedder, "replacement badge", limit=5, cache=cache)) == 2
    sources.delete(first.id)
    remaining = dense_ranking(sources._db, embedder, "replacement badge", limit=5, cache=cache)
    assert [c for c, _ in remaining] != [chunk] and len(remaining) == 1
