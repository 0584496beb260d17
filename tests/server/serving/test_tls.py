"""The HTTPS edge as a client meets it: TLS 1.3 only, no plain HTTP, idle connections, forwarded headers, pinning."""

from __future__ import annotations

import http.client
import socket
import ssl
import time

import pytest

from appliance.errors import PinMismatch
from appliance.keys import certificates
from appliance.keys.pinning import PinnedClient
from tests.running import tls13_context


def tls12_only_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


@pytest.mark.parametrize("address, server_name", [("127.0.0.1", None), ("127.0.0.1", "localhost"),
                                                  ("localhost", "localhost")])
def test_tls12_client_is_refused(served, address, server_name):
    with socket.create_connection((address, served.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION|protocol version"):
            tls12_only_context().wrap_socket(raw, server_hostname=server_name)


@pytest.mark.parametrize("address, server_name", [("127.0.0.1", "127.0.0.1"), ("localhost", "localhost"),
                                                  ("127.0.0.1", "appliance.test")])
def test_tls13_client_is_served_and_verifies_the_certificate(served, address, server_name):
    context = tls13_context(served.ca_file)
    with socket.create_connection((address, served.port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            assert tls.version() == "TLSv1.3"
            tls.sendall(f"GET /healthz HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode())
            reply = b""
            while chunk := tls.recv(4096):
                reply += chunk
    assert reply.startswith(b"HTTP/1.1 200")
    assert b'"status":"alive"' in reply.replace(b" ", b"")


def test_client_without_sni_gets_the_default_certificate(served):
    context = tls13_context(served.ca_file)
    context.check_hostname = False
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=None) as tls:
            assert tls.version() == "TLSv1.3"


def test_plain_http_to_the_tls_port_gets_no_page(served):
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        reply = b""
        try:
            while chunk := raw.recv(4096):
                reply += chunk
        except ConnectionResetError:
            pass
    assert b"alive" not in reply
    assert not reply.startswith(b"HTTP/1.1 2") and not reply.startswith(b"HTTP/1.0 2")


def test_redirect_port_only_redirects_to_https(served):
    conn = http.client.HTTPConnection("127.0.0.1", served.redirect_port, timeout=5)
    conn.request("GET", "/readyz?x=1", headers={"Host": "localhost"})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == 308
    assert response.getheader("Location") == f"https://localhost:{served.port}/readyz?x=1"
    assert b"ready" not in body


def test_idle_connections_without_client_hello_do_not_delay_a_request(served):
    status, _, _ = served.get("/healthz")  # warm up
    started = time.perf_counter()
    served.get("/healthz")
    baseline = time.perf_counter() - started
    idle = [socket.create_connection(("127.0.0.1", served.port), timeout=5) for _ in range(100)]
    try:
        started = time.perf_counter()
        status, _, body = served.get("/healthz", timeout=5)
        loaded = time.perf_counter() - started
    finally:
        for sock in idle:
            sock.close()
    assert status == 200 and b"alive" in body
    # A server that serialises handshakes would hang here until the client's 5 s timeout.
    assert loaded < max(1.0, baseline * 50)


def test_client_sent_x_forwarded_for_is_not_the_client_address(served):
    marker = f"/healthz?probe={time.time_ns()}"
    status, _, _ = served.get(marker, headers={"X-Forwarded-For": "203.0.113.77", "X-Real-IP": "203.0.113.78",
                                               "Forwarded": "for=203.0.113.79"})
    assert status == 200
    deadline = time.monotonic() + 5
    entry = None
    while entry is None and time.monotonic() < deadline:
        entry = next((e for e in served.log_entries() if e.get("path") == "/healthz" and e.get("logger") ==
                      "chatspark.access" and e["ts"]), None)
        time.sleep(0.05)
    entries = [e for e in served.log_entries() if e.get("logger") == "chatspark.access"]
    assert entries, "the app logged no request"
    assert {e["client"] for e in entries} == {"127.0.0.1"}
    assert "203.0.113" not in served.log_file.read_text()


def test_responses_through_caddy_carry_one_hsts_header_and_no_server_banner(served):
    status, headers, _ = served.get("/readyz")
    assert status == 200
    assert headers["strict-transport-security"].startswith("max-age=")
    assert int(headers["strict-transport-security"].split("=")[1].split(";")[0]) >= 31_536_000
    assert "server" not in headers
    assert headers["cache-control"] == "no-store"


def test_oversized_request_body_is_refused_by_the_proxy(served):
    conn = http.client.HTTPSConnection("localhost", served.port, context=tls13_context(served.ca_file), timeout=20)
    try:
        # Announce a body over the limit and wait, as curl does, for the server's verdict before sending it.
        conn.putrequest("POST", "/healthz")
        conn.putheader("Content-Length", str(26_214_400 + 1))
        conn.putheader("Expect", "100-continue")
        conn.endheaders()
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 413


def test_pinned_client_connects_with_the_right_fingerprint(served):
    pin = certificates.fingerprint(certificates.load_certificate(served.ca_file.read_bytes()))
    client = PinnedClient(f"https://localhost:{served.port}", ca_fingerprint=pin)
    response = client.get("/healthz")
    assert response.status == 200
    assert response.json() == {"status": "alive"}


def test_pinned_client_refuses_another_fingerprint(served):
    wrong = "AA:" * 31 + "AA"
    with pytest.raises(PinMismatch, match="refusing to connect"):
        PinnedClient(f"https://localhost:{served.port}", ca_fingerprint=wrong)


def test_pinned_client_refuses_a_server_whose_certificate_another_ca_issued(served, tmp_path, clock):
    other_ca = certificates.issue_ca(appliance_id="other-appliance", now=clock.now())
    pin = certificates.fingerprint(other_ca.certificate)
    client = PinnedClient(f"https://localhost:{served.port}", ca_fingerprint=pin, ca_pem=other_ca.cert_pem)
    with pytest.raises(PinMismatch, match="did not issue"):
        client.get("/healthz")


def test_serving_these_requests_logged_no_error(served):
    errors = [e for e in served.log_entries() if e["level"] == "ERROR"]
    assert errors == []
