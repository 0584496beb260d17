"""Chaos: a mixed workload (widget chat, uploads, retention sweeps, backups) while `chatspark serve` is killed with
SIGKILL at random moments and started again each time. Afterwards every write the appliance acknowledged is there,
every database passes its integrity check, the audit chain verifies, and no runtime directory is left behind.

`make test` kills it 20 times; `make chaos` (CHATSPARK_CHAOS_KILLS=100) a hundred.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from appliance import settings as settings_module
from appliance.audit.keys import audit_log
from appliance.bootstrap import open_appliance
from appliance.clock import SystemClock
from appliance.services import build_services
from appliance.storage.layout import Layout
from tests.running import tls13_context
from tests.server.demo_appliance import start_demo

KILLS = int(os.environ.get("CHATSPARK_CHAOS_KILLS", "20"))
SEED = int(os.environ.get("CHATSPARK_CHAOS_SEED", "20261201"))


@dataclass
class Acknowledged:
    """What the appliance said it kept, as the clients saw it."""

    messages: list[tuple[str, str]] = field(default_factory=list)  # (conversation id, the visitor's text)
    sources: list[tuple[str, str]] = field(default_factory=list)  # (source id, the marker in its file)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client:
    """One HTTPS connection that is made again whenever the appliance was killed under it."""

    def __init__(self, demo) -> None:
        self.demo = demo
        self.conn: http.client.HTTPSConnection | None = None

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        if self.conn is None:
            running = self.demo.running
            self.conn = http.client.HTTPSConnection("localhost", running.port, timeout=10,
                                                    context=tls13_context(running.ca_file))
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            return None, None
        return response.status, (json.loads(data) if data[:1] in (b"{", b"[") else data)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _worker(work):
    """Run `work(client, ...)` with a Client of its own, closed when the work stops."""
    def run(demo, *args):
        client = Client(demo)
        try:
            work(client, demo, *args)
        finally:
            client.close()
    return run


@_worker
def _chat(client: Client, demo, stop: threading.Event, acknowledged: Acknowledged) -> None:
    token, conversation_id, n = None, None, 0
    headers = {"Origin": demo.site_origin, "Content-Type": "application/json"}
    while not stop.is_set():
        if token is None:
            status, body = client.call("POST", f"/widget/v1/agents/{demo.public_id}/session", b"{}", headers)
            if status != 200:
                time.sleep(0.05)
                continue
            token, conversation_id = body["token"], body["conversation"]["id"]
        n += 1
        text = f"Where do visitors park? (chaos {uuid.uuid4().hex[:10]})"
        status, body = client.call("POST", f"/widget/v1/agents/{demo.public_id}/messages",
                                   json.dumps({"text": text}).encode(),
                                   {**headers, "Authorization": f"Bearer {token}"})
        if status == 200:
            with acknowledged.lock:
                acknowledged.messages.append((conversation_id, text))
        elif status is not None and status != 429:
            token = None  # a refused token (say, after a restart mid-renewal) starts a new session
        if n % 15 == 0:
            token = None


@_worker
def _uploads(client: Client, demo, api_token: str, stop: threading.Event, acknowledged: Acknowledged) -> None:
    while not stop.is_set():
        marker = f"chaos-upload-{uuid.uuid4().hex[:12]}"
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{marker}.md\"\r\n"
                "Content-Type: text/markdown\r\n\r\n"
                f"# {marker}\n\nThe {marker} room is on the second floor, next to the library.\n"
                f"\r\n--{boundary}--\r\n").encode()
        status, answer = client.call("POST", f"/api/v1/workspaces/{demo.workspace_id}/sources/upload", body,
                                     {"Authorization": f"Bearer {api_token}",
                                      "Content-Type": f"multipart/form-data; boundary={boundary}"})
        if status == 202:
            with acknowledged.lock:
                acknowledged.sources.append((answer["source"]["id"], marker))
        time.sleep(0.2)


@_worker
def _jobs(client: Client, demo, api_token: str, stop: threading.Event, acknowledged: Acknowledged) -> None:
    jobs = ["retention_sweep", "backup", "retention_sweep", "checkpoint_databases"]
    n = 0
    while not stop.is_set():
        status, _ = client.call("POST", f"/api/v1/jobs/{jobs[n % len(jobs)]}/run", b"",
                                {"Authorization": f"Bearer {api_token}"})
        if status == 409:
            with acknowledged.lock:
                acknowledged.refused += 1
        n += 1
        time.sleep(0.7)


@pytest.mark.timeout(300 + KILLS * 15)
def test_acknowledged_writes_survive_random_kills_and_everything_stays_intact(tmp_path):
    # One loopback address plays every visitor: the per-address limits and daily shares would stop the chat early.
    demo = start_demo(tmp_path, env={"CHATSPARK_WIDGET_ADDRESS_SHARE_PERCENT": "100",
                                     "CHATSPARK_WIDGET_NETWORK_SHARE_PERCENT": "100",
                                     "CHATSPARK_WIDGET_MESSAGES_PER_MINUTE": "100000",
                                     "CHATSPARK_WIDGET_REQUESTS_PER_MINUTE": "100000"})
    running = demo.running
    api_token = demo.login()
    status, body = running.api("PUT", f"/api/v1/workspaces/{demo.workspace_id}/retention",
                               {"policy": {"conversations_days": 3650}}, token=api_token)
    assert status == 200, body
    acknowledged, stop = Acknowledged(), threading.Event()
    workers = [threading.Thread(target=_chat, args=(demo, stop, acknowledged), daemon=True),
               threading.Thread(target=_chat, args=(demo, stop, acknowledged), daemon=True),
               threading.Thread(target=_uploads, args=(demo, api_token, stop, acknowledged), daemon=True),
               threading.Thread(target=_jobs, args=(demo, api_token, stop, acknowledged), daemon=True)]
    for worker in workers:
        worker.start()
    chance, pids = random.Random(SEED), []
    try:
        for _ in range(KILLS):
            time.sleep(chance.uniform(0.3, 2.5))
            pids.append(running.process.pid)
            running.process.send_signal(signal.SIGKILL)
            running.process.wait(10)
            running.start(timeout=60)
        time.sleep(1.0)
    finally:
        stop.set()
        for worker in workers:
            worker.join(20)
        pids.append(running.process.pid)
        assert running.stop() == 0

    assert len(acknowledged.messages) > 5 * KILLS and len(acknowledged.sources) > KILLS // 2
    assert not [p for pid in pids for p in Path(tempfile.gettempdir()).glob(f"chatspark-{pid}-*")]
    layout = Layout.of(running.data_dir, running.key_dir)
    appliance = open_appliance(layout, clock=SystemClock())
    try:
        appliance.control_db.verify_integrity()
        for workspace in sorted(layout.workspaces_dir.glob("*.db")):
            appliance.workspaces.open(workspace.stem).verify_integrity()
        assert audit_log(appliance.control_db, keystore=appliance.keystore, clock=appliance.clock).verify().ok
        services = build_services(appliance, settings_module.load(environ={}))
        records = services.conversations.records(demo.workspace_id)
        kept: dict[str, set[str]] = {}
        for conversation_id, _ in acknowledged.messages:
            if conversation_id not in kept:
                transcript = records.get(conversation_id).public()
                kept[conversation_id] = {m["text"] for m in transcript["messages"] if m["role"] == "visitor"}
        lost = [text for conversation_id, text in acknowledged.messages if text not in kept[conversation_id]]
        assert lost == []
        sources = services.knowledge.sources(demo.workspace_id)
        assert [marker for source_id, marker in acknowledged.sources
                if marker not in (sources.get(source_id).filename or "")] == []
        services.knowledge.close()
    finally:
        appliance.close()
    print(json.dumps({"kills": KILLS, "acknowledged_messages": len(acknowledged.messages),
                      "acknowledged_uploads": len(acknowledged.sources), "jobs_refused_while_running":
                      acknowledged.refused}))
