"""Indexing and answering speed on the covidqa documents (2.3 M characters), against bare SQLite FTS5 in the same run.

Prints one JSON line per workload: the appliance's figure (characters per second indexed; median and p95 ms per
reply) and the ratio to a baseline of plain SQLite FTS5 doing only the indexing or only the BM25 query.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from appliance.agent.answer import AgentProfile
from appliance.agent.evaluation import eval_workspace, read_jsonl
from appliance.knowledge.chunking import chunk_document
from appliance.knowledge.extract import extract_text
from appliance.knowledge.search import match_expression, terms

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval" / "covidqa"


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
            conn.execute("SELECT rowid FROM p WHERE p MATCH ? ORDER BY bm25(p, 3.0, 1.0) LIMIT 5",
                         (match_expression(words),)).fetchall()
            timings.append((time.perf_counter() - started) * 1000)
        conn.close()
        return index_seconds, timings


def main(folder: Path = EVAL) -> None:
    documents = read_jsonl(folder / "documents.jsonl")
    queries = read_jsonl(folder / "queries.jsonl")
    chars = sum(len(d["text"]) for d in documents)
    base_index, base_queries = _baseline(documents, queries)
    with eval_workspace(folder) as ws:
        profile = AgentProfile("fallback")
        timings = []
        for query in queries:
            started = time.perf_counter()
            ws.answerer.answer(profile, query["query"])
            timings.append((time.perf_counter() - started) * 1000)
        index_seconds = ws.index_seconds
    timings.sort()
    base_queries.sort()
    print(json.dumps({"bench": "knowledge", "workload": f"index {len(documents)} documents, {chars} characters",
                      "chars_per_s": round(chars / index_seconds),
                      "baseline_fts5_chars_per_s": round(chars / base_index),
                      "ratio": round(index_seconds / base_index, 2)}))
    median, p95 = statistics.median(timings), timings[int(len(timings) * 0.95) - 1]
    print(json.dumps({"bench": "knowledge", "workload": f"answer {len(queries)} questions",
                      "median_ms": round(median, 2), "p95_ms": round(p95, 2),
                      "baseline_bm25_median_ms": round(statistics.median(base_queries), 3),
                      "ratio_median": round(median / statistics.median(base_queries), 1)}))


if __name__ == "__main__":
    main()
