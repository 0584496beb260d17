"""The pinned HTTPS client against a real TLS 1.3 server on loopback."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import socket
import ssl
import threading

import pytest

from appliance.errors import PinMismatch
from appliance.keys import certificates
from appliance.keys.pinning import ClientError, PinnedClient, is_listening

NOW = dt.datetime.now(dt.timezone.utc)


@pytest.fixture(scope="module")
def ca():
    return certificates.issue_ca(appliance_id="client-test", now=NOW)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the http.server API)
        self.server.paths.append(self.path)
        if self.path == "/ca.crt":
            body, kind = self.server.ca_pem, "application/x-pem-file"
        else:
            body, kind = json.dumps({"status": "ok"}).encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def serve(tmp_path):
    """Start an HTTPS server on 127.0.0.1 presenting `server` and serving `ca` at /ca.crt; return its URL."""
    running = []

    def start(ca: certificates.IssuedCertificate, server: certificates.IssuedCertificate):
        (tmp_path / "server.crt").write_bytes(server.cert_pem)
        (tmp_path / "server.key").write_bytes(server.key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        httpd.ca_pem, httpd.paths = ca.cert_pem, []
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        running.append((httpd, thread))
        return f"https://127.0.0.1:{httpd.server_address[1]}", httpd

    yield start
    for httpd, thread in running:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def server_cert(ca):
    return certificates.issue_server(ca, names=["localhost", "127.0.0.1"], now=NOW)


def test_client_with_the_pinned_ca_talks_to_the_appliance(ca, server_cert, serve):
    url, httpd = serve(ca, server_cert)

    client = PinnedClient(url, ca_fingerprint=certificates.fingerprint(ca.certificate), ca_pem=ca.cert_pem)
    response = client.get("/health")

    assert response.status == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["content-type"] == "application/json"
    assert httpd.paths == ["/health"]


def test_client_fetches_the_ca_and_trusts_it_only_when_the_pin_matches(ca, server_cert, serve):
    url, httpd = serve(ca, server_cert)
    pin = certificates.fingerprint(ca.certificate).replace(":", "").lower()

    client = PinnedClient(url, ca_fingerprint=pin)

    assert client.get("/health").json() == {"status": "ok"}
    assert httpd.paths == ["/ca.crt", "/health"]


def test_a_ca_that_does_not_match_the_pin_is_refused(ca, server_cert, serve):
    url, httpd = serve(ca, server_cert)
    other = certificates.issue_ca(appliance_id="impostor", now=NOW)

    with pytest.raises(PinMismatch, match="refusing to connect"):
        PinnedClient(url, ca_fingerprint=certificates.fingerprint(other.certificate))

    assert httpd.paths == ["/ca.crt"]


def test_a_server_certificate_not_issued_by_the_pinned_ca_is_refused(ca, serve):
    impostor_ca = certificates.issue_ca(appliance_id="impostor", now=NOW)
    url, httpd = serve(ca, certificates.issue_server(impostor_ca, names=["127.0.0.1"], now=NOW))
    client = PinnedClient(url, ca_fingerprint=certificates.fingerprint(ca.certificate), ca_pem=ca.cert_pem)

    with pytest.raises(PinMismatch, match="the pinned CA did not issue"):
        client.get("/health")

    assert httpd.paths == []


def test_the_host_name_is_checked(ca, serve):
    url, httpd = serve(ca, certificates.issue_server(ca, names=["chat.example.com"], now=NOW))
    client = PinnedClient(url, ca_fingerprint=certificates.fingerprint(ca.certificate), ca_pem=ca.cert_pem)

    with pytest.raises(PinMismatch):
        client.get("/health")

    assert httpd.paths == []


def test_only_https_urls_are_accepted(ca):
    with pytest.raises(ClientError, match="not an https:// URL"):
        PinnedClient("http://127.0.0.1:8443", ca_fingerprint=certificates.fingerprint(ca.certificate),
                     ca_pem=ca.cert_pem)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_appliance_raises_client_error(ca):
    port = _closed_port()
    client = PinnedClient(f"https://127.0.0.1:{port}", ca_fingerprint=certificates.fingerprint(ca.certificate),
                          ca_pem=ca.cert_pem, timeout=2)

    with pytest.raises(ClientError, match=f"cannot reach the appliance at 127.0.0.1:{port}"):
        client.get("/health")
    assert not is_listening("127.0.0.1", port)


def test_is_listening_sees_a_listening_socket():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert is_listening("127.0.0.1", sock.getsockname()[1])
