"""The application server holds exactly as many of Caddy's connections as it is configured for: each of them is
answered (Caddy opens that many under load and sends requests on all of them), and one more waits until one closes."""

from __future__ import annotations

import http.client
import shutil
import socket
import tempfile
from pathlib import Path

import pytest
from flask import Flask

from server.serving.appserver import AppServer

LIMIT = 4


class KeptConnection(http.client.HTTPConnection):
    """A keep-alive connection to the app's socket, as Caddy holds them."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)

    def ask(self) -> bytes:
        self.request("GET", "/hello")
        response = self.getresponse()
        assert response.status == 200 and not response.will_close
        return response.read()


@pytest.fixture
def server():
    directory = Path(tempfile.mkdtemp(prefix="cs-"))  # short: AF_UNIX paths are limited to 108 bytes
    app = Flask(__name__)
    app.get("/hello")(lambda: "hello")
    served = AppServer(app, directory / "app.sock", threads=2, max_request_body_bytes=1024, connection_limit=LIMIT)
    served.start()
    yield served
    served.close()
    shutil.rmtree(directory, ignore_errors=True)


def test_every_connection_up_to_the_limit_is_answered_and_one_more_waits_for_a_free_one(server):
    kept = [KeptConnection(server.socket_path, timeout=10) for _ in range(LIMIT)]
    try:
        assert [connection.ask() for connection in kept] == [b"hello"] * LIMIT
        assert [connection.ask() for connection in kept] == [b"hello"] * LIMIT  # and again, on the same ones

        extra = KeptConnection(server.socket_path, timeout=1)
        extra.connect()  # the kernel's backlog takes it; waitress does not accept it while all are held
        extra.sock.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
        with pytest.raises(TimeoutError):
            extra.sock.recv(1)

        kept.pop().close()
        extra.sock.settimeout(10)
        assert extra.sock.recv(12) == b"HTTP/1.1 200"
        extra.close()
    finally:
        for connection in kept:
            connection.close()
