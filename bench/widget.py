"""Widget chat under load: visitors chatting through Caddy and waitress with an agent on the covidqa documents,
against the same visitors fetching `/healthz` through the same stack in the same run (the ceiling).

Starts a real appliance (`chatspark init`, the documents indexed through the core, then `chatspark serve` with the
shipped settings except the widget's rate limits), and for 10, 50, 100 and 200 visitors prints one JSON line: messages
per second and p50/p95/p99 latency, the ceiling's requests per second and latency, and the ratios chat / ceiling. The
agent answers by full-text search alone unless `--dense` turns the embedding model on (as shipped); the last line is
one JSON object with every level and the run's noise (how far each level's two rounds of chat lay apart).
Each visitor is a thread with its own keep-alive TLS 1.3 connection, like a browser tab; the two workloads alternate
(ceiling, chat, chat, ceiling) so drift weighs on both. The visitors run in this process and share the machine's CPU
with Caddy and waitress: `client_cpu_share` says how much of the CPU used went to them, so on a small machine both
figures are lower bounds for a server with the machine to itself. Each level also says how much CPU serve and Caddy
spent per chat message and per ceiling request, which varies less than rates on a shared machine. `--quick` runs one
short level as a smoke test.
"""

from __future__ import annotations

import http.client
import itertools
import json
import math
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from appliance import settings as appliance_settings
from appliance.agent.evaluation import read_jsonl
from appliance.bootstrap import open_appliance
from appliance.clock import SystemClock
from appliance.services import build_services
from appliance.storage.layout import Layout
from bench.knowledge import EVAL

LEVELS = (10, 50, 100, 200)
ROUNDS = 2  # each round runs both workloads; the second round reverses their order
WARMUP_S = 1.5
MEASURE_S = 5.0
ORIGIN = "https://bench.example"
# The widget's limits guard a real site against one noisy visitor; here they would only measure themselves.
UNTHROTTLED = {"CHATSPARK_WIDGET_REQUESTS_PER_MINUTE": "10000000", "CHATSPARK_WIDGET_MESSAGES_PER_MINUTE": "10000000",
               "CHATSPARK_WIDGET_MESSAGES_PER_AGENT_PER_DAY": "100000000"}
TICKS = os.sysconf("SC_CLK_TCK")

Step = Callable[[http.client.HTTPSConnection], tuple[int, bytes]]


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    samples: list[str] = field(default_factory=list)

    def failed(self, what: str) -> None:
        self.errors += 1
        if len(self.samples) < 3:
            self.samples.append(what[:300])


@dataclass
class Result:
    per_s: float
    latencies: list[float]
    errors: int
    samples: list[str]
    client_cpu_share: float
    server_cpu_ms: float  # CPU seconds of serve and Caddy per completed request, in ms: steadier than rates here


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _load_agent(layout: Layout, environ: dict[str, str]) -> tuple[str, int]:
    """Operator, workspace, the covidqa documents indexed and an agent, through the core; its public id and chunks."""
    appliance = open_appliance(layout, clock=SystemClock())
    try:
        services = build_services(appliance, appliance_settings.load(environ=environ))
        try:
            operator = services.users.create_operator(email="operator@bench.example",
                                                      password="load test of the covidqa widget agent")
            workspace = services.workspaces.create(name="Bench", owner_id=operator.id, actor_id=operator.id,
                                                   client_address=None)
            sources = services.knowledge.sources(workspace.id)
            for document in read_jsonl(EVAL / "documents.jsonl"):
                sources.add_text(title=document["title"], text=document["text"])
            if not services.knowledge.wait_idle(timeout=900):
                raise RuntimeError("indexing the covidqa documents took longer than 15 minutes")
            indexed = sources.list()
            failed = [s.title for s in indexed if s.status != "ready"]
            if failed:
                raise RuntimeError(f"{len(failed)} documents failed to index, first: {failed[0]}")
            agent = services.agents.of(workspace.id).create({"name": "Bench", "allowed_origins": [ORIGIN]})
            return agent.public_id, sum(s.chunk_count for s in indexed)
        finally:
            services.knowledge.close()
    finally:
        appliance.close()


def _healthz(conn: http.client.HTTPSConnection, number: int) -> Step:
    def step(conn: http.client.HTTPSConnection) -> tuple[int, bytes]:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        return response.status, response.read()
    return step


