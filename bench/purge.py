"""Purging 1,000,000 messages with the real retention sweep: rows deleted per second, and chat p99 while the purge
runs beside chat p99 without it, in the same run and the same workspace.

A workspace gets a small trained agent and 100,000 old conversations of 10 messages each (written straight into the
file in large transactions, spread over three years), with their full-text index and analytics. A thread then asks
the agent questions through ConversationService.ask at a steady 20 a second (a busy site; `--asks-per-second`), each
timed, first alone (the baseline), then while the sweep deletes every old conversation with the shipped batch
settings. Prints one JSON line per measurement, the last with the ratios.

Run alone with `python -m bench.purge` (about 3 minutes on 2 cores); `--messages 100000` for a quick pass.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

from appliance import settings as settings_module
from appliance.bootstrap import initialise, open_appliance
from appliance.clock import SystemClock, isoformat
from appliance.services import Services, build_services
from appliance.storage.layout import Layout

PER_CONVERSATION = 10
INSERT_BATCH = 5_000  # conversations per transaction while filling
QUESTIONS = ["How many days of paid leave do I get?", "Where do visitors park?", "How do I reset my VPN password?",
             "When is payroll paid?", "Who do I call about a broken laptop?"]
WORDS = ("refund invoice shipping warranty password reset account billing order delivery return policy holiday "
         "schedule payroll laptop vpn printer badge parking benefits onboarding expenses travel meeting room "
         "security training pension leave sick manager contract desk locker canteen wifi email calendar").split()


def _trained(services: Services, workspace_id: str):
    knowledge = services.knowledge
    knowledge.sources(workspace_id).add_qa(title="HR FAQ", pairs=[
        (QUESTIONS[0], "28 days a year, plus public holidays."), (QUESTIONS[3], "On the 25th of each month.")])
    knowledge.sources(workspace_id).add_text(title="Handbook", text=(
        "# Parking\n\nVisitors park in the north car park, next to reception.\n\n"
        "# IT\n\nReset your VPN password at the self-service portal. For a broken laptop call the help desk on "
        "extension 4400.\n"))
    agent = services.agents.of(workspace_id).create({"name": "Helper"})
    assert knowledge.wait_idle(60)
    return agent


def _fill(services: Services, workspace_id: str, agent_id: str, messages: int) -> dict:
    """Old conversations straight into the file: the i-th last active at an even spread over three years."""
    db = services.appliance.workspaces.open(workspace_id)
    count = messages // PER_CONVERSATION
    rng = random.Random(20261129)
    newest = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=60)
    spacing = dt.timedelta(days=3 * 365) / count
    started = time.perf_counter()
    for first in range(0, count, INSERT_BATCH):
        conversations, rows, events = [], [], []
        for i in range(first, min(first + INSERT_BATCH, count)):
            at = isoformat(newest - (count - i) * spacing)
            conversation_id = f"old{i:08d}"
            conversations.append((conversation_id, agent_id, at, at, f"visitor-{i % 5000}", f"198.51.{i % 250}.9"))
            for j in range(PER_CONVERSATION):
                text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 24)))
                rows.append((conversation_id, "visitor" if j % 2 == 0 else "agent", text, at))
            events.append((agent_id, at[:10], "conversation", conversation_id, None, at))
            events.append((agent_id, at[:10], "question", conversation_id, rows[-PER_CONVERSATION][2], at))
        with db.transaction() as conn:
            conn.executemany("INSERT INTO conversations (id, agent_id, started_at, updated_at, channel, visitor_id, "
                             "client_address) VALUES (?, ?, ?, ?, 'widget', ?, ?)", conversations)
            conn.executemany("INSERT INTO messages (conversation_id, role, text, created_at) VALUES (?, ?, ?, ?)",
                             rows)
            conn.executemany("INSERT INTO analytics_events (agent_id, day, kind, conversation_id, question, "
                             "created_at) VALUES (?, ?, ?, ?, ?, ?)", events)
    db.checkpoint()
    seconds = time.perf_counter() - started
    return {"bench": "purge", "step": "fill", "conversations": count, "messages": count * PER_CONVERSATION,
            "seconds": round(seconds, 1), "messages_per_second": round(count * PER_CONVERSATION / seconds),
            "file_mb": round(db.path.stat().st_size / 1e6, 1)}


class Asker(threading.Thread):
    """Asks the agent one question after another, each in a new conversation, at a steady rate (a busy site's
    traffic, the same with and without the purge), timing every reply."""

    def __init__(self, services: Services, workspace_id: str, agent, *, per_second: float) -> None:
        super().__init__(daemon=True)
        self._conversations = services.conversations.chat(workspace_id)
        self._agent = agent
        self._interval = 1 / per_second
        self.stop = threading.Event()
        self.latencies_ms: list[float] = []
        self.errors = 0

    def run(self) -> None:
        n, due = 0, time.perf_counter()
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                self._conversations.ask(self._agent, QUESTIONS[n % len(QUESTIONS)])
            except Exception:  # a refused write would show as an error count, never stop the measurement
                self.errors += 1
            self.latencies_ms.append((time.perf_counter() - started) * 1000)
            n += 1
            # A late reply does not delay the next question: each is asked at its time, as visitors would.
            due += self._interval
            self.stop.wait(max(0.0, due - time.perf_counter()))


def _latency(step: str, asker: Asker, seconds: float) -> dict:
    latencies = asker.latencies_ms
    cuts = statistics.quantiles(latencies, n=100)
    return {"bench": "purge", "step": step, "asks": len(latencies), "errors": asker.errors,
            "asks_per_second": round(len(latencies) / seconds, 1), "p50_ms": round(cuts[49], 2),
            "p99_ms": round(cuts[98], 2), "max_ms": round(max(latencies), 2)}


def _chat_alone(services: Services, workspace_id: str, agent, seconds: float, rate: float) -> dict:
    asker = Asker(services, workspace_id, agent, per_second=rate)
    asker.start()
    time.sleep(seconds)
    asker.stop.set()
    asker.join()
    return _latency("chat_without_purge", asker, seconds)


def _purge_beside_chat(services: Services, workspace_id: str, agent, rate: float) -> tuple[dict, dict]:
    services.retention.apply(workspace_id, {"conversations_days": 30, "analytics_events_days": 365},
                             actor=_system())
    asker = Asker(services, workspace_id, agent, per_second=rate)
    asker.start()
    started = time.perf_counter()
    report = services.retention.sweep()
    seconds = time.perf_counter() - started
    asker.stop.set()
    asker.join()
    counts = report.deleted[workspace_id]
    rows = counts["conversations"] + counts["messages"] + counts["analytics_events"]
    purge = {"bench": "purge", "step": "purge", **counts, "seconds": round(seconds, 1),
             "rows_per_second": round(rows / seconds), "messages_per_second": round(counts["messages"] / seconds)}
    return purge, _latency("chat_during_purge", asker, seconds)


def _system():
    from appliance.retention.service import Actor

    return Actor("system", None)


def main(messages: int = 1_000_000, baseline_seconds: float = 30.0, asks_per_second: float = 20.0,
         **overrides) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clock = SystemClock()
        layout = Layout.of(Path(tmp) / "data", Path(tmp) / "keys")
        initialise(layout, clock=clock)
        appliance = open_appliance(layout, clock=clock)
        settings = settings_module.load(environ={}).replace(argon2_time_cost=1, argon2_memory_kib=1024,
                                                            argon2_parallelism=1, **overrides)
        services = build_services(appliance, settings)
        try:
            owner = services.users.create_operator(email="bench@example.com", password="amber orchard quiet 91")
            workspace = services.workspaces.create(name="Bench", owner_id=owner.id, actor_id=owner.id,
                                                   client_address=None)
            agent = _trained(services, workspace.id)
            print(json.dumps(_fill(services, workspace.id, agent.id, messages)), flush=True)
            alone = _chat_alone(services, workspace.id, agent, baseline_seconds, asks_per_second)
            print(json.dumps(alone), flush=True)
            purge, during = _purge_beside_chat(services, workspace.id, agent, asks_per_second)
            print(json.dumps(purge), flush=True)
            print(json.dumps(during), flush=True)
            print(json.dumps({"bench": "purge", "step": "ratio", "asks_per_second": asks_per_second,
                              "batch_rows": settings.retention_batch_rows,
                              "batch_max_ms": settings.retention_batch_max_ms,
                              "batch_pause_ms": settings.retention_batch_pause_ms,
                              "p99_during_over_without": round(during["p99_ms"] / alone["p99_ms"], 2),
                              "p50_during_over_without": round(during["p50_ms"] / alone["p50_ms"], 2)}), flush=True)
        finally:
            services.knowledge.close()
            appliance.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages to purge (default 1,000,000)")
    parser.add_argument("--baseline-seconds", type=float, default=30.0, help="how long chat runs alone first")
    parser.add_argument("--asks-per-second", type=float, default=20.0, help="chat questions asked a second")
    parser.add_argument("--batch-rows", type=int, help="retention_batch_rows (default: the shipped setting)")
    parser.add_argument("--max-ms", type=int, help="retention_batch_max_ms (default: the shipped setting)")
    parser.add_argument("--pause-ms", type=int, help="retention_batch_pause_ms (default: the shipped setting)")
    options = parser.parse_args()
    main(options.messages, options.baseline_seconds, options.asks_per_second,
         **{name: value for name, value in (("retention_batch_rows", options.batch_rows),
                                            ("retention_batch_max_ms", options.max_ms),
                                            ("retention_batch_pause_ms", options.pause_ms)) if value is not None})
