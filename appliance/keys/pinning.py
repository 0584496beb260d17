"""An HTTPS client of the appliance API that trusts only the appliance CA whose fingerprint it was given.

Used by the CLI (`chatspark status`) and the control panel. The CA certificate is either given (from the data
directory) or fetched from the appliance's `/ca.crt`; either way it is trusted only if its SHA-256 fingerprint equals
the pinned one, and then it is the only trust anchor: TLS 1.3, host name checked.
"""

from __future__ import annotations

import hmac
import http.client
import json
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization

from appliance.errors import ApplianceError, PinMismatch
from appliance.keys import certificates


class ClientError(ApplianceError):
    code = "client_error"


class TransferCut(ClientError):
    """A streamed answer that was cut off on purpose (the person cancelled its download)."""

    code = "cancelled"


class Transfer:
    """One streamed answer under way, which another thread may cut off: its connection is shut, so a worker waiting
    for the appliance's first byte stops waiting too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: http.client.HTTPSConnection | None = None
        self.cut = False

    def _attach(self, conn: http.client.HTTPSConnection | None) -> None:
        with self._lock:
            self._conn = conn

    def cut_off(self) -> None:
        with self._lock:
            self.cut = True
            sock = self._conn.sock if self._conn is not None else None
        if sock is not None:
            try:  # the plain socket's shutdown: the TLS layer is left to the thread that reads through it
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class PinnedClient:
    def __init__(self, base_url: str, *, ca_fingerprint: str, ca_pem: bytes | None = None,
                 timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "https" or not parts.hostname:
            raise ClientError(f"{base_url!r} is not an https:// URL")
        self.host = parts.hostname
        self.port = parts.port or 443
        self.timeout = timeout
        self._pin = certificates.normalise_fingerprint(ca_fingerprint)
        pem = ca_pem if ca_pem is not None else self._fetch_ca()
        trusted = self._check_pin(pem)
        self._context = ssl.create_default_context(cadata=trusted.decode("ascii"))
        self._context.minimum_version = ssl.TLSVersion.TLSv1_3
        self._context.check_hostname = True

    def _fetch_ca(self) -> bytes:
        return _unverified_ca(self.host, self.port, self.timeout)

    def _check_pin(self, pem: bytes) -> bytes:
        cert = certificates.load_certificate(pem)
        seen = certificates.fingerprint(cert)
        if not hmac.compare_digest(seen, self._pin):
            raise PinMismatch(
                f"the appliance at {self.host}:{self.port} presents CA fingerprint {seen}, not the pinned {self._pin}; "
                "refusing to connect"
            )
        return cert.public_bytes(serialization.Encoding.PEM)

    def request(self, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None,
                timeout: float | None = None) -> Response:
        """`timeout` (seconds) overrides the client's for this request: one known to be slow (a backup)."""
        payload = None if body is None else json.dumps(body).encode()
        all_headers = {"Accept": "application/json", **(headers or {})}
        if payload is not None:
            all_headers["Content-Type"] = "application/json"
        return _send(self.host, self.port, timeout or self.timeout, self._context, method, path, payload,
                     all_headers)

    def request_raw(self, method: str, path: str, payload: bytes, *, headers: dict[str, str],
                    timeout: float | None = None) -> Response:
        """A request whose body is given as bytes (a file upload, with its own Content-Type in `headers`)."""
        return _send(self.host, self.port, timeout or self.timeout, self._context, method, path, payload, headers)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def stream(self, method: str, path: str, *, receive: Callable[[bytes, int | None], None], body: Any = None,
               headers: dict[str, str] | None = None, timeout: float | None = None,
               transfer: Transfer | None = None, piece: int = 1 << 16) -> Response:
        """Like `request`, but a successful answer's body goes to `receive(piece, Content-Length or None)` a piece at
        a time and the Response returned has none; an error's body is read whole. A `transfer` cut off by another
        thread ends the call with TransferCut."""
        payload = None if body is None else json.dumps(body).encode()
        all_headers = {"Accept": "application/json", **(headers or {})}
        if payload is not None:
            all_headers["Content-Type"] = "application/json"
        transfer = transfer or Transfer()
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout or self.timeout, context=self._context)
        transfer._attach(conn)
        try:
            conn.connect()
            if transfer.cut:
                raise TransferCut("the download was cancelled")
            conn.request(method, path, body=payload, headers=all_headers)
            raw = conn.getresponse()
            found = {k.lower(): v for k, v in raw.getheaders()}
            if raw.status >= 400:
                return Response(raw.status, found, raw.read())
            length = found.get("content-length", "")
            total = int(length) if length.isdigit() else None
            while data := raw.read(piece):
                if transfer.cut:
                    break
                receive(data, total)
            if transfer.cut:
                raise TransferCut("the download was cancelled")
            return Response(raw.status, found, b"")
        except ssl.SSLCertVerificationError as exc:
            raise PinMismatch(f"{self.host}:{self.port} presented a certificate the pinned CA did not issue: "
                              f"{exc.verify_message}") from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if transfer.cut:
                raise TransferCut("the download was cancelled") from None
            raise ClientError(f"cannot reach the appliance at {self.host}:{self.port}: {exc}") from None
        finally:
            transfer._attach(None)
            conn.close()



def fetch_ca(base_url: str, *, timeout: float = 10.0) -> tuple[bytes, str]:
    """The CA certificate an appliance serves at /ca.crt and its SHA-256 fingerprint, for a person to compare with
    what `chatspark status` prints before pinning it (trust on first use). Nothing here is trusted yet."""
    parts = urlsplit(base_url)
    if parts.scheme != "https" or not parts.hostname:
        raise ClientError(f"{base_url!r} is not an https:// URL")
    host, port = parts.hostname, parts.port or 443
    pem = _unverified_ca(host, port, timeout)
    try:
        cert = certificates.load_certificate(pem)
    except (ValueError, ApplianceError):
        raise ClientError(f"{host}:{port} served something that is not a certificate at /ca.crt; is it a ChatSpark "
                          "appliance?") from None
    return cert.public_bytes(serialization.Encoding.PEM), certificates.fingerprint(cert)


def _unverified_ca(host: str, port: int, timeout: float) -> bytes:
    # Unverified on purpose: what comes back is trusted only after its fingerprint matches the pin.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    response = _send(host, port, timeout, context, "GET", "/ca.crt", None, {})
    if response.status != 200:
        raise ClientError(f"{host}:{port} did not serve its CA certificate (HTTP {response.status})")
    return response.body


def _send(host: str, port: int, timeout: float, context: ssl.SSLContext, method: str, path: str,
          payload: bytes | None, headers: dict[str, str]) -> Response:
    conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    try:
        conn.request(method, path, body=payload, headers=headers)
        raw = conn.getresponse()
        return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, raw.read())
    except ssl.SSLCertVerificationError as exc:
        raise PinMismatch(f"{host}:{port} presented a certificate the pinned CA did not issue: "
                          f"{exc.verify_message}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise ClientError(f"cannot reach the appliance at {host}:{port}: {exc}") from None
    finally:
        conn.close()


def is_listening(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
