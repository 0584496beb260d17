"""Measuring retrieval and answers on an evaluation folder (documents.jsonl, queries.jsonl), through the real
ingestion path, in a throw-away workspace."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from appliance.agent.answer import AgentProfile, Answerer
from appliance.bootstrap import initialise, open_appliance
from appliance.clock import SystemClock
from appliance.errors import ValidationError
from appliance.keys.masterkey import KdfParameters
from appliance.knowledge import search
from appliance.knowledge.dense import VectorCache
from appliance.knowledge.extract import Limits
from appliance.knowledge.fusion import reciprocal_rank_fusion
from appliance.knowledge.retrieval import Retriever
from appliance.knowledge.sources import SourceService
from appliance.storage.database import Database
from appliance.storage.layout import Layout


@dataclass
class EvalWorkspace:
    sources: SourceService
    retriever: Retriever
    answerer: Answerer
    doc_of_source: dict[str, str]
    indexed_chars: int
    index_seconds: float
    db: Database


def read_jsonl(path: Path) -> list[dict]:
    try:
        with path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        raise ValidationError(f"{path} does not exist; an evaluation folder holds documents.jsonl and "
                              "queries.jsonl") from None
    except ValueError as exc:
        raise ValidationError(f"{path} is not JSON lines: {exc}") from None


@contextmanager
def eval_workspace(folder: Path, *, embedder=None) -> Iterator[EvalWorkspace]:
    """A temporary appliance with one workspace holding the folder's documents (FAQ entries as Q&A pairs)."""
    documents = read_jsonl(Path(folder) / "documents.jsonl")
    clock = SystemClock()
    with tempfile.TemporaryDirectory(prefix="chatspark-eval-") as tmp:
        layout = Layout.of(Path(tmp) / "data", Path(tmp) / "keys")
        initialise(layout, clock=clock, kdf=KdfParameters(time_cost=1, memory_cost_kib=1024, parallelism=1))
        appliance = open_appliance(layout, clock=clock)
        try:
            db = appliance.workspaces.create("eval")
            embed = None
            if embedder is not None:
                from appliance.knowledge.embedding import to_blob

                def embed(texts: list[str]) -> list[bytes]:
                    return [to_blob(v) for v in embedder.embed(texts, batch_size=1)] if texts else []
            sources = SourceService(db, clock=clock, limits=Limits(), max_workspace_bytes=10**10, embed=embed)
            doc_of_source: dict[str, str] = {}
            started = time.perf_counter()
            chars = 0
            for doc in documents:
                if doc.get("question") and doc.get("answer"):
                    source = sources.add_qa(title=doc["title"], pairs=[(doc["question"], doc["answer"])])
                    chars += len(doc["question"]) + len(doc["answer"])
                else:
                    source = sources.add_text(title=doc["title"], text=doc["text"])
                    chars += len(doc["text"])
                indexed = sources.index(source.id)
                if indexed.status != "ready":
                    raise ValidationError(f"document {doc['id']} failed to index: {indexed.error}")
                doc_of_source[source.id] = doc["id"]
            sources.merge_index()  # as the indexing worker does once a workspace's queue is empty
            elapsed = time.perf_counter() - started
            retriever = Retriever(db, embedder=embedder, vectors=VectorCache())
            yield EvalWorkspace(sources, retriever, Answerer(db, retriever=retriever), doc_of_source, chars, elapsed,
                                db)
        finally:
            appliance.close()


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def _is_hit(hit_text: str, doc: str, query: dict) -> bool:
    if doc not in query["relevant"]:
        return False
    answers = query.get("answers")
    return not answers or any(_normal(a) in _normal(hit_text) for a in answers)


# What `retrieval_metrics` reports for every set, all from the same rankings of the same run.
METHODS = ("plain_fts5", "bm25", "dense", "rrf_k60", "appliance")


