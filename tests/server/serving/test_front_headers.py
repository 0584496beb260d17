"""Every response through the real front, whoever made it (the app, Caddy's own answers, the demo site, the redirect
port), carries the app's security headers and names no software."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from server.security_headers import BANNERS, fixed_headers
from tests.running import free_port, tls13_context
from tests.server.demo_appliance import start_demo
from tests.waiting import wait_for

HSTS_MAX_AGE = 63_072_000
READ_BODY_TIMEOUT = 2


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    redirect_port = free_port()
    demo = start_demo(tmp_path_factory.mktemp("front-headers"), env={
        "CHATSPARK_HTTP_REDIRECT_PORT": str(redirect_port),
        "CHATSPARK_READ_BODY_TIMEOUT_SECONDS": str(READ_BODY_TIMEOUT),
        "CHATSPARK_MAX_REQUEST_BODY_BYTES": "65536",
    })
    demo.redirect_port = redirect_port
    yield demo
    demo.running.stop()


def exchange(port: int, request: bytes, *, ca_file: Path | None, trickle: bool = False) -> tuple[int, list, bytes]:
    """Send `request` raw (over TLS 1.3 when a CA is given) and read the answer; status, headers in order, body."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=15)
    sock = tls13_context(ca_file).wrap_socket(raw, server_hostname="localhost") if ca_file else raw
    with sock:
        sock.sendall(request)
        reply = b""
        while b"\r\n\r\n" not in reply:
            if trickle:
                sock.sendall(b" ")  # a body that comes a byte at a time, slower than the read timeout allows
            try:
                sock.settimeout(1.0 if trickle else 15)
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:]]
    return int(lines[0].split()[1]), [(name.lower(), value) for name, value in headers], body


def assert_front_headers(headers: list[tuple[str, str]]) -> None:
    names = [name for name, _ in headers]
    for name, value in fixed_headers(hsts_max_age=HSTS_MAX_AGE).items():
        assert names.count(name.lower()) == 1, f"{name} appears {names.count(name.lower())} times in {headers}"
        assert dict(headers)[name.lower()] == value
    for name in ("content-security-policy", "cache-control"):
        assert names.count(name) == 1, f"{name} appears {names.count(name)} times in {headers}"
    for banner in BANNERS:
        assert banner.lower() not in names, f"{banner} sent: {headers}"


def get(path: str, host: str = "localhost") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()


@pytest.mark.parametrize("request_bytes, status", [
    (get("/readyz"), 200),
    (get("/"), 200),
    (get("/widget.js"), 200),
    (get("/api/v1/me"), 401),
    (get("/no/such/page"), 404),
], ids=["app-json", "app-page", "app-script", "app-refusal", "app-not-found"])
def test_responses_the_app_makes_carry_the_security_headers_once_and_no_banner(front, request_bytes, status):
    answered, headers, _ = exchange(front.running.port, request_bytes, ca_file=front.running.ca_file)

    assert answered == status
    assert_front_headers(headers)


def test_a_body_over_the_limit_gets_caddys_413_with_the_security_headers(front):
    request = (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               b"Content-Length: 65537\r\nConnection: close\r\n\r\n")
    status, headers, body = exchange(front.running.port, request, ca_file=front.running.ca_file)

    assert status == 413 and b"request_entity_too_large" in body
    assert_front_headers(headers)


