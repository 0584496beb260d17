"""The appliance CA's names through the real stack: the served certificate verifies for loopback, the host name and
the SANs under a CA constrained to them; a name outside needs a new CA, made only when the operator says so."""

from __future__ import annotations

import socket
import ssl

import pytest

from appliance.bootstrap import CA_KEY, PREVIOUS_CA_FILE, SERVER_KEY, open_appliance
from appliance.clock import SystemClock
from appliance.keys import certificates
from appliance.storage.layout import Layout
from tests.running import RunningAppliance, chatspark, free_port, tls13_context
from tests.server.conftest import init_appliance


def presented(running: RunningAppliance, server_name: str, ca_file=None) -> bytes:
    """The certificate the appliance presents to a client that trusts `ca_file` (its CA) and asks for
    `server_name`; ssl.SSLCertVerificationError if the client would refuse it."""
    with socket.create_connection(("127.0.0.1", running.port), timeout=5) as raw:
        with tls13_context(ca_file or running.ca_file).wrap_socket(raw, server_hostname=server_name) as tls:
            return tls.getpeercert(binary_form=True)


def tls_files(running: RunningAppliance) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((running.data_dir / "tls").iterdir())}


@pytest.fixture
def with_san(tmp_path):
    """An initialised appliance (`--san appliance.test`), started by the test with the settings it needs."""
    data_dir, key_dir = init_appliance(tmp_path, "--san", "appliance.test")
    running = RunningAppliance(data_dir, key_dir, free_port())
    yield running
    if running.process is not None and running.process.poll() is None:
        running.stop()


@pytest.mark.parametrize("server_name", ["localhost", "127.0.0.1", "::1", "appliance.test", socket.gethostname()])
def test_the_served_certificate_verifies_for_loopback_the_host_name_and_the_sans(served, server_name):
    der = presented(served, server_name)

    ca = certificates.load_certificate(served.ca_file.read_bytes())
    assert certificates.is_constrained(ca)
    served_names = certificates.names_of(certificates.load_certificate(ssl.DER_cert_to_PEM_cert(der).encode()))
    assert certificates.constrained_names(ca) == served_names


def test_the_served_certificate_is_refused_for_any_other_name(served):
    with pytest.raises(ssl.SSLCertVerificationError):
        presented(served, "www.bank.example")


def test_a_public_host_outside_the_ca_stops_serve_saying_what_to_do_and_changes_nothing(with_san):
    before = tls_files(with_san)
    with_san.env = {"CHATSPARK_PUBLIC_HOST": "chat.corp.example"}

    with pytest.raises(RuntimeError) as refused:
        with_san.start()

    message = str(refused.value)
    assert "not for chat.corp.example" in message and "new fingerprint" in message
    assert "tls_replace_ca = true" in message
    assert tls_files(with_san) == before


def test_with_tls_replace_ca_serve_makes_a_new_ca_prints_the_change_and_serves_the_new_name(with_san):
    old_pem = with_san.ca_file.read_bytes()
    old = certificates.fingerprint(certificates.load_certificate(old_pem))
    (with_san.data_dir.parent / "old-ca.crt").write_bytes(old_pem)
    with_san.env = {"CHATSPARK_PUBLIC_HOST": "chat.corp.example", "CHATSPARK_TLS_REPLACE_CA": "true"}

    with_san.start()

    new = certificates.fingerprint(certificates.load_certificate(with_san.ca_file.read_bytes()))
    banner = with_san.stdout_path.read_text()
    assert new != old
    assert f"CA fingerprint:    SHA-256 {new}" in banner
    assert f"The CA was REPLACED; it was SHA-256 {old}" in banner and "must now trust the new one" in banner
    for server_name in ("chat.corp.example", "appliance.test", "localhost", "127.0.0.1", "::1"):
        presented(with_san, server_name)
    with pytest.raises(ssl.SSLCertVerificationError):
        presented(with_san, "chat.corp.example", ca_file=with_san.data_dir.parent / "old-ca.crt")
    assert (with_san.data_dir / "tls" / PREVIOUS_CA_FILE).read_bytes() == old_pem
    [replaced] = [e for e in with_san.log_entries() if e["msg"].startswith("appliance CA replaced")]
    assert replaced["level"] == "WARNING"
    assert (replaced["previous_fingerprint"], replaced["fingerprint"]) == (old, new)

    with_san.stop()
    with_san.start()  # the same settings again: the CA now covers the name, nothing is replaced

    assert certificates.fingerprint(certificates.load_certificate(with_san.ca_file.read_bytes())) == new
    assert "REPLACED" not in with_san.stdout_path.read_text()


