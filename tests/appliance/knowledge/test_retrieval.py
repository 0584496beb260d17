"""Retrieval with the dense model fused in: paraphrased FAQ questions, exact-term passages, the weight between them."""

from __future__ import annotations

import pytest

from appliance.knowledge.embedding import Embedder, to_blob
from appliance.knowledge.extract import Limits
from appliance.knowledge.fusion import convex_fusion
from appliance.knowledge.retrieval import DENSE_WEIGHT_PASSAGES, DENSE_WEIGHT_QA, Candidates, Retriever
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


def test_convex_fusion_adds_a_share_of_the_cosine_to_normalised_bm25():
    order = convex_fusion([(1, 10.0), (2, 5.0)], [(2, 0.9), (3, 0.95)], dense_weight=0.3)
    # 1: 0.7 * 1.0 = 0.70; 2: 0.7 * 0.5 + 0.3 * 0.9 = 0.62; 3: 0.3 * 0.95 = 0.285
    assert [c for c, _ in order] == [1, 2, 3]
    assert order[1][1] == pytest.approx(0.62)


def test_convex_fusion_takes_negative_cosines_as_zero_and_refuses_a_weight_outside_zero_to_one():
    assert convex_fusion([(1, 2.0)], [(2, -0.4)], dense_weight=0.5) == [(1, 0.5), (2, 0.0)]
    with pytest.raises(ValueError):
        convex_fusion([], [], dense_weight=1.5)


def _hit(chunk_id: int, origin: str) -> Hit:
    return Hit(chunk_id, "s", "t", "", None, "x", "h", 1.0, origin)


def test_the_dense_weight_follows_the_share_of_q_and_a_pairs_among_the_best_candidates():
    def weight(origins: list[str]) -> float:
        hits = [_hit(i, o) for i, o in enumerate(origins)]
        return Candidates(hits, [(h.chunk_id, 0.5) for h in hits], {h.chunk_id: h for h in hits}).dense_weight()

    assert weight(["qa"] * 10) == pytest.approx(DENSE_WEIGHT_QA)
    assert weight(["passage"] * 10) == pytest.approx(DENSE_WEIGHT_PASSAGES)
    assert weight(["qa", "passage"] * 5) == pytest.approx((DENSE_WEIGHT_QA + DENSE_WEIGHT_PASSAGES) / 2)


def test_a_q_and_a_pair_is_found_by_its_question_alone_as_well(sources, embedder):
    # The pair's answer says nothing a visitor would ask with; its question matches the paraphrase.
    faq = sources.add_qa(title="HR FAQ", pairs=[
        ("Can I bring my dog to the office?", "Only on Fridays, and only on the third floor, by prior agreement."),
        ("When is payday?", "Salaries are paid on the 25th of each month."),
    ])
    sources.index(faq.id)
    [first, *_] = Retriever(sources._db, embedder=embedder).retrieve("are pets allowed at work", limit=2)
    assert first.title == "Can I bring my dog to the office?"
    [row] = sources._db.query("SELECT length(embedding) AS size FROM chunks WHERE title LIKE 'Can I bring%'")
    assert row["size"] == 2 * embedder.dimension * 4


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


def test_a_paraphrase_the_model_matches_to_a_q_and_a_pair_gets_the_pair_whole(sources, embedder):
    from appliance.agent.answer import AgentProfile, Answerer

    faq = sources.add_qa(title="IT FAQ", pairs=[
        ("How do I reset my password?", "Use the self-service portal and choose 'Forgot password'. It takes a minute."),
        ("Where is the cafeteria?", "On the ground floor, next to reception."),
    ])
    sources.index(faq.id)
    retriever = Retriever(sources._db, embedder=embedder)
    profile = AgentProfile(None)

    asked = "I can't remember my login secret"
    reply = Answerer(sources._db, retriever=retriever).answer(profile, asked)
    lexical = Answerer(sources._db, retriever=Retriever(sources._db)).answer(profile, asked)

    assert reply.method == "qa" and reply.answered
    assert reply.text == "Use the self-service portal and choose 'Forgot password'. It takes a minute."
    assert [c.qa_id for c in reply.citations] != [None] and reply.confidence >= profile.confidence_threshold
    assert not lexical.answered  # no word in common: only the model can tell it is the same question
    off_topic = Answerer(sources._db, retriever=retriever).answer(profile, "What is the capital of Mongolia?")
    assert not off_topic.answered