def test_a_chunked_body_that_grows_past_the_limit_is_refused_with_the_security_headers(front):
    chunk = b"a" * 16384
    request = (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
               + (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n") * 5 + b"0\r\n\r\n")
    status, headers, body = exchange(front.running.port, request, ca_file=front.running.ca_file)

    assert status == 413, body
    assert_front_headers(headers)


def test_a_body_slower_than_the_read_timeout_gets_caddys_408_with_the_security_headers(front):
    request = (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               b"Content-Length: 60000\r\n\r\n")
    started = time.monotonic()
    status, headers, body = exchange(front.running.port, request, ca_file=front.running.ca_file, trickle=True)

    assert status == 408 and b"request_timeout" in body
    assert time.monotonic() - started < READ_BODY_TIMEOUT + 10
    assert_front_headers(headers)


@pytest.mark.parametrize("request_bytes, status", [
    (get("/"), 200),
    (get("/intranet.css"), 200),
    (get("/no-such-page.html"), 404),
    (b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 405),
], ids=["page", "stylesheet", "not-found", "wrong-method"])
def test_demo_site_responses_carry_the_security_headers_and_no_banner(front, request_bytes, status):
    answered, headers, _ = exchange(front.site_port, request_bytes, ca_file=front.running.ca_file)

    assert answered == status
    assert_front_headers(headers)


def test_the_demo_page_policy_lets_only_the_appliance_serve_its_script(front):
    _, headers, _ = exchange(front.site_port, get("/"), ca_file=front.running.ca_file)
    policy = dict(headers)["content-security-policy"]

    assert f"script-src 'self' {front.appliance_origin}" in policy
    assert f"connect-src 'self' {front.appliance_origin}" in policy
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy


def test_the_redirect_port_answers_with_the_security_headers_and_no_banner(front):
    status, headers, _ = exchange(front.redirect_port, get("/readyz"), ca_file=None)

    assert status == 308 and dict(headers)["location"] == f"https://localhost:{front.running.port}/readyz"
    assert_front_headers(headers)


def test_caddys_502_while_the_app_cannot_be_reached_carries_the_security_headers(own_appliance):
    running = own_appliance.start()
    [serving] = [e for e in running.log_entries() if e["msg"] == "serving"]
    # Caddy dials the app's socket by path for each new connection: without it, it must answer itself.
    Path(serving["app_socket"]).unlink()

    status, headers, body = exchange(running.port, get("/readyz"), ca_file=running.ca_file)

    assert status == 502 and b"proxy_error" in body
    assert_front_headers(headers)


def test_no_response_names_the_software_even_to_a_client_that_asks_oddly(front):
    odd = [b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
           b"HEAD /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
           get("/readyz", host="elsewhere.example")]
    for request in odd:
        _, headers, _ = exchange(front.running.port, request, ca_file=front.running.ca_file)
        assert not {banner.lower() for banner in BANNERS} & {name for name, _ in headers}, headers


def test_the_front_logged_no_error(front):
    wait_for(lambda: front.running.log_file.exists())
    assert [e for e in front.running.log_entries() if e["level"] == "ERROR"] == []


def test_plain_http_on_the_tls_port_learns_nothing_about_the_software(front):
    status, headers, body = exchange(front.running.port, get("/readyz"), ca_file=None)

    assert status == 400
    assert not {banner.lower() for banner in BANNERS} & {name for name, _ in headers}
    assert b"Caddy" not in body and b"ready" not in body


@pytest.mark.parametrize("path, upload, status", [("/readyz", 0, 200), ("/no/such/page", 0, 404),
                                                  ("/api/v1/auth/login", 70_000, 413)],
                         ids=["app", "app-not-found", "caddy-too-large"])
def test_http2_responses_carry_the_same_headers(front, tmp_path, path, upload, status):
    command = ["curl", "--http2", "--silent", "--show-error", "--cacert", str(front.running.ca_file),
               "--dump-header", "-", "--output", "/dev/null", f"https://localhost:{front.running.port}{path}"]
    if upload:
        (tmp_path / "body").write_bytes(b"a" * upload)
        command += ["--data-binary", f"@{tmp_path / 'body'}", "--header", "Content-Type: application/json"]
    # Not checked: curl may still be uploading when Caddy refuses the body and ends the stream.
    dumped = subprocess.run(command, capture_output=True, timeout=30).stdout.decode("latin-1")

    head = dumped.strip().split("\r\n")
    assert head[0].split()[:2] == ["HTTP/2", str(status)]
    assert_front_headers([tuple(part.strip() for part in line.split(":", 1)) for line in head[1:]])
