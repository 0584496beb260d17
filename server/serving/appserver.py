"""Waitress on a private unix socket (0600 in a 0700 directory), trusting X-Forwarded-* from Caddy alone, with
every body kept in memory (see `server.in_memory`)."""

from __future__ import annotations

import http.client
import socket
import threading
from pathlib import Path

import waitress
from flask import Flask

from server.in_memory import waitress_buffers

# Waitress counts every channel in its socket map against `connection_limit`, its own listening socket and wake-up
# pipe among them: without these two, the last two connections Caddy opens would wait unaccepted, and so would the
# requests Caddy sends on them, until the client gave up.
_OWN_CHANNELS = 2


class AppServer:
    def __init__(self, app: Flask, socket_path: Path, *, threads: int, max_request_body_bytes: int,
                 connection_limit: int = 100, channel_timeout: int = 120) -> None:
        self.socket_path = socket_path
        self._server = waitress.create_server(
            app,
            unix_socket=str(socket_path),
            unix_socket_perms="600",
            threads=threads,
            # Caddy never opens more than `connection_limit` (see `caddy_config.proxy_to_app`) and hands over only
            # whole requests, so slow clients never reach these; poll, since select() fails past descriptor 1024.
            connection_limit=connection_limit + _OWN_CHANNELS,
            channel_timeout=channel_timeout,
            asyncore_use_poll=True,
            # Waitress names a unix-socket peer 'localhost'; only Caddy can connect to this socket.
            trusted_proxy="localhost",
            trusted_proxy_count=1,
            trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"},
            clear_untrusted_proxy_headers=True,
            max_request_body_size=max_request_body_bytes,
            **waitress_buffers(max_request_body_bytes),
            # No Server header: nothing names the software that answered (Caddy strips it too).
            ident="",
            expose_tracebacks=False,
        )
        self._thread = threading.Thread(target=self._server.run, name="waitress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def answers(self, path: str, *, timeout: float = 5.0) -> bool:
        """Whether the app answers GET `path` with 200 on its socket (how serve checks /readyz for systemd)."""
        connection = _UnixHTTPConnection(self.socket_path, timeout=timeout)
        try:
            connection.request("GET", path, headers={"Accept": "application/json"})
            response = connection.getresponse()
            response.read()
            return response.status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def close(self) -> None:
        self._server.close()
        self.socket_path.unlink(missing_ok=True)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: Path, *, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = socket_path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self._socket_path))
