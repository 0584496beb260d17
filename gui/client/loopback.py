"""The panel's end of a sign-in in the system browser (RFC 8252, as native apps do it): a one-shot HTTP listener on
127.0.0.1 that waits for the browser to bring the one-time code, answers it with a page saying it may close the
tab, and hands the code to the UI thread. Only loopback is listened on; anything else it is sent is refused."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

from PySide6.QtCore import QObject, Signal

PAGE = ("<!doctype html><html lang='en'><meta charset='utf-8'><title>ChatSpark panel</title>"
        "<body style='font:15px system-ui;margin:48px'><h1 style='font-size:20px'>{heading}</h1><p>{text}</p>")


def pkce_pair() -> tuple[str, str]:
    """A verifier the panel keeps and its S256 challenge, which goes to the appliance with the sign-in."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class LoopbackWaiter(QObject):
    """Listens on 127.0.0.1:<port> for one GET /callback?code=...; `arrived(code)` on the UI thread (or
    `refused(reason)` when the appliance sent the browser back without a code)."""

    arrived = Signal(str)
    refused = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        waiter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                parts = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(parts.query)
                code = (query.get("code") or [""])[0]
                if parts.path != "/callback" or not code:
                    self._answer(400, "Nothing to do here", "This address only receives the panel's sign-in.")
                    return
                self._answer(200, "Signed in to the ChatSpark panel", "You can close this tab and go back to the "
                                                                    "panel.")
                waiter.arrived.emit(code)
                threading.Thread(target=waiter.close, daemon=True).start()

            def _answer(self, status: int, heading: str, text: str) -> None:
                body = PAGE.format(heading=heading, text=text).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="sso-loopback", daemon=True)
        self._thread.start()
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._server.shutdown()
            self._server.server_close()