class PlainBaseline:
    """The plainest FTS5 ranking of the same passages, for comparison: SQLite FTS5 BM25 with the Porter tokenizer,
    every word of the question OR-ed, the title weighted 2; no stop words, no fusion, in memory (Python's own
    SQLite: a copy of the evaluation documents that never reaches a disk)."""

    def __init__(self, rows: list[tuple[int, str, str]]) -> None:
        import sqlite3

        self._conn = sqlite3.connect(":memory:")
        self._conn.execute("CREATE VIRTUAL TABLE plain USING fts5(title, text, tokenize = 'porter unicode61')")
        self._conn.executemany("INSERT INTO plain (rowid, title, text) VALUES (?, ?, ?)", rows)

    def rank(self, question: str, limit: int) -> list[int]:
        words = list(dict.fromkeys(search.WORD.findall(question.lower())))
        if not words:
            return []
        return [r[0] for r in self._conn.execute(
            "SELECT rowid FROM plain WHERE plain MATCH ? ORDER BY bm25(plain, 2.0, 1.0) LIMIT ?",
            (search.match_expression(words), limit))]

    def close(self) -> None:
        self._conn.close()


def _first_hit(ranking: list[int], texts: dict[int, tuple[str, str]], query: dict) -> int | None:
    """The rank (from 0) of the first hit among the top 10 chunk ids of `ranking`, or None; `texts` gives each
    chunk's document id and text."""
    return next((i for i, c in enumerate(ranking[:10]) if _is_hit(texts[c][1], texts[c][0], query)), None)


def _chunk_texts(ws: EvalWorkspace) -> dict[int, tuple[str, str]]:
    return {r["id"]: (ws.doc_of_source[r["source_id"]], r["text"])
            for r in ws.db.query("SELECT id, source_id, text FROM chunks")}


def _metrics(ranks: list[int | None]) -> dict:
    """hit@1, hit@5 and MRR@10 from the rank (from 0) of each query's first hit, None for none in the top 10."""
    n = len(ranks) or 1
    return {"hit@1": round(sum(r == 0 for r in ranks) / n, 3),
            "hit@5": round(sum(r is not None and r < 5 for r in ranks) / n, 3),
            "mrr@10": round(sum(1 / (r + 1) for r in ranks if r is not None) / n, 3)}


def retrieval_metrics(folder: Path, *, embedder=None, limit: int | None = None) -> list[dict]:
    """One row per method of METHODS (those without the model left out when `embedder` is None), each with hit@1,
    hit@5, MRR@10, and for the appliance's own ranking the milliseconds per query."""
    queries = read_jsonl(Path(folder) / "queries.jsonl")[:limit]
    with eval_workspace(folder, embedder=embedder) as ws:
        chunks = _chunk_texts(ws)
        plain = PlainBaseline([(r["id"], r["title"], r["text"])
                               for r in ws.db.query("SELECT id, title, text FROM chunks")])
        ranks: dict[str, list[int | None]] = {m: [] for m in METHODS}
        timings = []
        try:
            for query in queries:
                started = time.perf_counter()
                candidates = ws.retriever.candidates(query["query"])
                fused = [h.chunk_id for h in candidates.fused()[:10]]
                timings.append((time.perf_counter() - started) * 1000)
                rankings = {"plain_fts5": plain.rank(query["query"], 10),
                            "bm25": [h.chunk_id for h in candidates.lexical[:10]],
                            "dense": [c for c, _ in candidates.dense[:10]],
                            "rrf_k60": [c for c, _ in reciprocal_rank_fusion(
                                [[h.chunk_id for h in candidates.lexical], [c for c, _ in candidates.dense]])][:10],
                            "appliance": fused}
                for method, ranking in rankings.items():
                    ranks[method].append(_first_hit(ranking, chunks, query))
        finally:
            plain.close()
        common = {"set": Path(folder).name, "queries": len(queries), "dense_model": embedder is not None}
        rows = []
        for method in METHODS:
            if embedder is None and method in ("dense", "rrf_k60"):
                continue
            row = {**common, "method": method, **_metrics(ranks[method])}
            if method == "appliance":
                row["ms_per_query"] = round(statistics.mean(timings), 2) if timings else 0.0
                row["indexed_chars_per_s"] = round(ws.indexed_chars / ws.index_seconds) if ws.index_seconds else 0
            rows.append(row)
        return rows


