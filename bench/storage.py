"""Cost of encryption at rest: the appliance's SQLCipher storage against plain SQLite, same workload, same run.

Prints one JSON line per workload with its timings (best of several rounds) on three databases: plain SQLite (the
interpreter's own), the SQLite inside SQLCipher without a key (the same engine as the appliance's, so only the cipher
differs) and the appliance's encrypted storage; the ratios of the last to each of the others; and for the inserts,
the pages each writes and what encrypting and authenticating those pages costs by itself (SQLCipher's AES-256-CBC and
HMAC-SHA512, through OpenSSL as SQLCipher's are), the part of the encrypted time the cipher explains. Then chat on the
covidqa documents answered by 1, 2, 4 and 8 threads at once in one workspace (full-text search, each reply kept as
the widget keeps it, in the process's turns as serve makes them from the settings, so
CHATSPARK_REPLIES_KEEP_TO_CORES=false measures replies free to move between cores), with each figure's ratio to one
thread; the last line is one JSON object with every ratio.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import sqlcipher3

from appliance import settings as appliance_settings
from appliance.agent.agents import AgentService
from appliance.agent.answer import Answerer
from appliance.agent.evaluation import eval_workspace, read_jsonl
from appliance.clock import SystemClock
from appliance.conversations.chat import ConversationService
from appliance.storage.database import CACHE_KIB, Database
from appliance.turns import Turns
from bench.cipher_work import cipher_seconds
from bench.knowledge import EVAL

ROWS = 20_000
ROUNDS = 5
THREADS = (1, 2, 4, 8)
CHAT_SECONDS = 3.0
CHAT_ROUNDS = 3
WORDS = ("refund invoice shipping warranty password reset account billing order delivery return policy "
         "holiday schedule payroll laptop vpn printer badge parking benefits onboarding").split()

# The appliance's leaf size (workspace migration 0010) on every side, so only the cipher differs.
SCHEMA = """
CREATE TABLE chunks (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL);
CREATE VIRTUAL TABLE chunks_fts USING fts5(title, body, content='chunks', content_rowid='id', tokenize='porter');
INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('pgsz', 3900);
"""
INSERT = "insert 20k chunks + FTS rebuild"


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _rows() -> list[tuple[int, str, str]]:
    rng = random.Random(7)
    return [(i, _text(rng, 5), _text(rng, 80)) for i in range(1, ROWS + 1)]


def _plain(path: Path, engine=sqlite3) -> sqlite3.Connection:
    """A database without encryption: the interpreter's SQLite, or (`engine=sqlcipher3`) SQLCipher's without a key."""
    conn = engine.connect(str(path), isolation_level=None)
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")  # the appliance's own page cache, so only the cipher differs
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA secure_delete = ON")
    return conn


def _workloads(conn, rows) -> dict[str, Callable[[], None]]:
    rng = random.Random(11)
    ids = [rng.randint(1, ROWS) for _ in range(2000)]
    queries = [f"{rng.choice(WORDS)} OR {rng.choice(WORDS)}" for _ in range(200)]

    def insert() -> None:
        conn.execute("DELETE FROM chunks")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO chunks VALUES (?, ?, ?)", rows)
        conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")
        conn.execute("COMMIT")

    def point_reads() -> None:
        for i in ids:
            conn.execute("SELECT body FROM chunks WHERE id = ?", (i,)).fetchone()

    def fts_queries() -> None:
        for q in queries:
            conn.execute("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts, 2.0, 1.0) "
                         "LIMIT 10", (q,)).fetchall()

    return {INSERT: insert, "2k point reads": point_reads,
            "200 FTS5 BM25 queries": fts_queries}


def _pages_written(conn, work: Callable[[], None]) -> int:
    """Pages (write-ahead log frames) one run of `work` writes, each of them encrypted and authenticated once."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    try:
        work()
        return conn.execute("PRAGMA wal_checkpoint").fetchone()[1]
    finally:
        conn.execute("PRAGMA wal_autocheckpoint = 1000")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _best(fn: Callable[[], None]) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def _chat_rate(chat: ConversationService, agent, questions: list[str], threads: int) -> tuple[float, float]:
    """Messages a second that `threads` threads answer and keep, each asking one question after another, and the
    process's CPU milliseconds per message meanwhile (steadier than the rate on a shared machine)."""
    stop = time.perf_counter() + CHAT_SECONDS
    cpu = time.process_time()
    counts = [0] * threads

    def visitor(number: int) -> None:
        asked = number * 37
        while time.perf_counter() < stop:
            chat.ask(agent, questions[asked % len(questions)])
            asked += 1
            counts[number] += 1

    workers = [threading.Thread(target=visitor, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / CHAT_SECONDS, 1000 * (time.process_time() - cpu) / max(1, sum(counts))


def _thread_scaling() -> tuple[dict[str, float], dict[str, float]]:
    """Median messages a second and CPU ms a message at each thread count, after a warm-up; the rounds go up and down
    the thread counts so drift and the growing conversation tables weigh on all alike."""
    questions = [q["query"] for q in read_jsonl(EVAL / "queries.jsonl")]
    with eval_workspace(EVAL) as ws:
        db, clock = ws.db, SystemClock()
        agent = AgentService(db, clock=clock).create({"name": "Bench"})
        settings = appliance_settings.load(environ=os.environ)
        turns = Turns.for_process(settings.replies_at_once, keep_to_cores=settings.replies_keep_to_cores)
        answerer = Answerer(db, retriever=ws.retriever, turns=turns)  # the process's turns, as serve makes them
        chat = ConversationService(db, clock=clock, answerer=answerer)
        _chat_rate(chat, agent, questions, 1)  # warm: the first replies read every page from the disk
        rates: dict[int, list[float]] = {n: [] for n in THREADS}
        costs: dict[int, list[float]] = {n: [] for n in THREADS}
        for round_ in range(CHAT_ROUNDS):
            for threads in THREADS if round_ % 2 == 0 else reversed(THREADS):
                rate, cost = _chat_rate(chat, agent, questions, threads)
                rates[threads].append(rate)
                costs[threads].append(cost)
    return ({str(n): round(statistics.median(r), 1) for n, r in rates.items()},
            {str(n): round(statistics.median(c), 2) for n, c in costs.items()})


def main() -> None:
    ratios: dict[str, float] = {}
    same_engine: dict[str, float] = {}
    rows = _rows()
    with tempfile.TemporaryDirectory() as tmp:
        plain = _plain(Path(tmp) / "plain.db")
        unkeyed = _plain(Path(tmp) / "unkeyed.db", sqlcipher3)
        encrypted_db = Database(Path(tmp) / "encrypted.db", os.urandom(32), create=True)
        sides = {"plain": plain, "unkeyed": unkeyed, "sqlcipher": encrypted_db.connection}
        work = {}
        for side, conn in sides.items():
            conn.executescript(SCHEMA)
            work[side] = _workloads(conn, rows)
        inserts: dict[str, float] = {}
        for name in work["plain"]:
            # Interleave so drift in machine load hits every side alike.
            best = {side: _best(work[side][name]) for side in sides}
            if name == INSERT:
                inserts = best
            ratios[name] = round(best["sqlcipher"] / best["plain"], 2)
            same_engine[name] = round(best["sqlcipher"] / best["unkeyed"], 2)
            print(json.dumps({"bench": "storage", "workload": name,
                              **{f"{side}_s": round(seconds, 4) for side, seconds in best.items()},
                              "ratio": ratios[name], "ratio_to_unkeyed": same_engine[name]}))
        pages = {side: _pages_written(conn, work[side][INSERT]) for side, conn in sides.items()}
        cipher = cipher_seconds(pages["sqlcipher"], ROUNDS)
        explained = {"pages_written": pages, "insert_s": {side: round(s, 4) for side, s in inserts.items()},
                     "cipher_s": round(cipher, 4),
                     "ratio_to_unkeyed": round(inserts["sqlcipher"] / inserts["unkeyed"], 2),
                     "ratio_to_unkeyed_less_cipher": round((inserts["sqlcipher"] - cipher) / inserts["unkeyed"], 2)}
        print(json.dumps({"bench": "storage", "workload": f"{INSERT}: the cipher's own share", **explained}))
        for conn in (plain, unkeyed):
            conn.close()
        encrypted_db.close()
    rates, costs = _thread_scaling()
    scaling = {n: round(rate / rates["1"], 2) for n, rate in rates.items()}
    print(json.dumps({"bench": "storage", "workload": "chat messages a second by threads, one workspace",
                      "msgs_per_s": rates, "ratio_to_one_thread": scaling, "cpu_ms_per_msg": costs}))
    print(json.dumps({"bench": "storage", "sqlcipher_over_sqlite": ratios, "sqlcipher_over_unkeyed": same_engine,
                      "insert_cipher": explained, "threads_scaling": scaling,
                      "threads_cpu_ms_per_msg": costs}))


if __name__ == "__main__":
    main()
