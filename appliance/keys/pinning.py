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
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization

from appliance.errors import ApplianceError, PinMismatch
from appliance.keys import certificates


class ClientError(ApplianceError):
    code = "client_error"


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
