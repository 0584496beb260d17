"""Clients too slow on purpose (bodies and headers a byte a second, handshakes never finished, responses never
read) leave widget chat and /readyz answering through the real stack, and are cut off; the shipped limits are sane."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

import pytest

from appliance import settings as settings_module
from server.serving import caddy_config
from tests.running import tls13_context
from tests.server.demo_appliance import start_demo
from tests.waiting import wait_for

READ_HEADER_TIMEOUT = 6
READ_BODY_TIMEOUT = 8
WRITE_STALL_TIMEOUT = 3
# What the issue asks of the appliance while slow clients trickle: every answer within a second.
ANSWER_WITHIN = 1.0
PIPELINED = 150


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    appliance = start_demo(tmp_path_factory.mktemp("slow-clients"), env={
        "CHATSPARK_READ_HEADER_TIMEOUT_SECONDS": str(READ_HEADER_TIMEOUT),
        "CHATSPARK_READ_BODY_TIMEOUT_SECONDS": str(READ_BODY_TIMEOUT),
        "CHATSPARK_WRITE_STALL_TIMEOUT_SECONDS": str(WRITE_STALL_TIMEOUT),
        # The test chats far more than one visitor would; the limits have tests of their own.
        "CHATSPARK_WIDGET_REQUESTS_PER_MINUTE": "100000",
        "CHATSPARK_WIDGET_MESSAGES_PER_MINUTE": "100000",
    })
    yield appliance
    appliance.running.stop()


@dataclass
class SlowClient:
    kind: str
    sock: socket.socket
    pending: bytes
    first_line: bytes | None = None
    closed_after: float | None = None


@dataclass
class Trickle:
    """Slow clients, each sent one byte a second from one thread, noting what the server answers and when it hangs
    up on them."""

    clients: list[SlowClient] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    _stop: threading.Event = field(default_factory=threading.Event)

    def open(self, demo, kind: str, head: bytes, pending: bytes, *, tls: bool = True) -> None:
        raw = socket.create_connection(("127.0.0.1", demo.running.port), timeout=10)
        sock = tls13_context(demo.running.ca_file).wrap_socket(raw, server_hostname="localhost") if tls else raw
        sock.sendall(head)
        sock.setblocking(False)
        self.clients.append(SlowClient(kind, sock, pending))

    def start(self) -> "Trickle":
        self.started = time.monotonic()
        threading.Thread(target=self._run, name="trickle", daemon=True).start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            for client in self.clients:
                if client.closed_after is None:
                    self._step(client)
            self._stop.wait(1.0)

    def _step(self, client: SlowClient) -> None:
        try:
            if client.pending:
                client.sock.send(client.pending[:1])
                client.pending = client.pending[1:]
            data = client.sock.recv(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return
        except OSError:
            data = b""
        if data and client.first_line is None:
            client.first_line = data.split(b"\r\n", 1)[0]
        if not data:
            client.closed_after = time.monotonic() - self.started

    def still_open(self, kind: str | None = None) -> int:
        return sum(1 for c in self.clients if c.closed_after is None and kind in (None, c.kind))

    def of(self, kind: str) -> list[SlowClient]:
        return [c for c in self.clients if c.kind == kind]

    def stop(self) -> None:
        self._stop.set()
        for client in self.clients:
            client.sock.close()


def slow_body(demo, trickle: Trickle, *, declared: int) -> None:
    trickle.open(demo, f"body-{declared}", (
        f"POST /widget/v1/agents/{demo.public_id}/messages HTTP/1.1\r\nHost: localhost\r\n"
        f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n").encode(), b" " * declared)


def slow_headers(demo, trickle: Trickle) -> None:
    trickle.open(demo, "headers", b"GET /readyz HTTP/1.1\r\nHost: localhost\r\n", b"X-Slow: " + b"a" * 10_000)


def timed_call(demo, method: str, path: str, body: dict | None = None, *, token: str | None = None):
    headers = {"Origin": demo.site_origin, "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn = http.client.HTTPSConnection("localhost", demo.running.port, context=tls13_context(demo.running.ca_file),
                                       timeout=10)
    started = time.perf_counter()
    try:
        conn.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    return time.perf_counter() - started, response.status, json.loads(data) if data else {}


def assert_chat_and_readiness_answer_in_time(demo) -> None:
    took, status, session = timed_call(demo, "POST", f"/widget/v1/agents/{demo.public_id}/session", {})
    assert status == 200 and took < ANSWER_WITHIN, (status, took)
    took, status, answer = timed_call(demo, "POST", f"/widget/v1/agents/{demo.public_id}/messages",
                                      {"text": "Where do visitors park?"}, token=session["token"])
    assert status == 200 and answer["reply"]["text"] and took < ANSWER_WITHIN, (status, took)
    took, status, ready = timed_call(demo, "GET", "/readyz")
    assert status == 200 and ready["status"] == "ready" and took < ANSWER_WITHIN, (status, took)


def test_slow_bodies_and_headers_leave_chat_and_readiness_answering_and_are_cut_off(demo):
    assert_chat_and_readiness_answer_in_time(demo)  # warm: the first answer loads the agent
    trickle = Trickle()
    try:
        for _ in range(100):
            slow_body(demo, trickle, declared=1_000_000)
            slow_headers(demo, trickle)
        for _ in range(20):
            trickle.open(demo, "no-handshake", b"", b"", tls=False)
        trickle.start()

        rounds = 0
        while trickle.still_open("body-1000000") == 100 and trickle.still_open("headers") == 100 and rounds < 3:
            assert_chat_and_readiness_answer_in_time(demo)
            rounds += 1
        assert rounds == 3, "the slow clients were cut off before chat could be measured while they trickled"

        wait_for(lambda: trickle.still_open() == 0, timeout=READ_BODY_TIMEOUT + 20)
    finally:
        trickle.stop()
    bodies, headers, silent = trickle.of("body-1000000"), trickle.of("headers"), trickle.of("no-handshake")
    assert {c.first_line for c in bodies} == {b"HTTP/1.1 408 Request Timeout"}
    # Each was cut off by its own timeout, long before it could have sent what it announced.
    assert max(c.closed_after for c in bodies) < READ_BODY_TIMEOUT + 10
    assert max(c.closed_after for c in headers + silent) < READ_HEADER_TIMEOUT + 10
    assert all(c.pending for c in bodies + headers)
    assert_chat_and_readiness_answer_in_time(demo)


def test_small_slow_bodies_get_their_408_in_time_and_never_reach_the_app(demo):
    trickle = Trickle()
    try:
        for _ in range(100):
            slow_body(demo, trickle, declared=2_000)
        trickle.start()
        for _ in range(2):
            assert_chat_and_readiness_answer_in_time(demo)
        assert trickle.still_open() == 100

        wait_for(lambda: all(c.first_line for c in trickle.clients), timeout=READ_BODY_TIMEOUT + 20)
        assert {c.first_line for c in trickle.clients} == {b"HTTP/1.1 408 Request Timeout"}
        assert_chat_and_readiness_answer_in_time(demo)
    finally:
        trickle.stop()
    app_saw = [e for e in demo.running.log_entries() if e.get("logger") == "chatspark.access"
               and str(e.get("path")).endswith("/messages") and e.get("status") != 200]
    assert app_saw == [], "a body that never arrived whole reached the app"


def test_clients_that_stop_reading_responses_are_cut_off_without_holding_up_the_app(demo):
    cut_before = len(_cut_off_readers(demo))
    readers = []
    try:
        for _ in range(12):
            raw = socket.socket()
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            raw.settimeout(10)
            raw.connect(("127.0.0.1", demo.running.port))
            sock = tls13_context(demo.running.ca_file).wrap_socket(raw, server_hostname="localhost")
            # Pipelined requests for the widget, and never a byte read: more answers than the kernel's buffers hold.
            sock.sendall(b"GET /widget.js HTTP/1.1\r\nHost: localhost\r\n\r\n" * PIPELINED)
            readers.append(sock)
        for _ in range(3):
            assert_chat_and_readiness_answer_in_time(demo)

        # Reading would let the answers flow again, so the cut-offs are watched in the log, where Caddy notes them.
        wait_for(lambda: len(_cut_off_readers(demo)) - cut_before >= len(readers), timeout=WRITE_STALL_TIMEOUT + 30)
        received = [_read_until_closed(sock) for sock in readers]
    finally:
        for sock in readers:
            sock.close()
    # Each reader got some answers before it was hung up on, far from all it asked for.
    assert all(total is not None and total < PIPELINED * 30_000 for total in received), received
    assert_chat_and_readiness_answer_in_time(demo)


def _cut_off_readers(demo) -> list[dict]:
    return [e for e in demo.running.log_entries()
            if e.get("logger") == "caddy" and e["msg"].startswith("aborting with incomplete response")]


def _read_until_closed(sock: ssl.SSLSocket) -> int | None:
    """Bytes read before the server hung up, or None if it still had the connection open."""
    sock.settimeout(5)
    total = 0
    try:
        while chunk := sock.recv(65536):
            total += len(chunk)
    except TimeoutError:
        return None
    except OSError:
        pass
    return total


def test_shipped_limits_cut_off_slow_clients_yet_let_a_full_upload_through():
    shipped = settings_module.load(environ={})
    # A whole upload of the largest size at 2 Mbit/s fits in the time a body may take; a trickle is over in minutes.
    assert shipped.max_request_body_bytes / 250_000 <= shipped.read_body_timeout_seconds <= 300
    assert shipped.read_header_timeout_seconds <= 30 and shipped.write_stall_timeout_seconds <= 60
    # Waitress keeps a few connections per thread (so requests wait in Caddy, not in waitress's event loop, which
    # visits every connection each time it wakes), and Caddy lets its idle ones go before waitress does.
    assert 2 * shipped.app_threads <= shipped.app_connection_limit <= 8 * shipped.app_threads
    assert shipped.app_channel_timeout_seconds >= 2

    server = caddy_config.appliance_server(shipped, upstream_socket=socket.__file__)
    assert server["read_header_timeout"] == f"{shipped.read_header_timeout_seconds}s"
    assert server["read_timeout"] == f"{shipped.read_body_timeout_seconds}s"
    assert server["write_idle_timeout"] == f"{shipped.write_stall_timeout_seconds}s"
    proxy = server["routes"][-1]["handle"][-1]
    assert proxy["request_buffers"] == shipped.max_request_body_bytes
    assert proxy["transport"]["max_conns_per_host"] == shipped.app_connection_limit
    keep_alive = int(proxy["transport"]["keep_alive"]["idle_timeout"].rstrip("s"))
    assert keep_alive < shipped.app_channel_timeout_seconds