DENSE_WEIGHTS = tuple(round(0.05 * i, 2) for i in range(21))


def _halves(ranks: list[int | None]) -> tuple[float, float, float]:
    """hit@1 on the even-numbered queries, the odd-numbered ones, and all."""
    def share(items: list[int | None]) -> float:
        return round(sum(r == 0 for r in items) / (len(items) or 1), 3)

    return share(ranks[0::2]), share(ranks[1::2]), share(ranks)


def fusion_cross_validation(folders: list[Path], *, embedder, limit: int | None = None) -> dict:
    """hit@1 of the fused ranking at every dense weight of DENSE_WEIGHTS, for each set and each half of it, from
    one ranking pass per set; then the weight tuned on each half measured on the other, the one weight tuned on each
    set measured on every other set, and the weight the appliance chooses by itself (by the candidates' kind)."""
    sets = []
    for folder in folders:
        queries = read_jsonl(Path(folder) / "queries.jsonl")[:limit]
        with eval_workspace(folder, embedder=embedder) as ws:
            texts = _chunk_texts(ws)
            by_weight: dict[float, list[int | None]] = {w: [] for w in DENSE_WEIGHTS}
            chosen: list[int | None] = []
            for query in queries:
                candidates = ws.retriever.candidates(query["query"])
                for weight in DENSE_WEIGHTS:
                    by_weight[weight].append(_first_hit([h.chunk_id for h in candidates.fused(weight)], texts, query))
                chosen.append(_first_hit([h.chunk_id for h in candidates.fused()], texts, query))
        sets.append({"set": Path(folder).name, "queries": len(queries),
                     "by_weight": {w: _halves(r) for w, r in by_weight.items()}, "appliance": _halves(chosen)})

    def best(table: dict, column: int) -> float:
        # Ties go to the weight nearest the middle: the least committed of the equals.
        return max(table, key=lambda w: (table[w][column], -abs(w - 0.5)))

    report: dict = {"sets": [], "across_sets": []}
    for entry in sets:
        table = entry["by_weight"]
        on_a, on_b = best(table, 0), best(table, 1)
        report["sets"].append({
            "set": entry["set"], "queries": entry["queries"],
            "tuned_on_half_a": on_a, "half_b_hit@1": table[on_a][1],
            "tuned_on_half_b": on_b, "half_a_hit@1": table[on_b][0],
            "bm25_alone_hit@1": table[0.0][2], "dense_alone_hit@1": table[1.0][2],
            "appliance_hit@1": entry["appliance"][2],
            "hit@1_by_weight": {str(w): table[w][2] for w in DENSE_WEIGHTS}})
    for tuned in sets:
        weight = best(tuned["by_weight"], 2)
        for measured in sets:
            if measured is not tuned:
                report["across_sets"].append({"tuned_on": tuned["set"], "dense_weight": weight,
                                              "hit@1_there": tuned["by_weight"][weight][2],
                                              "measured_on": measured["set"],
                                              "hit@1_here": measured["by_weight"][weight][2],
                                              "appliance_hit@1_here": measured["appliance"][2]})
    return report


THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))


@dataclass(frozen=True)
class Asked:
    """One question's reply with no threshold, so any threshold's outcome can be read from it."""

    confidence: float
    replied: bool             # there was something to say at all
    contains_answer: bool
    cites_relevant: bool      # one of its sources is a document the query lists as relevant
    ms: float

    def answered(self, threshold: float) -> bool:
        return self.replied and self.confidence >= threshold


