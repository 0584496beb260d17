"""The compliance evidence on a real appliance's files: broken controls (a key directory others can read, no verified
backup, an operator without a second factor, a key that never expires, no listener) show as failed with what was
found, and pass once put right; the page is self-contained and puts failures first."""

from __future__ import annotations

import socket

from appliance.monitoring import compliance
from appliance.monitoring.compliance_report import render

PASSWORD = "a long enough passphrase for tests"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _gather(services, settings):
    return compliance.gather(services.appliance, settings, audit=services.audit,
                             listener=("127.0.0.1", _closed_port()))


def _by_id(evidence) -> dict:
    return {c.id: c for c in evidence.controls}


def test_broken_controls_fail_with_what_was_found_and_pass_once_put_right(services, settings):
    operator = services.users.create_operator(email="olga@example.com", password=PASSWORD)
    workspace = services.workspaces.create(name="Acme", owner_id=operator.id, actor_id=operator.id,
                                           client_address=None)
    services.api_keys.create(workspace.id, name="Forever", scopes=["chat"], expires_in_days="never",
                             actor_id=operator.id, client_address=None)
    key_dir = services.appliance.layout.key_dir
    key_dir.chmod(0o755)
    try:
        controls = _by_id(_gather(services, settings))
    finally:
        key_dir.chmod(0o700)
    assert controls["keys_apart"].status == compliance.FAIL
    assert any("0755" in line for line in controls["keys_apart"].evidence)
    assert controls["tested_backups"].status == compliance.FAIL
    assert controls["second_factor"].status == compliance.FAIL
    assert any("olga@example.com" in line for line in controls["second_factor"].evidence)
    assert controls["api_key_expiry"].status == compliance.WARN
    assert controls["tls13_only"].status == compliance.FAIL  # nothing listens: failed, never left out
    assert controls["encrypted_at_rest"].status == compliance.PASS
    assert controls["workspace_isolation"].status == compliance.PASS
    assert controls["audit_log"].status == compliance.PASS
    assert controls["deletion_after_cancellation"].status == compliance.PASS

    backup = services.backups.create()
    services.backups.verify(backup.id)
    fixed = _by_id(_gather(services, settings))
    assert fixed["keys_apart"].status == fixed["tested_backups"].status == compliance.PASS


def test_a_tampered_audit_log_and_a_plain_database_fail(services, settings):
    db = services.appliance.control_db
    services.users.create_operator(email="olga@example.com", password=PASSWORD)
    with db.transaction() as conn:
        conn.execute("UPDATE audit_log SET action = 'nothing.here' WHERE seq = (SELECT min(seq) FROM audit_log)")
    stray = services.appliance.layout.workspaces_dir / "stray.db"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"SQLite format 3\x00" + bytes(100))
    controls = _by_id(_gather(services, settings))
    assert controls["audit_log"].status == compliance.FAIL
    assert controls["encrypted_at_rest"].status == compliance.FAIL and "stray.db" in controls[
        "encrypted_at_rest"].evidence[0]


def test_the_page_is_self_contained_and_lists_failures_first(services, settings):
    page = render(_gather(services, settings))
    assert page.startswith("<!doctype html>") and "<script" not in page and "http://" not in page
    assert "https://" not in page.split("</style>")[0]
    assert page.index("FAILED") < page.index("passed</td>")
    assert "Data in transit is protected by TLS 1.3 only" in page