def test_an_extra_name_under_a_served_one_gets_a_new_certificate_from_the_same_ca(with_san):
    ca_before = with_san.ca_file.read_bytes()
    with_san.env = {"CHATSPARK_TLS_EXTRA_NAMES": "www.appliance.test, appliance.test"}

    with_san.start()

    der = presented(with_san, "www.appliance.test")
    assert with_san.ca_file.read_bytes() == ca_before
    assert "www.appliance.test" in certificates.names_of(
        certificates.load_certificate(ssl.DER_cert_to_PEM_cert(der).encode()))
    assert "REPLACED" not in with_san.stdout_path.read_text()


@pytest.mark.parametrize("variable, value", [("CHATSPARK_TLS_EXTRA_NAMES", "chat.example.com:8443"),
                                             ("CHATSPARK_PUBLIC_HOST", "chat example")])
def test_serve_refuses_a_setting_no_certificate_can_carry_by_its_name(with_san, variable, value):
    before = tls_files(with_san)
    with_san.env = {variable: value}

    with pytest.raises(RuntimeError) as refused:
        with_san.start()

    setting = variable.removeprefix("CHATSPARK_").lower()
    assert f"{setting}: {value!r} cannot be a certificate name" in str(refused.value)
    assert tls_files(with_san) == before


def test_init_refuses_a_san_no_certificate_can_carry_and_creates_nothing(tmp_path):
    result = chatspark("init", "--data-dir", str(tmp_path / "data"), "--key-dir", str(tmp_path / "keys"),
                       "--san", "10.0.0.0/8")

    assert result.returncode != 0
    assert "--san: '10.0.0.0/8' cannot be a certificate name" in result.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "keys").exists()


def test_a_ca_from_before_name_constraints_is_served_with_a_warning_until_replaced(with_san):
    appliance = open_appliance(Layout.of(with_san.data_dir, with_san.key_dir), clock=SystemClock())
    try:  # what an appliance initialised before name constraints holds: a CA that may sign for anything
        now = SystemClock().now()
        legacy = certificates.issue_ca(appliance_id=appliance.appliance_id, now=now)
        names = certificates.names_of(certificates.load_certificate(appliance.layout.server_cert.read_bytes()))
        server = certificates.issue_server(legacy, names=names, now=now)
        appliance.keystore.replace_secret(CA_KEY, legacy.key_pem)
        appliance.keystore.replace_secret(SERVER_KEY, server.key_pem)
        appliance.layout.ca_cert.write_bytes(legacy.cert_pem)
        appliance.layout.server_cert.write_bytes(server.cert_pem)
    finally:
        appliance.close()

    with_san.start()
    assert "WARNING: this CA has no name constraints" in with_san.stdout_path.read_text()
    assert with_san.ca_file.read_bytes() == legacy.cert_pem
    with_san.stop()

    with_san.env = {"CHATSPARK_TLS_REPLACE_CA": "true"}
    with_san.start()

    ca = certificates.load_certificate(with_san.ca_file.read_bytes())
    assert certificates.is_constrained(ca) and certificates.constrained_names(ca) == names
    banner = with_san.stdout_path.read_text()
    assert "The CA was REPLACED" in banner and "no name constraints" not in banner
    presented(with_san, "appliance.test")