def _ask_all(ws: EvalWorkspace, queries: list[dict]) -> list[Asked]:
    profile = AgentProfile("FALLBACK", confidence_threshold=0.0)
    out = []
    for query in queries:
        started = time.perf_counter()
        reply = ws.answerer.answer(profile, query["query"])
        elapsed = (time.perf_counter() - started) * 1000
        texts = [_normal(a) for a in query.get("answers", [])]
        relevant = set(query.get("relevant", []))
        out.append(Asked(reply.confidence, reply.answered,
                         reply.answered and any(t in _normal(reply.text) for t in texts),
                         any(ws.doc_of_source.get(c.source_id) in relevant for c in reply.citations), elapsed))
    return out


def _at(threshold: float, inside: list[Asked], outside: list[Asked], with_answers: int) -> dict:
    answered = sum(a.answered(threshold) for a in inside) / (len(inside) or 1)
    row = {"threshold": threshold, "answered": round(answered, 3),
           "answered_from_relevant": round(sum(a.cites_relevant and a.answered(threshold) for a in inside)
                                           / (len(inside) or 1), 3),
           "contains_answer": round(sum(a.contains_answer and a.answered(threshold) for a in inside)
                                    / with_answers, 3) if with_answers else None}
    if outside:
        fell_back = sum(not a.answered(threshold) for a in outside) / len(outside)
        # Answering what it knows and declining what it does not count the same: the balanced accuracy.
        row.update({"out_of_scope_fell_back": round(fell_back, 3), "balanced": round((answered + fell_back) / 2, 3)})
    return row


def answer_metrics(folder: Path, *, out_of_scope: Path | None = None, embedder=None, limit: int | None = None,
                   threshold: float | None = None, thresholds: tuple[float, ...] = ()) -> dict:
    """Answered share, share answered citing a relevant document, share of replies that contain an answer text
    (sets that list answers), and (with `out_of_scope`, another set's questions asked of this set's agent) the share
    of those that fall back, at `threshold` (the agent default when None) and at each of `thresholds`."""
    queries = read_jsonl(Path(folder) / "queries.jsonl")[:limit]
    foreign = read_jsonl(Path(out_of_scope) / "queries.jsonl")[:limit] if out_of_scope else []
    chosen = AgentProfile("").confidence_threshold if threshold is None else threshold
    with eval_workspace(folder, embedder=embedder) as ws:
        inside, outside = _ask_all(ws, queries), _ask_all(ws, foreign)
    timings = sorted(a.ms for a in inside)
    with_answers = sum(1 for q in queries if q.get("answers"))
    result = {"set": Path(folder).name, "queries": len(queries), "dense_model": embedder is not None,
              **_at(chosen, inside, outside, with_answers),
              "median_ms": round(statistics.median(timings), 2) if timings else 0.0,
              "p95_ms": round(timings[max(0, int(len(timings) * 0.95) - 1)], 2) if timings else 0.0}
    if foreign:
        result.update({"out_of_scope_set": Path(out_of_scope).name, "out_of_scope_queries": len(foreign)})
    if thresholds:
        result["sweep"] = [_at(t, inside, outside, with_answers) for t in thresholds]
    return result


def threshold_cross_validation(first: Path, second: Path, *, embedder=None, limit: int | None = None) -> dict:
    """The confidence threshold chosen on each direction (one set's agent asked its own questions and the other
    set's) by balanced accuracy, and measured on the other direction: a threshold that only fits one set shows."""
    directions = [answer_metrics(a, out_of_scope=b, embedder=embedder, limit=limit, thresholds=THRESHOLDS)
                  for a, b in ((first, second), (second, first))]
    report = {"directions": directions, "cross": []}
    for tuned, measured in ((0, 1), (1, 0)):
        sweep = directions[tuned]["sweep"]
        best = max(sweep, key=lambda row: (row["balanced"], -abs(row["threshold"] - 0.5)))
        other = next(row for row in directions[measured]["sweep"] if row["threshold"] == best["threshold"])
        report["cross"].append({"tuned_on": directions[tuned]["set"], "threshold": best["threshold"],
                                "balanced_there": best["balanced"], "measured_on": directions[measured]["set"],
                                "balanced_here": other["balanced"]})
    return report
