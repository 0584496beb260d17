"""The appliance's server certificate and its CA at start-up: kept while far from expiry, renewed near it with the
same names, name constraints that fit exactly, a new name under the CA or (with the operator's go-ahead) a new CA,
and crashes during a CA change that leave a working one."""

from __future__ import annotations

import contextlib
import os

import pytest
from cryptography import x509

from appliance.audit.keys import audit_log
from appliance.bootstrap import (
    CA_KEY,
    NEXT_CA_FILE,
    PREVIOUS_CA_FILE,
    SERVER_KEY,
    initialise,
    open_appliance,
    server_certificate,
)
from appliance.errors import CertificateAuthorityChangeNeeded, CertificateError
from appliance.keys import certificates


def test_server_certificate_is_kept_while_far_from_expiry(appliance, clock):
    on_disk = x509.load_pem_x509_certificate(appliance.layout.server_cert.read_bytes())
    clock.advance(days=300)

    current = server_certificate(appliance)

    assert current.certificate.serial_number == on_disk.serial_number
    assert current.key_pem == appliance.keystore.get(SERVER_KEY)


def test_server_certificate_is_renewed_near_expiry_with_the_same_names(appliance, clock):
    layout = appliance.layout
    old = x509.load_pem_x509_certificate(layout.server_cert.read_bytes())
    old_key = appliance.keystore.get(SERVER_KEY)
    ca = x509.load_pem_x509_certificate(layout.ca_cert.read_bytes())
    clock.advance(days=370)

    renewed = server_certificate(appliance)

    assert renewed.certificate.serial_number != old.serial_number
    assert certificates.names_of(renewed.certificate) == certificates.names_of(old)
    assert renewed.certificate.not_valid_after_utc > old.not_valid_after_utc
    assert not certificates.needs_renewal(renewed.certificate, now=clock.now())
    renewed.certificate.verify_directly_issued_by(ca)
    assert appliance.keystore.get(SERVER_KEY) == renewed.key_pem != old_key
    assert layout.server_cert.read_bytes() == renewed.cert_pem
    assert not layout.server_cert.with_name("server.crt.tmp").exists()
    assert server_certificate(appliance).certificate.serial_number == renewed.certificate.serial_number


# --- the CA's names, and replacing the CA ------------------------------------------------------------------------


def _ca(layout) -> x509.Certificate:
    return x509.load_pem_x509_certificate(layout.ca_cert.read_bytes())


def _tls_files(layout) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(layout.tls_dir.iterdir())}


def _ca_replacements(appliance):
    return audit_log(appliance.control_db, keystore=appliance.keystore, clock=appliance.clock).events(
        action="tls.ca_replaced")


def test_initialise_constrains_the_ca_to_exactly_the_server_certificates_names(layout, clock):
    result = initialise(layout, clock=clock, extra_names=["Chat.Example.com", "10.0.0.5"])
    server = x509.load_pem_x509_certificate(layout.server_cert.read_bytes())

    assert certificates.constrained_names(_ca(layout)) == certificates.names_of(server) == result.server_names
    assert {"chat.example.com", "10.0.0.5", "localhost", "127.0.0.1", "::1"} <= set(result.server_names)


def test_initialise_refuses_a_name_no_certificate_can_carry_and_creates_nothing(layout, clock):
    with pytest.raises(CertificateError, match="'https://chat.example.com'"):
        initialise(layout, clock=clock, extra_names=["https://chat.example.com"])

    assert not layout.key_dir.exists() and not layout.data_dir.exists()


def test_server_certificate_adds_a_name_under_one_the_ca_serves_without_a_new_ca(layout, clock):
    initialise(layout, clock=clock, extra_names=["chat.example.com"])
    with contextlib.closing(open_appliance(layout, clock=clock)) as appliance:
        ca_before = layout.ca_cert.read_bytes()

        issued = server_certificate(appliance, names=["www.chat.example.com"])

        assert layout.ca_cert.read_bytes() == ca_before
        assert "www.chat.example.com" in certificates.names_of(issued.certificate)
        assert "chat.example.com" in certificates.names_of(issued.certificate)
        issued.certificate.verify_directly_issued_by(_ca(layout))
        assert server_certificate(appliance, names=["www.chat.example.com"]).cert_pem == issued.cert_pem
        assert _ca_replacements(appliance) == []


def test_a_name_outside_the_ca_is_refused_with_what_it_needs_and_nothing_changes(appliance):
    layout = appliance.layout
    before, ca_key = _tls_files(layout), appliance.keystore.get(CA_KEY)

    with pytest.raises(CertificateAuthorityChangeNeeded,
                       match=r"not for chat\.corp\.example: serving it needs a new CA, with a new fingerprint"):
        server_certificate(appliance, names=["chat.corp.example"])

    assert _tls_files(layout) == before
    assert appliance.keystore.get(CA_KEY) == ca_key and appliance.keystore.pending(CA_KEY) is None
    assert _ca_replacements(appliance) == []


