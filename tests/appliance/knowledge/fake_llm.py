"""A fake OpenAI-compatible chat endpoint on a loopback port the kernel picks; it records every request it receives."""

from __future__ import annotations

import contextlib
import http.server
import json
import ssl
import threading
from dataclasses import dataclass, field
from typing import Iterator

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Scripted:
    """What the endpoint answers: a status, a body, maybe a Location, maybe after a delay or a byte at a time."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/json"
    location: str = ""
    delay_seconds: float = 0.0
    drip_seconds: float = 0.0     # pause before each byte of the body


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    body: bytes
    host: str = ""            # the Host header: the name the client meant, whatever address it connected to

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class FakeLLM:
    """A running endpoint: set `reply` to change what it answers; `requests` is what it was sent, in order."""

    url: str
    reply: Scripted
    requests: list[Received] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)


def completion(content: object) -> Scripted:
    """A chat completion whose first choice's message has `content`."""
    return Scripted(json.dumps({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
    }).encode())


class _Handler(http.server.BaseHTTPRequestHandler):
    server: "_FakeServer"

    def do_POST(self) -> None:  # noqa: N802 (the http.server API)
        self._answer()

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        self._answer()

    def _answer(self) -> None:
        fake = self.server.fake
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fake.requests.append(Received(self.command, self.path, body, self.headers.get("Host", "")))
        reply = fake.reply
        if reply.delay_seconds:
            fake.released.wait(reply.delay_seconds)   # set when the test ends, so a slow reply never slows teardown
        with contextlib.suppress(ConnectionError):
            self.send_response(reply.status)
            if reply.location:
                self.send_header("Location", reply.location)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if not reply.drip_seconds:
                self.wfile.write(reply.body)
            for byte in reply.body if reply.drip_seconds else b"":
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                if fake.released.wait(reply.drip_seconds):
                    break

    def log_message(self, *args: object) -> None:
        pass


class _FakeServer(http.server.ThreadingHTTPServer):
    fake: FakeLLM


@contextlib.contextmanager
def running_llm(*, tls: ssl.SSLContext | None = None) -> Iterator[FakeLLM]:
    """Serve the fake endpoint (base URL .../v1) on 127.0.0.1, over TLS if a server context is given."""
    httpd = _FakeServer((HOST, 0), _Handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    port = httpd.server_address[1]
    httpd.fake = FakeLLM(f"{'https' if tls else 'http'}://{HOST}:{port}/v1", completion("It takes 3 days [1]."))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.fake
    finally:
        httpd.fake.released.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()
