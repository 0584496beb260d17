"""A real SMTP server (aiosmtpd) on a loopback port the kernel picks, collecting what it receives; for mail tests."""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import email.policy
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Callable, Iterator

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from appliance.keys import certificates

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    over_tls: bool


@dataclass
class CollectingHandler:
    """Keeps every message the server accepts, with whether it came over TLS; `on_message` runs before it answers."""

    received: list[Received] = field(default_factory=list)
    on_message: Callable[[Received], None] | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        over_tls = server.transport.get_extra_info("ssl_object") is not None
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), message, over_tls)
        if self.on_message is not None:
            self.on_message(received)
        self.received.append(received)
        return "250 OK: queued"


@dataclass
class Credentials:
    """An authenticator accepting one user name and password, remembering every attempt."""

    username: str
    password: str
    attempts: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.attempts.append((login, password))
        return AuthResult(success=(login, password) == (self.username, self.password), handled=False)


@dataclass(frozen=True)
class RelayCertificate:
    """A CA and a server certificate for 127.0.0.1 it issued, as PEM files."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def issue_relay_certificate(directory: Path) -> RelayCertificate:
    now = dt.datetime.now(dt.timezone.utc)
    ca = certificates.issue_ca(appliance_id="smtp-relay-test-ca", now=now)
    server = certificates.issue_server(ca, names=[HOST], now=now)
    directory.mkdir(parents=True, exist_ok=True)
    files = RelayCertificate(directory / "ca.pem", directory / "relay.pem", directory / "relay-key.pem")
    files.ca_file.write_bytes(ca.cert_pem)
    files.cert_file.write_bytes(server.cert_pem)
    files.key_file.write_bytes(server.key_pem)
    return files


class _LoopbackController(Controller):
    """Binds port 0 and learns the port the kernel chose before aiosmtpd's readiness probe connects to it."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    handler: CollectingHandler

    @property
    def received(self) -> list[Received]:
        return self.handler.received


@contextlib.contextmanager
def running_smtp_server(*, ssl_context: ssl.SSLContext | None = None, handler: CollectingHandler | None = None,
                        **smtp_options: Any) -> Iterator[SmtpServer]:
    """Run aiosmtpd until the block ends; `ssl_context` makes it implicit TLS, `smtp_options` go to aiosmtpd's SMTP
    (tls_context, require_starttls, authenticator, auth_required, auth_require_tls)."""
    handler = handler or CollectingHandler()
    controller = _LoopbackController(handler, hostname=HOST, port=0, ssl_context=ssl_context,
                                     server_hostname="relay.test", **smtp_options)
    controller.start()
    try:
        yield SmtpServer(HOST, controller.port, handler)
    finally:
        controller.stop()


@contextlib.contextmanager
def starttls_relay(directory: Path) -> Iterator[tuple[SmtpServer, Path]]:
    """A relay that requires STARTTLS under its own CA, as an appliance's tests talk to: (server, CA file)."""
    cert = issue_relay_certificate(directory)
    with running_smtp_server(tls_context=cert.server_context(), require_starttls=True) as server:
        yield server, cert.ca_file


def unused_port() -> int:
    """A loopback port nothing listens on (bound then released), for a relay that is down."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]