def test_replacing_the_ca_for_a_new_name_keeps_the_old_one_and_audits_both_fingerprints(appliance):
    layout = appliance.layout
    old_ca, old_pem, old_key = _ca(layout), layout.ca_cert.read_bytes(), appliance.keystore.get(CA_KEY)
    old_names = certificates.names_of(x509.load_pem_x509_certificate(layout.server_cert.read_bytes()))

    issued = server_certificate(appliance, names=["chat.corp.example"], replace_ca=True)

    new_ca = _ca(layout)
    assert certificates.fingerprint(new_ca) != certificates.fingerprint(old_ca)
    assert certificates.constrained_names(new_ca) == [*old_names, "chat.corp.example"]
    assert certificates.names_of(issued.certificate) == [*old_names, "chat.corp.example"]
    issued.certificate.verify_directly_issued_by(new_ca)
    assert (layout.tls_dir / PREVIOUS_CA_FILE).read_bytes() == old_pem
    assert not (layout.tls_dir / NEXT_CA_FILE).exists()
    assert appliance.keystore.pending(CA_KEY) is None
    assert old_key in [material for _, material in appliance.keystore.retired(CA_KEY)]
    certificates.load(layout.ca_cert.read_bytes(), appliance.keystore.get(CA_KEY))  # cert and key belong together
    [event] = _ca_replacements(appliance)
    assert event.details["previous_fingerprint"] == certificates.fingerprint(old_ca)
    assert event.details["fingerprint"] == certificates.fingerprint(new_ca)
    assert "chat.corp.example" in event.details["names"]


def test_a_crash_before_the_new_ca_is_stored_whole_leaves_the_old_ca_in_place(appliance, monkeypatch):
    layout = appliance.layout
    before = _tls_files(layout)

    def crash(self, *args, **kwargs):
        raise OSError("power lost while the new CA's key was being stored")

    monkeypatch.setattr(type(appliance.keystore), "set_pending", crash)
    with pytest.raises(OSError, match="power lost"):
        server_certificate(appliance, names=["chat.corp.example"], replace_ca=True)
    monkeypatch.undo()

    server_certificate(appliance)  # the next start settles what was left

    assert _tls_files(layout) == before
    assert appliance.keystore.pending(CA_KEY) is None
    assert _ca_replacements(appliance) == []


def test_a_crash_while_the_new_ca_is_put_in_place_is_finished_at_the_next_start(appliance, monkeypatch):
    layout = appliance.layout
    old_fingerprint = certificates.fingerprint(_ca(layout))
    real_replace = os.replace

    def crash_on_swap(source, target):
        if str(source).endswith(NEXT_CA_FILE):
            raise OSError("power lost while ca.crt was being replaced")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", crash_on_swap)
    with pytest.raises(OSError, match="power lost"):
        server_certificate(appliance, names=["chat.corp.example"], replace_ca=True)
    monkeypatch.undo()
    assert certificates.fingerprint(_ca(layout)) == old_fingerprint  # still the old one, the new one pending

    issued = server_certificate(appliance, names=["chat.corp.example"])

    new_ca = _ca(layout)
    assert certificates.fingerprint(new_ca) != old_fingerprint
    assert "chat.corp.example" in certificates.constrained_names(new_ca)
    issued.certificate.verify_directly_issued_by(new_ca)
    certificates.load(layout.ca_cert.read_bytes(), appliance.keystore.get(CA_KEY))
    assert appliance.keystore.pending(CA_KEY) is None and not (layout.tls_dir / NEXT_CA_FILE).exists()
    assert [e.details["previous_fingerprint"] for e in _ca_replacements(appliance)] == [old_fingerprint]


def test_an_unconstrained_ca_from_before_is_kept_until_the_operator_asks_for_a_constrained_one(appliance, clock):
    layout = appliance.layout
    legacy = certificates.issue_ca(appliance_id=appliance.appliance_id, now=clock.now())
    names = certificates.names_of(x509.load_pem_x509_certificate(layout.server_cert.read_bytes()))
    server = certificates.issue_server(legacy, names=names, now=clock.now())
    appliance.keystore.replace_secret(CA_KEY, legacy.key_pem)
    appliance.keystore.replace_secret(SERVER_KEY, server.key_pem)
    layout.ca_cert.write_bytes(legacy.cert_pem)
    layout.server_cert.write_bytes(server.cert_pem)

    assert server_certificate(appliance).cert_pem == server.cert_pem
    assert not certificates.is_constrained(_ca(layout))

    replaced = server_certificate(appliance, replace_ca=True)

    assert certificates.is_constrained(_ca(layout))
    assert certificates.constrained_names(_ca(layout)) == names == certificates.names_of(replaced.certificate)
    [event] = _ca_replacements(appliance)
    assert event.details["reason"] == "unconstrained"


def test_a_server_certificate_that_does_not_match_its_key_is_issued_again(appliance, clock):
    layout = appliance.layout
    other = certificates.issue_server(certificates.load(layout.ca_cert.read_bytes(), appliance.keystore.get(CA_KEY)),
                                      names=["localhost"], now=clock.now())
    layout.server_cert.write_bytes(other.cert_pem)  # as a crash between storing a renewal's key and its file leaves

    issued = server_certificate(appliance)

    assert issued.certificate.public_key() == issued.private_key.public_key()
    assert layout.server_cert.read_bytes() == issued.cert_pem


def test_a_ca_certificate_that_is_not_the_keystores_ca_is_refused_not_signed_under(appliance, clock):
    layout = appliance.layout
    stranger = certificates.issue_ca(appliance_id=appliance.appliance_id, names=["localhost"], now=clock.now())
    layout.ca_cert.write_bytes(stranger.cert_pem)  # as a data directory restored from another time leaves it
    before = _tls_files(layout)
    clock.advance(days=370)  # due for renewal: without the check it would sign under the wrong CA

    with pytest.raises(CertificateError, match="not the certificate of the CA key in the keystore"):
        server_certificate(appliance)

    assert _tls_files(layout) == before
