"""Serving options an operator sets: their own certificate, header timeouts, Caddy kept out of the home directory."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import time

from appliance.keys import certificates
from tests.running import RunningAppliance, free_port, tls13_context
from tests.server.conftest import init_appliance


def test_operator_supplied_certificate_is_served_instead_of_the_appliance_one(tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    corporate_ca = certificates.issue_ca(appliance_id="corporate-pki", now=now)
    issued = certificates.issue_server(corporate_ca, names=["chat.corp.example", "127.0.0.1"], now=now)
    (tmp_path / "corp-ca.pem").write_bytes(corporate_ca.cert_pem)
    (tmp_path / "chat.pem").write_bytes(issued.cert_pem)
    (tmp_path / "chat.key").write_bytes(issued.key_pem)
    data_dir, key_dir = init_appliance(tmp_path)
    running = RunningAppliance(data_dir, key_dir, free_port(), env={
        "CHATSPARK_TLS_CERT_FILE": str(tmp_path / "chat.pem"),
        "CHATSPARK_TLS_KEY_FILE": str(tmp_path / "chat.key"),
        "CHATSPARK_PUBLIC_HOST": "chat.corp.example",
    }).start()
    try:
        context = tls13_context(tmp_path / "corp-ca.pem")
        with socket.create_connection(("127.0.0.1", running.port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="chat.corp.example") as tls:
                presented = tls.getpeercert(binary_form=True)
        assert certificates.fingerprint_der(presented) == certificates.fingerprint(issued.certificate)
        banner = running.stdout_path.read_text()
        assert "https://chat.corp.example:" in banner and "CA fingerprint" not in banner
        # The appliance CA does not vouch for the operator's certificate.
        with socket.create_connection(("127.0.0.1", running.port), timeout=5) as raw:
            try:
                tls13_context(running.ca_file).wrap_socket(raw, server_hostname="chat.corp.example")
                refused = False
            except ssl.SSLCertVerificationError:
                refused = True
        assert refused
    finally:
        running.stop()


def test_a_client_that_never_finishes_its_headers_is_cut_off(tmp_path):
    data_dir, key_dir = init_appliance(tmp_path)
    running = RunningAppliance(data_dir, key_dir, free_port(),
                               env={"CHATSPARK_READ_HEADER_TIMEOUT_SECONDS": "1"}).start()
    try:
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as raw:
            with tls13_context(running.ca_file).wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                started = time.monotonic()
                try:
                    leftover = tls.recv(4096)
                except (ConnectionResetError, ssl.SSLError):
                    leftover = b""
                waited = time.monotonic() - started
        assert b"alive" not in leftover
        assert waited < 9  # closed by the server's 1 s header timeout, not by this client's 10 s timeout
    finally:
        running.stop()


def test_caddy_writes_nothing_into_the_operators_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    data_dir, key_dir = init_appliance(tmp_path)
    running = RunningAppliance(data_dir, key_dir, free_port(),
                               env={"HOME": str(home), "XDG_DATA_HOME": "", "XDG_CONFIG_HOME": ""}).start()
    try:
        status, _, _ = running.get("/healthz")
        assert status == 200
    finally:
        assert running.stop() == 0
    assert list(home.iterdir()) == []
    assert (data_dir / "caddy").is_dir()


def test_logs_hold_no_key_material_or_passphrase(tmp_path):
    passphrase = "correct horse battery staple"
    (tmp_path / "pass.txt").write_text(passphrase + "\n")
    data_dir, key_dir = init_appliance(tmp_path, "--passphrase-file", str(tmp_path / "pass.txt"))
    running = RunningAppliance(data_dir, key_dir, free_port(),
                               extra_args=["--passphrase-file", str(tmp_path / "pass.txt")],
                               env={"CHATSPARK_LOG_LEVEL": "DEBUG"}).start()
    try:
        running.get("/healthz", headers={"Authorization": "Bearer csk_abc_supersecret"})
    finally:
        running.stop()
    logged = running.log_file.read_text() + running.stderr_path.read_text() + running.stdout_path.read_text()
    assert '"level": "DEBUG"' in logged or '"level": "INFO"' in logged
    for secret in (passphrase, "supersecret", "PRIVATE KEY"):
        assert secret not in logged
