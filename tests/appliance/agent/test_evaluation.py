"""Measuring retrieval and answers on evaluation folders: every method from the same rankings, the threshold sweep
and its cross-validation between two sets."""

from __future__ import annotations

import json

import pytest

from appliance.agent.evaluation import (
    METHODS,
    THRESHOLDS,
    PlainBaseline,
    answer_metrics,
    retrieval_metrics,
    threshold_cross_validation,
)
from appliance.errors import ValidationError
from appliance.knowledge.embedding import configured

FAQ = [("How do I reset my password?", "Open the self-service portal and choose Forgot password."),
       ("Where is the cafeteria?", "On the ground floor, next to reception."),
       ("How do I book a meeting room?", "Use the room calendar on the intranet.")]
FAQ_QUERIES = [("I forgot my password, what now?", "faq-0"), ("where can I eat lunch", "faq-1"),
               ("reserve a room for a meeting", "faq-2")]
MANUAL = ("## Centrifuge\n\nThe centrifuge ZX-3000 must be balanced before every run.\n\n"
          "## Waste\n\nChemical waste goes into the red containers by the north door.")


def write_set(folder, documents, queries):
    folder.mkdir()
    (folder / "documents.jsonl").write_text("".join(json.dumps(d) + "\n" for d in documents), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    return folder


@pytest.fixture
def faq_set(tmp_path):
    return write_set(tmp_path / "faq", [{"id": f"faq-{i}", "title": q, "text": a, "question": q, "answer": a}
                                        for i, (q, a) in enumerate(FAQ)],
                     [{"query": q, "relevant": [doc]} for q, doc in FAQ_QUERIES])


@pytest.fixture
def manual_set(tmp_path):
    return write_set(tmp_path / "manual", [{"id": "lab", "title": "Lab manual", "text": MANUAL}], [
        {"query": "Where does chemical waste go?", "relevant": ["lab"], "answers": ["red containers"]},
        {"query": "What must be done before a ZX-3000 run?", "relevant": ["lab"], "answers": ["balanced"]},
    ])


@pytest.fixture(scope="module")
def embedder():
    return configured(True, None)


def by_method(rows):
    return {row["method"]: row for row in rows}


def test_every_method_is_reported_from_the_same_run(faq_set, embedder):
    rows = by_method(retrieval_metrics(faq_set, embedder=embedder))

    assert set(rows) == set(METHODS)
    assert all(row["queries"] == 3 and row["set"] == "faq" and row["dense_model"] for row in rows.values())
    # The paraphrases share almost no words with their entries: the model finds them, BM25 cannot.
    assert rows["dense"]["hit@1"] == 1.0 and rows["appliance"]["hit@1"] == 1.0
    assert rows["bm25"]["hit@1"] < 1.0
    assert rows["appliance"]["ms_per_query"] > 0 and rows["appliance"]["indexed_chars_per_s"] > 0


def test_without_the_model_the_appliance_ranking_is_bm25_and_no_dense_rows_are_made_up(manual_set):
    rows = by_method(retrieval_metrics(manual_set, embedder=None))

    assert set(rows) == {"plain_fts5", "bm25", "appliance"}
    assert rows["appliance"]["hit@1"] == rows["bm25"]["hit@1"] == 1.0
    assert not rows["appliance"]["dense_model"]


def test_a_hit_needs_the_answer_text_where_the_query_lists_one(tmp_path):
    folder = write_set(tmp_path / "strict", [{"id": "lab", "title": "Lab manual", "text": MANUAL}], [
        {"query": "Where does chemical waste go?", "relevant": ["lab"], "answers": ["the blue bins"]}])

    assert all(row["hit@5"] == 0.0 for row in retrieval_metrics(folder))


def test_the_plain_baseline_ors_every_word_and_weights_the_title_twice():
    plain = PlainBaseline([(1, "Parking", "Staff use level B2."), (2, "Expenses", "Parking receipts are refunded.")])
    try:
        assert plain.rank("parking", 10) == [1, 2]
        assert plain.rank("what about the receipts", 10) == [2]
        assert plain.rank("?!", 10) == []
    finally:
        plain.close()


def test_the_answer_sweep_reads_every_threshold_from_one_pass(manual_set, faq_set, embedder):
    result = answer_metrics(manual_set, out_of_scope=faq_set, embedder=embedder, thresholds=THRESHOLDS)

    assert result["queries"] == 2 and result["out_of_scope_queries"] == 3
    sweep = result["sweep"]
    assert [row["threshold"] for row in sweep] == list(THRESHOLDS)
    answered = [row["answered"] for row in sweep]
    declined = [row["out_of_scope_fell_back"] for row in sweep]
    # A higher threshold never answers more, nor declines less.
    assert answered == sorted(answered, reverse=True) and declined == sorted(declined)
    assert all(row["balanced"] == round((row["answered"] + row["out_of_scope_fell_back"]) / 2, 3) for row in sweep)
    assert result["contains_answer"] > 0 and result["answered_from_relevant"] > 0


def test_a_set_without_answer_texts_reports_no_answer_containment_rather_than_zero(faq_set, manual_set, embedder):
    result = answer_metrics(faq_set, out_of_scope=manual_set, embedder=embedder)

    assert result["contains_answer"] is None
    # The paraphrases reach their pairs through the model, and each reply cites the pair it came from.
    assert result["answered"] == result["answered_from_relevant"] == 1.0


def test_the_threshold_is_tuned_on_each_set_and_measured_on_the_other(manual_set, faq_set, embedder):
    report = threshold_cross_validation(manual_set, faq_set, embedder=embedder)

    assert [d["set"] for d in report["directions"]] == ["manual", "faq"]
    assert [(c["tuned_on"], c["measured_on"]) for c in report["cross"]] == [("manual", "faq"), ("faq", "manual")]
    for row in report["cross"]:
        assert row["threshold"] in THRESHOLDS and 0.0 <= row["balanced_here"] <= 1.0


def test_a_folder_without_its_files_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValidationError, match="queries.jsonl does not exist; an evaluation folder holds"):
        retrieval_metrics(tmp_path / "empty")


def test_a_line_that_is_not_json_names_the_file(tmp_path, faq_set):
    (faq_set / "queries.jsonl").write_text('{"query": "ok", "relevant": []}\n{not json\n', encoding="utf-8")
    with pytest.raises(ValidationError, match="queries.jsonl is not JSON lines"):
        retrieval_metrics(faq_set)


def test_the_fusion_weight_is_cross_validated_by_halves_and_across_sets(faq_set, manual_set, embedder):
    from appliance.agent.evaluation import DENSE_WEIGHTS, fusion_cross_validation

    report = fusion_cross_validation([faq_set, manual_set], embedder=embedder)

    [faq, manual] = report["sets"]
    assert faq["set"] == "faq" and manual["set"] == "manual"
    assert set(faq["hit@1_by_weight"]) == {str(w) for w in DENSE_WEIGHTS}
    assert faq["dense_alone_hit@1"] == 1.0 and faq["appliance_hit@1"] == 1.0
    assert faq["tuned_on_half_a"] in DENSE_WEIGHTS and 0.0 <= faq["half_b_hit@1"] <= 1.0
    assert [(r["tuned_on"], r["measured_on"]) for r in report["across_sets"]] == [("faq", "manual"),
                                                                                  ("manual", "faq")]
