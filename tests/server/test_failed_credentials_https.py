"""Guessing credentials over HTTPS: an address that keeps failing is refused everywhere for a while, and a flood of
made-up keys writes a few audit rows and one summary, not a row each."""

from __future__ import annotations

import http.client
import json

from appliance.audit.keys import audit_log
from appliance.bootstrap import open_appliance
from appliance.clock import SystemClock
from appliance.storage.layout import Layout
from tests.running import RunningAppliance, free_port, tls13_context
from tests.server.conftest import init_appliance

OPERATOR = ("operator@example.com", "correct horse battery staple for tests")
MADE_UP = "csk_{:012x}_madeupsecretmadeupsecretmadeupsecretmadeupx"


def _appliance(tmp_path, **env: str) -> RunningAppliance:
    (tmp_path / "operator.txt").write_text(OPERATOR[1])
    data_dir, key_dir = init_appliance(tmp_path, "--operator-email", OPERATOR[0],
                                       "--password-file", str(tmp_path / "operator.txt"))
    return RunningAppliance(data_dir, key_dir, free_port(), env={
        "CHATSPARK_ARGON2_TIME_COST": "1", "CHATSPARK_ARGON2_MEMORY_KIB": "1024", "CHATSPARK_ARGON2_PARALLELISM": "1",
        **env}).start()


def _guesses(running: RunningAppliance, count: int) -> list[int]:
    """`count` requests with made-up API keys on one keep-alive connection; their statuses."""
    conn = http.client.HTTPSConnection("localhost", running.port, context=tls13_context(running.ca_file), timeout=10)
    statuses = []
    try:
        for n in range(count):
            conn.request("GET", "/api/v1/workspaces", headers={"Authorization": f"Bearer {MADE_UP.format(n)}"})
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
    finally:
        conn.close()
    return statuses


def test_an_address_that_spends_its_failed_credentials_is_refused_everywhere_but_health_checks(tmp_path):
    running = _appliance(tmp_path, CHATSPARK_FAILED_CREDENTIALS_PER_MINUTE="5")
    try:
        assert _guesses(running, 5) == [401] * 5

        status, body = running.api("POST", "/api/v1/auth/login", {"email": OPERATOR[0], "password": OPERATOR[1]})
        assert status == 429 and body["error"] == "too_many_attempts"
        refused_page = running.get("/login")
        assert refused_page[0] == 429 and 1 <= int(refused_page[1]["retry-after"]) <= 61
        assert running.get("/healthz")[0] == 200
        assert running.get("/readyz")[0] == 200
        assert running.get("/widget.js")[0] == 200
    finally:
        running.stop()


def test_wrong_passwords_count_as_failed_credentials_too(tmp_path):
    running = _appliance(tmp_path, CHATSPARK_FAILED_CREDENTIALS_PER_MINUTE="3")
    try:
        for _ in range(3):
            status, _ = running.api("POST", "/api/v1/auth/login", {"email": "x@example.com", "password": "nope" * 4})
            assert status == 401
        status, body = running.api("GET", "/api/v1/workspaces", token="csk_0000000000000000_" + "x" * 32)
        assert status == 429, body
    finally:
        running.stop()


def test_thousands_of_made_up_keys_write_a_few_audit_rows_and_one_summary(tmp_path):
    running = _appliance(tmp_path)
    try:
        assert set(_guesses(running, 3000)) == {401}
    finally:
        assert running.stop() == 0
    appliance = open_appliance(Layout.of(running.data_dir, running.key_dir), clock=SystemClock())
    try:
        log = audit_log(appliance.control_db, keystore=appliance.keystore, clock=appliance.clock)
        refused = log.events(action="api_key.refused", limit=10_000)
        summaries = log.events(action="api_key.refused.repeated", limit=10_000)
        assert log.verify().ok
    finally:
        appliance.close()
    assert len(refused) == 10 + len(summaries)  # the prefix matches the summaries as well
    [summary] = summaries
    assert summary.details["repeated"] == 2990
    assert summary.client_address == "127.0.0.1"
    assert len(summary.details["sample_actor_ids"]) == 5
    assert json.dumps(summary.details).count("madeupsecret") == 0


def _post(running: RunningAppliance, path: str, body: bytes, headers: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPSConnection("localhost", running.port, context=tls13_context(running.ca_file), timeout=30)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_over_https_an_anonymous_body_is_refused_before_it_is_read_and_hostile_json_is_a_400(tmp_path):
    running = _appliance(tmp_path)
    try:
        token = running.api("POST", "/api/v1/auth/login", {"email": OPERATOR[0], "password": OPERATOR[1]})[1]["token"]
        workspace_id = running.api("POST", "/api/v1/workspaces", {"name": "Acme"}, token=token)[1]["workspace"]["id"]
        big = json.dumps({"kind": "text", "title": "T", "text": "x" * 20_000_000}).encode()

        status, raw = _post(running, f"/api/v1/workspaces/{workspace_id}/sources", big)
        assert status == 401 and len(raw) < 500

        status, raw = _post(running, "/api/v1/auth/login", b'{"email": "\\ud800@example.com", "password": "x"}')
        assert status == 400 and b"email: is not valid Unicode text" in raw
        status, raw = _post(running, "/api/v1/auth/login", b'{"email": ' + b"[" * 1000 + b"]" * 1000 + b"}")
        assert status == 400 and b"nested deeper than 32 levels" in raw
        status, raw = _post(running, f"/api/v1/workspaces/{workspace_id}/agents",
                            json.dumps({"name": "x" * 300_000}).encode(), {"Authorization": f"Bearer {token}"})
        assert status == 400 and len(raw) < 500
        status, raw = _post(running, f"/api/v1/workspaces/{workspace_id}/conversations/delete",
                            json.dumps({"ids": [10 ** 30]}).encode(), {"Authorization": f"Bearer {token}"})
        assert status == 400, raw
    finally:
        running.stop()
