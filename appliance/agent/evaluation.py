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
from appliance.knowledge.dense import VectorCache
from appliance.knowledge.extract import Limits
from appliance.knowledge.retrieval import Retriever
from appliance.knowledge.sources import SourceService
from appliance.storage.layout import Layout


@dataclass
class EvalWorkspace:
    sources: SourceService
    retriever: Retriever
    answerer: Answerer
    doc_of_source: dict[str, str]
    indexed_chars: int
    index_seconds: float


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
                    return [to_blob(v) for v in embedder.embed(texts, batch_size=4)] if texts else []
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
            elapsed = time.perf_counter() - started
            retriever = Retriever(db, embedder=embedder, vectors=VectorCache())
            yield EvalWorkspace(sources, retriever, Answerer(db, retriever=retriever), doc_of_source, chars, elapsed)
        finally:
            appliance.close()


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def _is_hit(hit_text: str, doc: str, query: dict) -> bool:
    if doc not in query["relevant"]:
        return False
    answers = query.get("answers")
    return not answers or any(_normal(a) in _normal(hit_text) for a in answers)


def retrieval_metrics(folder: Path, *, embedder=None, limit: int | None = None) -> dict:
    queries = read_jsonl(Path(folder) / "queries.jsonl")[:limit]
    with eval_workspace(folder, embedder=embedder) as ws:
        hit1 = hit5 = 0
        reciprocal = 0.0
        timings = []
        for query in queries:
            started = time.perf_counter()
            hits = ws.retriever.retrieve(query["query"], limit=10)
            timings.append((time.perf_counter() - started) * 1000)
            ranks = [i for i, h in enumerate(hits) if _is_hit(h.text, ws.doc_of_source[h.source_id], query)]
            if ranks:
                hit1 += ranks[0] == 0
                hit5 += ranks[0] < 5
                reciprocal += 1 / (ranks[0] + 1)
        n = len(queries) or 1
        return {"set": Path(folder).name, "method": "bm25+dense" if embedder else "bm25", "queries": len(queries),
                "hit@1": round(hit1 / n, 3), "hit@5": round(hit5 / n, 3), "mrr@10": round(reciprocal / n, 3),
                "ms_per_query": round(statistics.mean(timings), 2) if timings else 0.0,
                "indexed_chars_per_s": round(ws.indexed_chars / ws.index_seconds) if ws.index_seconds else 0}


def answer_metrics(folder: Path, *, out_of_scope: Path | None = None, embedder=None, limit: int | None = None,
                   threshold: float | None = None) -> dict:
    queries = read_jsonl(Path(folder) / "queries.jsonl")[:limit]
    foreign = read_jsonl(Path(out_of_scope) / "queries.jsonl")[:limit] if out_of_scope else []
    profile = AgentProfile("FALLBACK", **({"confidence_threshold": threshold} if threshold is not None else {}))
    with eval_workspace(folder, embedder=embedder) as ws:
        contained = answered = 0
        timings = []
        for query in queries:
            started = time.perf_counter()
            reply = ws.answerer.answer(profile, query["query"])
            timings.append((time.perf_counter() - started) * 1000)
            answered += reply.answered
            texts = [_normal(a) for a in query.get("answers", [])]
            if reply.answered and texts and any(t in _normal(reply.text) for t in texts):
                contained += 1
        fell_back = sum(not ws.answerer.answer(profile, q["query"]).answered for q in foreign)
        timings.sort()
        with_answers = sum(1 for q in queries if q.get("answers")) or 1
        result = {"set": Path(folder).name, "queries": len(queries),
                  "answered": round(answered / (len(queries) or 1), 3),
                  "contains_answer": round(contained / with_answers, 3),
                  "median_ms": round(statistics.median(timings), 2) if timings else 0.0,
                  "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 2) if timings else 0.0}
        if foreign:
            result.update({"out_of_scope_set": Path(out_of_scope).name, "out_of_scope_queries": len(foreign),
                           "out_of_scope_fell_back": round(fell_back / len(foreign), 3)})
        return result
