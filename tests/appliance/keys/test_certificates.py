"""The appliance CA and the server certificate it issues; fingerprints as operators type them."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import socket

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID

from appliance.errors import CertificateError
from appliance.keys import certificates

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.timezone.utc)
APPLIANCE_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


@pytest.fixture(scope="module")
def ca() -> certificates.IssuedCertificate:
    return certificates.issue_ca(appliance_id=APPLIANCE_ID, now=NOW)


@pytest.fixture(scope="module")
def server(ca) -> certificates.IssuedCertificate:
    names = certificates.default_names(["chat.example.com", "10.0.0.5", "fd00::5"])
    return certificates.issue_server(ca, names=names, now=NOW)


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def test_ca_is_a_p256_certificate_authority_that_signed_itself(ca):
    cert = ca.certificate
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)

    assert constraints.critical and constraints.value.ca is True
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    assert cert.subject == cert.issuer
    assert APPLIANCE_ID[:8] in cert.subject.rfc4514_string()
    cert.verify_directly_issued_by(cert)


def test_ca_is_valid_from_now_for_ten_years(ca):
    assert ca.certificate.not_valid_before_utc <= NOW
    assert ca.certificate.not_valid_after_utc == NOW + certificates.CA_LIFETIME


def test_server_certificate_names_loopback_host_name_and_extras(server):
    san = _san(server.certificate)

    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", socket.gethostname(), "chat.example.com"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"),
        ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("fd00::5"),
    }


def test_server_certificate_is_for_server_authentication_and_not_a_ca(server):
    extensions = server.certificate.extensions

    assert list(extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert not extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert server.certificate.public_key().curve.name == "secp256r1"


def test_server_certificate_lifetime_is_within_what_browsers_accept(server):
    cert = server.certificate

    assert cert.not_valid_before_utc <= NOW < cert.not_valid_after_utc
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= dt.timedelta(days=398)


def test_server_certificate_verifies_against_its_ca_and_no_other(ca, server):
    server.certificate.verify_directly_issued_by(ca.certificate)

    stranger = certificates.issue_ca(appliance_id="another-appliance", now=NOW)
    with pytest.raises((InvalidSignature, ValueError)):
        server.certificate.verify_directly_issued_by(stranger.certificate)


def test_server_certificate_needs_at_least_one_name(ca):
    with pytest.raises(CertificateError, match="at least one name"):
        certificates.issue_server(ca, names=[], now=NOW)


def test_default_names_lead_with_loopback_and_drop_blank_and_repeated_names():
    names = certificates.default_names([" chat.example.com ", "", "localhost", "chat.example.com"])

    assert names[:3] == ["localhost", "127.0.0.1", "::1"]
    assert names.count("chat.example.com") == 1
    assert names.count("localhost") == 1
    assert "" not in names
    assert socket.gethostname() in names


def test_names_of_returns_the_san_entries_in_order(server):
    names = certificates.names_of(server.certificate)

    assert names == certificates.default_names(["chat.example.com", "10.0.0.5", "fd00::5"])


def test_needs_renewal_only_within_thirty_days_of_expiry(server):
    expiry = server.certificate.not_valid_after_utc

    assert not certificates.needs_renewal(server.certificate, now=NOW)
    assert not certificates.needs_renewal(server.certificate, now=expiry - dt.timedelta(days=30))
    assert certificates.needs_renewal(server.certificate, now=expiry - dt.timedelta(days=29))
    assert certificates.needs_renewal(server.certificate, now=expiry + dt.timedelta(days=1))


def test_load_round_trips_a_certificate_and_its_key(server):
    loaded = certificates.load(server.cert_pem, server.key_pem)

    assert loaded.certificate == server.certificate
    assert loaded.key_pem == server.key_pem
    assert server.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_load_refuses_garbage_and_keys_that_are_not_ecdsa(server):
    with pytest.raises(CertificateError, match="not valid PEM"):
        certificates.load(b"not a certificate", server.key_pem)
    with pytest.raises(CertificateError, match="not valid PEM"):
        certificates.load(server.cert_pem, b"not a key")
    other = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(CertificateError, match="must be ECDSA"):
        certificates.load(server.cert_pem, other)
    with pytest.raises(CertificateError, match="not a PEM certificate"):
        certificates.load_certificate(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")


def test_fingerprint_is_the_sha256_of_the_der_as_colon_separated_upper_case_hex(ca):
    fingerprint = certificates.fingerprint(ca.certificate)
    der = ca.certificate.public_bytes(serialization.Encoding.DER)

    assert fingerprint == ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    assert len(fingerprint) == 95
    assert fingerprint.replace(":", "") == hashlib.sha256(der).hexdigest().upper()


@pytest.mark.parametrize("form", [
    lambda fp: fp,
    lambda fp: fp.lower(),
    lambda fp: fp.replace(":", ""),
    lambda fp: fp.replace(":", "").lower(),
    lambda fp: "sha256:" + fp.replace(":", " ").lower(),
    lambda fp: "SHA256:" + fp,
    lambda fp: f"  {fp}\n",
], ids=["canonical", "lower", "bare", "bare-lower", "prefixed-spaced", "prefixed-upper", "padded"])
def test_normalise_fingerprint_accepts_the_forms_people_paste(ca, form):
    fingerprint = certificates.fingerprint(ca.certificate)
    assert certificates.normalise_fingerprint(form(fingerprint)) == fingerprint


@pytest.mark.parametrize("text", [
    "",
    "AB:CD",
    "A" * 63,
    "A" * 65,
    "G" + "A" * 63,
    ":".join(["AB"] * 31),
    "sha1:" + "A" * 40,
])
def test_normalise_fingerprint_rejects_anything_but_64_hex_digits(text):
    with pytest.raises(CertificateError, match="not a SHA-256 fingerprint"):
        certificates.normalise_fingerprint(text)
