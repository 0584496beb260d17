"""`serve` as a supervisor: Caddy restarted when it dies, nothing left behind when serve stops or is killed."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from appliance.keys import certificates
from tests.running import chatspark
from tests.waiting import wait_for


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still has a pid; it is gone for our purpose.
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().split(")")[-1].split()[0] != "Z"


def test_killed_caddy_is_back_within_seconds(own_appliance):
    running = own_appliance.start()
    [first] = running.caddy_pids()
    os.kill(first, signal.SIGKILL)

    new_pid = wait_for(lambda: [p for p in running.caddy_pids() if p != first])
    assert not alive(first)
    status, _, body = wait_for(lambda: _healthz_or_none(running))
    assert status == 200 and b"alive" in body
    assert new_pid
    restart_logs = [e for e in running.log_entries() if "Caddy exited" in e["msg"]]
    assert restart_logs and restart_logs[0]["level"] == "ERROR" and restart_logs[0]["exit_code"] == -9


def _healthz_or_none(running):
    try:
        return running.get("/healthz", timeout=2)
    except OSError:
        return None


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopping_serve_leaves_no_caddy_and_no_socket(own_appliance, signum):
    running = own_appliance.start()
    [caddy] = running.caddy_pids()
    [serving] = [e for e in running.log_entries() if e["msg"] == "serving"]
    app_socket = Path(serving["app_socket"])
    assert app_socket.is_socket() and app_socket.stat().st_mode & 0o777 == 0o600
    assert app_socket.parent.stat().st_mode & 0o777 == 0o700
    running.process.send_signal(signum)

    assert running.process.wait(20) == 0
    assert not alive(caddy)
    assert not app_socket.parent.exists()
    assert not any(e["level"] == "ERROR" for e in running.log_entries())
    assert "stopped" in [e["msg"] for e in running.log_entries()]


def test_caddy_dies_with_a_killed_serve(own_appliance):
    running = own_appliance.start()
    [caddy] = running.caddy_pids()
    running.process.kill()
    running.process.wait(10)
    wait_for(lambda: not alive(caddy), timeout=10)


def test_a_wrapped_key_appliance_serves_with_its_passphrase_file(tmp_path, own_appliance):
    passphrase = tmp_path / "passphrase.txt"
    passphrase.write_text("correct horse battery staple\n")
    data_dir, key_dir = tmp_path / "wrapped-data", tmp_path / "wrapped-keys"
    result = chatspark("init", "--data-dir", str(data_dir), "--key-dir", str(key_dir),
                       "--passphrase-file", str(passphrase))
    assert result.returncode == 0, result.stderr
    own_appliance.data_dir, own_appliance.key_dir = data_dir, key_dir
    own_appliance.extra_args = ["--passphrase-file", str(passphrase)]
    running = own_appliance.start()
    status, _, body = running.get("/readyz")
    assert status == 200 and b"ready" in body


def test_status_of_a_serving_appliance_reports_it_answers(own_appliance):
    running = own_appliance.start()
    result = chatspark("status", "--data-dir", str(running.data_dir), "--key-dir", str(running.key_dir),
                       "--port", str(running.port))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "answers: ready (HTTP 200)" in result.stdout
    fingerprint = certificates.fingerprint(certificates.load_certificate(running.ca_file.read_bytes()))
    assert fingerprint in result.stdout


def test_status_json_gives_the_overview_facts_and_whether_the_service_answers(own_appliance):
    running = own_appliance.start()
    result = chatspark("status", "--json", "--data-dir", str(running.data_dir), "--key-dir", str(running.key_dir),
                       "--port", str(running.port))
    assert result.returncode == 0, result.stdout + result.stderr
    found = json.loads(result.stdout)
    assert found["service"]["answers"] is True and found["service"]["status"] == "ready"
    assert found["ca_fingerprint"] == certificates.fingerprint(
        certificates.load_certificate(running.ca_file.read_bytes()))
    assert {"version", "databases", "disk", "certificate", "mail", "jobs", "backups", "audit"} <= set(found)
    assert {job["id"] for job in found["jobs"]} >= {"backup", "send_outbox", "verify_audit_log"}
