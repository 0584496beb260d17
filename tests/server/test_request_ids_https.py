"""Request ids through the real stack: each response names its id (X-Request-Id), every line logged while answering
it carries the id, and the line for an audit row written meanwhile gives the row's seq, so a log line leads to its
audit row; with log_output = syslog the same lines reach a syslog server too."""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.server.conftest import serve_with_operator

OPERATOR = ("operator@example.com", "correct horse battery staple for request ids")


@pytest.fixture(scope="module")
def syslog_server():
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(0.5)
    yield server
    server.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory, syslog_server):
    address = f"127.0.0.1:{syslog_server.getsockname()[1]}"
    running = serve_with_operator(tmp_path_factory.mktemp("request-ids"), OPERATOR, env={
        "CHATSPARK_LOG_OUTPUT": "syslog", "CHATSPARK_LOG_SYSLOG_ADDRESS": address})
    yield running
    running.stop()


def _login(served) -> tuple[str, str]:
    import http.client

    from tests.running import tls13_context

    conn = http.client.HTTPSConnection("localhost", served.port, context=tls13_context(served.ca_file), timeout=10)
    try:
        conn.request("POST", "/api/v1/auth/login", body=json.dumps({"email": OPERATOR[0], "password": OPERATOR[1]}),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        body = json.loads(response.read())
        assert response.status == 200, body
        return response.getheader("X-Request-Id"), body["token"]
    finally:
        conn.close()


def _lines_of(served, request_id: str) -> list[dict]:
    deadline = time.monotonic() + 10
    while True:
        lines = [e for e in served.log_entries() if e.get("request_id") == request_id]
        if any(e.get("logger") == "chatspark.access" for e in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_a_log_line_leads_to_its_audit_row_through_the_request_id(served):
    request_id, token = _login(served)
    assert request_id and len(request_id) == 16
    lines = _lines_of(served, request_id)
    [access] = [e for e in lines if e.get("logger") == "chatspark.access"]
    assert access["path"] == "/api/v1/auth/login" and access["status"] == 200
    [audited] = [e for e in lines if "audit_seq" in e]
    status, audit = served.api("GET", "/api/v1/audit?action=auth.login&order=newest&limit=5", token=token)
    assert status == 200, audit
    [row] = [e for e in audit["events"] if e["seq"] == audited["audit_seq"]]
    assert row["action"] == "auth.login" and row["outcome"] == "success" and audited["audit_action"] == "auth.login"
    # Another request, another id: the lines never mix.
    other, _ = _login(served)
    assert other != request_id and all(e["request_id"] == other for e in _lines_of(served, other))


def test_with_log_output_syslog_the_same_lines_reach_the_syslog_server(served, syslog_server):
    request_id, _ = _login(served)
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(request_id in line and '"chatspark.access"' in line
                                                  for line in seen):
        try:
            seen.append(syslog_server.recv(65536).decode())
        except socket.timeout:
            continue
    [line] = [line for line in seen if request_id in line and '"chatspark.access"' in line]
    entry = json.loads(line.split("chatspark: ", 1)[1].rstrip("\x00"))
    assert entry["path"] == "/api/v1/auth/login" and entry["request_id"] == request_id
