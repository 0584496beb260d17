"""Indexing and answering speed on the covidqa documents (2.3 M characters), against bare SQLite FTS5 in the same run.

Prints one JSON line per workload: the appliance's figure and its ratio to a baseline measured in the same run:
- indexing, with full-text search alone and with the embedding model, against plain FTS5 inserting the passages;
- replies (median and p95 ms), with full-text search alone and with the model, against a bare BM25 query;
- replies while the background worker embeds a 2 MB document, against replies on the same workspace at rest.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path

from appliance.agent.answer import AgentProfile
from appliance.agent.evaluation import eval_workspace, read_jsonl
from appliance.knowledge.chunking import chunk_document
from appliance.knowledge.embedding import configured
from appliance.knowledge.extract import extract_text
from appliance.knowledge.search import match_expression, terms

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval" / "covidqa"
LARGE_DOCUMENT_CHARS = 2_000_000


def _baseline(documents: list[dict], queries: list[dict]) -> tuple[float, list[float]]:
    """Plain SQLite: the same passages into an FTS5 table, then the same questions as BM25 queries."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "plain.db", isolation_level=None)
        conn.execute("CREATE VIRTUAL TABLE p USING fts5(title, text, tokenize='porter unicode61')")
        passages = [(d["title"], p.text) for d in documents
                    for p in chunk_document((s.heading_path, s.text)
                                            for s in extract_text(d["text"], title=d["title"]).sections)]
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO p VALUES (?, ?)", passages)
        conn.execute("COMMIT")
        index_seconds = time.perf_counter() - started
        timings = []
        for query in queries:
            words = terms(query["query"])
            if not words:
                continue
            started = time.perf_counter()
            conn.execute("SELECT rowid FROM p WHERE p MATCH ? ORDER BY bm25(p, 2.0, 1.0) LIMIT 5",
                         (match_expression(words),)).fetchall()
            timings.append((time.perf_counter() - started) * 1000)
        conn.close()
        return index_seconds, timings


def _replies(ws, questions: list[str]) -> list[float]:
    profile = AgentProfile("fallback")
    timings = []
    for question in questions:
        started = time.perf_counter()
        ws.answerer.answer(profile, question)
        timings.append((time.perf_counter() - started) * 1000)
    return sorted(timings)


def _percentile(sorted_ms: list[float], share: float) -> float:
    return sorted_ms[max(0, int(len(sorted_ms) * share) - 1)]


def _while_embedding(ws, documents: list[dict], questions: list[str]) -> tuple[list[float], float, int]:
    """Replies asked one after another while another thread indexes a 2 MB document with the model; the replies'
    timings, the seconds the indexing took, and how many progress reports the source showed meanwhile."""
    text, n = "", 0
    while len(text) < LARGE_DOCUMENT_CHARS:
        text += documents[n % len(documents)]["text"] + "\n\n"
        n += 1
    source = ws.sources.add_text(title="Large document", text=text[:LARGE_DOCUMENT_CHARS])
    started = time.perf_counter()
    worker = threading.Thread(target=ws.sources.index, args=(source.id,))
    worker.start()
    timings, seen = [], set()
    profile = AgentProfile("fallback")
    while worker.is_alive():
        for question in questions:
            asked = time.perf_counter()
            ws.answerer.answer(profile, question)
            timings.append((time.perf_counter() - asked) * 1000)
            progress = ws.sources.get(source.id).progress
            if progress:
                seen.add(progress["done"])
            if not worker.is_alive():
                break
    worker.join()
    return sorted(timings), time.perf_counter() - started, len(seen)


def main(folder: Path = EVAL) -> None:
    documents = read_jsonl(folder / "documents.jsonl")
    queries = read_jsonl(folder / "queries.jsonl")
    questions = [q["query"] for q in queries]
    chars = sum(len(d["text"]) for d in documents)
    base_index, base_queries = _baseline(documents, queries)
    base_median = statistics.median(base_queries)
    with eval_workspace(folder) as ws:
        bm25_index = ws.index_seconds
        bm25 = _replies(ws, questions)
    with eval_workspace(folder, embedder=configured(True, None)) as ws:
        dense_index = ws.index_seconds
        dense = _replies(ws, questions)
        busy, embedding_seconds, reports = _while_embedding(ws, documents, questions)
    print(json.dumps({"bench": "knowledge", "workload": f"index {len(documents)} documents, {chars} characters",
                      "chars_per_s": round(chars / bm25_index), "with_model_chars_per_s": round(chars / dense_index),
                      "baseline_fts5_chars_per_s": round(chars / base_index),
                      "ratio": round(bm25_index / base_index, 2), "ratio_with_model": round(dense_index / base_index)}))
    for name, timings in (("full-text search alone", bm25), ("with the model", dense)):
        print(json.dumps({"bench": "knowledge", "workload": f"answer {len(queries)} questions, {name}",
                          "median_ms": round(statistics.median(timings), 2),
                          "p95_ms": round(_percentile(timings, 0.95), 2),
                          "baseline_bm25_median_ms": round(base_median, 3),
                          "ratio_median": round(statistics.median(timings) / base_median, 1)}))
    print(json.dumps({"bench": "knowledge", "workload": "answer while a 2 MB document is embedded",
                      "replies": len(busy), "embedding_seconds": round(embedding_seconds, 1),
                      "progress_reports_seen": reports,
                      "median_ms": round(statistics.median(busy), 2), "p99_ms": round(_percentile(busy, 0.99), 2),
                      "at_rest_p99_ms": round(_percentile(dense, 0.99), 2),
                      "ratio_p99": round(_percentile(busy, 0.99) / _percentile(dense, 0.99), 2)}))


if __name__ == "__main__":
    main()