def _chat(public_id: str, questions: list[str]) -> Callable[[http.client.HTTPSConnection, int], Step]:
    """Open a widget session on the visitor's connection; each step sends the next question, cycling from its own."""
    base = f"/widget/v1/agents/{public_id}"
    headers = {"Origin": ORIGIN, "Content-Type": "application/json", "Accept": "application/json"}

    def begin(conn: http.client.HTTPSConnection, number: int) -> Step:
        conn.request("POST", f"{base}/session", body=b"{}", headers=headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"session answered {response.status}: {body[:300]!r}")
        authorised = {**headers, "Authorization": f"Bearer {json.loads(body)['token']}"}
        asked = itertools.count(number * 37)  # visitors start at different questions

        def step(conn: http.client.HTTPSConnection) -> tuple[int, bytes]:
            text = questions[next(asked) % len(questions)]
            conn.request("POST", f"{base}/messages", body=json.dumps({"text": text}).encode(), headers=authorised)
            response = conn.getresponse()
            return response.status, response.read()
        return step
    return begin


def _visitor(connect: Callable[[], http.client.HTTPSConnection], begin: Callable[..., Step], number: int,
             barrier: threading.Barrier, window: list[float], tally: Tally) -> None:
    conn, step = connect(), None
    try:
        step = begin(conn, number)
    except (OSError, http.client.HTTPException, RuntimeError) as exc:
        tally.failed(repr(exc))
    barrier.wait()
    start, end = window
    while step is not None and time.perf_counter() < end:
        sent = time.perf_counter()
        try:
            status, body = step(conn)
        except (OSError, http.client.HTTPException) as exc:
            status, body = 0, repr(exc).encode()
            conn.close()
            conn = connect()
        done = time.perf_counter()
        if status != 200:
            tally.failed(f"{status}: {body[:300]!r}")
        elif start <= done <= end:  # completions inside the window, so throughput is not biased by its edges
            tally.latencies.append(done - sent)
    conn.close()


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def _server_pids(serve_pid: int) -> list[int]:
    """Serve and its children (Caddy)."""
    pids = [serve_pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == serve_pid:
                pids.append(int(entry.name))
    return pids


def _run(visitors: int, connect: Callable[[], http.client.HTTPSConnection], begin: Callable[..., Step],
         server_pids: list[int], measure_s: float, warmup_s: float) -> Result:
    """`visitors` threads connect (and open their sessions), then go together: warm-up, then the measured window."""
    window: list[float] = []
    barrier = threading.Barrier(visitors + 1, action=lambda: window.extend(
        [time.perf_counter() + warmup_s, time.perf_counter() + warmup_s + measure_s]))
    tallies = [Tally() for _ in range(visitors)]
    threads = [threading.Thread(target=_visitor, args=(connect, begin, n, barrier, window, tallies[n]), daemon=True)
               for n in range(visitors)]
    for thread in threads:
        thread.start()
    barrier.wait()
    time.sleep(max(0.0, window[0] - time.perf_counter()))
    client, server = sum(os.times()[:2]), _cpu_seconds(server_pids)
    time.sleep(max(0.0, window[1] - time.perf_counter()))
    client, server = sum(os.times()[:2]) - client, _cpu_seconds(server_pids) - server
    for thread in threads:
        thread.join(60)
    latencies = [x for t in tallies for x in t.latencies]
    return Result(len(latencies) / measure_s, latencies, sum(t.errors for t in tallies),
                  [s for t in tallies for s in t.samples][:3], client / (client + server) if client + server else 0.0,
                  1000 * server / len(latencies) if latencies else float("nan"))


def _merge(results: list[Result]) -> Result:
    return Result(sum(r.per_s for r in results) / len(results), sorted(x for r in results for x in r.latencies),
                  sum(r.errors for r in results), [s for r in results for s in r.samples][:3],
                  sum(r.client_cpu_share for r in results) / len(results),
                  sum(r.server_cpu_ms for r in results) / len(results))


def _ms(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted seconds, in milliseconds."""
    if not ordered:
        return float("nan")
    return round(ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] * 1000, 1)


def _start_serve(data: Path, keys: Path, port: int, env: dict[str, str], out: Path) -> subprocess.Popen:
    with out.open("w") as stdout, out.with_suffix(".err").open("w") as stderr:
        serve = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--data-dir", str(data),
                                  "--key-dir", str(keys), "--port", str(port)],
                                 stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 60
    while "is serving" not in out.read_text():
        if serve.poll() is not None or time.monotonic() > deadline:
            serve.kill()
            serve.wait()
            raise RuntimeError(f"serve did not start: {out.with_suffix('.err').read_text()[-2000:]}")
        time.sleep(0.1)
    return serve


def _spread(results: list[Result]) -> float:
    """How far apart the rounds' throughputs lay, as a share of their mean."""
    rates = [r.per_s for r in results]
    mean = sum(rates) / len(rates)
    return round((max(rates) - min(rates)) / mean, 3) if mean else 0.0


def main(quick: bool = False, dense: bool = False) -> None:
    levels, measure_s, warmup_s = ((10,), 1.0, 0.5) if quick else (LEVELS, MEASURE_S, WARMUP_S)
    model = {"CHATSPARK_DENSE_RETRIEVAL": "true" if dense else "false"}
    questions = [q["query"] for q in read_jsonl(EVAL / "queries.jsonl")]
    tmp = Path(tempfile.mkdtemp(prefix="chatspark-bench-widget-"))
    serve = None
    try:
        data, keys, port = tmp / "data", tmp / "keys", _free_port()
        subprocess.run([sys.executable, "-m", "server.cli", "init", "--data-dir", str(data), "--key-dir", str(keys)],
                       check=True, capture_output=True)
        public_id, chunks = _load_agent(Layout.of(data, keys), model)
        env = {**os.environ, **UNTHROTTLED, **model}
        summary: dict[str, dict] = {}
        cpu_shares: list[float] = []
        app_threads = appliance_settings.load(environ=env).app_threads
        serve = _start_serve(data, keys, port, env, tmp / "serve.out")
        context = ssl.create_default_context(cafile=str(data / "tls" / "ca.crt"))
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        connect = lambda: http.client.HTTPSConnection("localhost", port, context=context, timeout=60)  # noqa: E731
        pids, chat = _server_pids(serve.pid), _chat(public_id, questions)
        for visitors in levels:
            runs: dict[str, list[Result]] = {"ceiling": [], "chat": []}
            for round_ in range(ROUNDS):
                order = ("ceiling", "chat") if round_ % 2 == 0 else ("chat", "ceiling")
                for name in order:
                    begin = _healthz if name == "ceiling" else chat
                    runs[name].append(_run(visitors, connect, begin, pids, measure_s, warmup_s))
            ceiling, answered = _merge(runs["ceiling"]), _merge(runs["chat"])
            line = {"bench": "widget_chat", "visitors": visitors, "app_threads": app_threads,
                    "documents_chunks": chunks,
                    "chat_msgs_per_s": round(answered.per_s, 1), "chat_p50_ms": _ms(answered.latencies, 0.50),
                    "chat_p95_ms": _ms(answered.latencies, 0.95), "chat_p99_ms": _ms(answered.latencies, 0.99),
                    "ceiling_req_per_s": round(ceiling.per_s, 1), "ceiling_p50_ms": _ms(ceiling.latencies, 0.50),
                    "ceiling_p99_ms": _ms(ceiling.latencies, 0.99),
                    "throughput_ratio": round(answered.per_s / ceiling.per_s, 3) if ceiling.per_s else None,
                    "p99_ratio": round(_ms(answered.latencies, 0.99) / _ms(ceiling.latencies, 0.99), 1)
                    if ceiling.latencies and answered.latencies else None,
                    "chat_server_cpu_ms": round(answered.server_cpu_ms, 2),
                    "ceiling_server_cpu_ms": round(ceiling.server_cpu_ms, 2),
                    "client_cpu_share_chat": round(answered.client_cpu_share, 2),
                    "client_cpu_share_ceiling": round(ceiling.client_cpu_share, 2),
                    "errors": answered.errors + ceiling.errors}
            print(json.dumps(line), flush=True)
            for sample in answered.samples + ceiling.samples:
                print(f"  error: {sample}", file=sys.stderr)
            summary[str(visitors)] = {key: line[key] for key in (
                "chat_msgs_per_s", "chat_p50_ms", "chat_p99_ms", "ceiling_req_per_s", "chat_server_cpu_ms",
                "ceiling_server_cpu_ms")}
            summary[str(visitors)].update(ratio=line["throughput_ratio"], chat_noise=_spread(runs["chat"]),
                                          errors=line["errors"])
            cpu_shares.append(answered.client_cpu_share)
        print(json.dumps({"bench": "widget", "dense_model": dense, "app_threads": app_threads, "levels": summary,
                          "client_cpu_share": round(sum(cpu_shares) / len(cpu_shares), 2)}), flush=True)
    finally:
        if serve is not None and serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(30)
            except subprocess.TimeoutExpired:
                serve.kill()
                serve.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:], dense="--dense" in sys.argv[1:])
