"""Cutting documents into passages along headings and paragraphs."""

from __future__ import annotations

from appliance.knowledge.chunking import chunk_section, sentences


def test_short_section_is_one_passage_with_its_heading_path():
    [passage] = chunk_section(("Billing", "Refunds"), "Refunds take five days.\n\nAsk the help desk.")
    assert passage.heading_path == "Billing > Refunds"
    assert passage.text == "Refunds take five days.\n\nAsk the help desk."


def test_long_section_is_cut_near_the_target_size_on_paragraph_bounds():
    paragraphs = [f"Paragraph {i} " + "words " * 30 for i in range(20)]
    passages = chunk_section((), "\n\n".join(paragraphs), target=500, overlap=200)
    assert len(passages) > 3
    assert all(len(p.text) <= 500 for p in passages)
    assert all(p.text.startswith("Paragraph") for p in passages)
    joined = " ".join(p.text for p in passages)
    assert all(f"Paragraph {i} " in joined for i in range(20))


def test_consecutive_passages_overlap_so_straddling_answers_stay_whole():
    paragraphs = [f"Fact {i} is short." for i in range(100)]
    passages = chunk_section((), "\n\n".join(paragraphs), target=300, overlap=60)
    assert passages[1].text.split("\n\n")[0] in passages[0].text


def test_an_endless_sentence_is_cut_hard():
    passages = chunk_section((), "x" * 5000, target=1000)
    assert all(len(p.text) <= 1000 for p in passages)
    assert sum(len(p.text) for p in passages) >= 5000


def test_sentences_respect_common_abbreviations():
    assert sentences("Dr. Smith went home. See Fig. 2 for details! Then what?") == [
        "Dr. Smith went home.", "See Fig. 2 for details!", "Then what?"]
