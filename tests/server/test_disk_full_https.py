"""A full data disk, through the real stack: writes answer 507 and keep nothing half-made, /readyz says not ready
and why, and everything works again once space is freed, without a restart."""

from __future__ import annotations

import http.client
import uuid

import pytest

from tests.running import RunningAppliance, free_port, tls13_context
from tests.server.conftest import init_appliance
from tests.small_disk import fill, small_disk
from tests.waiting import wait_for

OPERATOR = ("operator@example.com", "correct horse battery staple for tests")


@pytest.fixture
def full(tmp_path):
    """A running appliance whose data directory is a 32 MiB disk, a session on it, and its workspace."""
    with small_disk(tmp_path / "data") as disk:
        (tmp_path / "operator.txt").write_text(OPERATOR[1])
        data_dir, key_dir = init_appliance(tmp_path, "--operator-email", OPERATOR[0],
                                           "--password-file", str(tmp_path / "operator.txt"))
        assert data_dir == disk
        running = RunningAppliance(data_dir, key_dir, free_port(), env={
            "CHATSPARK_MIN_FREE_DISK_BYTES": str(2 << 20), "CHATSPARK_ARGON2_TIME_COST": "1",
            "CHATSPARK_ARGON2_MEMORY_KIB": "1024", "CHATSPARK_ARGON2_PARALLELISM": "1"}).start()
        try:
            token = _login(running)[1]["token"]
            status, body = running.api("POST", "/api/v1/workspaces", {"name": "Acme"}, token=token)
            assert status == 201, body
            yield running, token, body["workspace"]["id"]
        finally:
            running.stop()


def _login(running):
    return running.api("POST", "/api/v1/auth/login", {"email": OPERATOR[0], "password": OPERATOR[1]})


def _upload(running, token: str, workspace_id: str, data: bytes) -> tuple[int, bytes]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPSConnection("localhost", running.port, context=tls13_context(running.ca_file), timeout=20)
    try:
        conn.request("POST", f"/api/v1/workspaces/{workspace_id}/sources/upload", body=body,
                     headers={"Authorization": f"Bearer {token}",
                              "Content-Type": f"multipart/form-data; boundary={boundary}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_a_full_disk_refuses_writes_with_507_keeps_nothing_and_recovers_when_space_is_freed(full):
    running, token, workspace_id = full
    filler = fill(running.data_dir)

    status, body = running.api("GET", "/readyz")
    assert status == 503 and body["status"] == "not_ready"
    assert "MiB free" in body["checks"]["disk"]

    status, body = _login(running)
    assert status == 507 and body["error"] == "disk_full", body
    assert "full" in body["message"] and "nothing was saved" in body["message"]
    status, raw = _upload(running, token, workspace_id, b"Parking is in the north garage.\n" * 20_000)
    assert status == 507, raw
    status, body = running.api("POST", f"/api/v1/workspaces/{workspace_id}/sources",
                               {"kind": "text", "title": "Leave", "text": "Leave is 28 days. " * 5000}, token=token)
    assert status == 507, body

    filler.unlink()
    wait_for(lambda: running.api("GET", "/readyz")[0] == 200, timeout=10)
    assert _login(running)[0] == 200
    status, body = running.api("GET", f"/api/v1/workspaces/{workspace_id}/sources", token=token)
    assert status == 200 and body["sources"] == []  # the refused writes left nothing behind
    status, raw = _upload(running, token, workspace_id, b"Parking is in the north garage.\n" * 100)
    assert status == 202, raw


def test_a_disk_below_its_reserve_makes_the_appliance_not_ready_before_writes_fail(full):
    running, token, _ = full
    filler = fill(running.data_dir, leave=1 << 20)

    status, body = running.api("GET", "/readyz")
    assert status == 503 and "less than the 2 MiB it needs" in body["checks"]["disk"]
    assert _login(running)[0] == 200  # a small write still fits: only readiness warns

    filler.unlink()
    assert running.api("GET", "/readyz")[0] == 200
