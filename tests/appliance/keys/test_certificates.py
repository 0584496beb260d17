"""The appliance CA and the server certificate it issues; fingerprints as operators type them."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import socket
import ssl

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from appliance.errors import CertificateError
from appliance.keys import certificates

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.timezone.utc)
APPLIANCE_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


NAMES = certificates.default_names(["chat.example.com", "10.0.0.5", "fd00::5"])


@pytest.fixture(scope="module")
def ca() -> certificates.IssuedCertificate:
    return certificates.issue_ca(appliance_id=APPLIANCE_ID, names=NAMES, now=NOW)


@pytest.fixture(scope="module")
def server(ca) -> certificates.IssuedCertificate:
    return certificates.issue_server(ca, names=NAMES, now=NOW)


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


# --- name constraints ----------------------------------------------------------------------------------------------


def forged(ca: certificates.IssuedCertificate, *names: str) -> certificates.IssuedCertificate:
    """What whoever copied the CA key could sign: a server certificate for any names, made outside `issue_server`
    (which refuses them)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(minutes=5))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([certificates._general_name(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.certificate.public_key()),
                       critical=False)
        .sign(ca.private_key, hashes.SHA256())
    )
    return certificates.IssuedCertificate(cert, key)


def openssl_handshake(tmp_path, server: certificates.IssuedCertificate, ca: certificates.IssuedCertificate,
                      server_name: str) -> None:
    """A TLS handshake in memory, OpenSSL on both sides: the client trusts `ca` and checks `server_name`."""
    (tmp_path / "server.pem").write_bytes(server.cert_pem)
    (tmp_path / "server.key").write_bytes(server.key_pem)
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    client_side = ssl.create_default_context(cadata=ca.cert_pem.decode())
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_side.wrap_bio(to_client, to_server_out := ssl.MemoryBIO(), server_hostname=server_name)
    served = server_side.wrap_bio(to_server, to_client_out := ssl.MemoryBIO(), server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for side, tls, outgoing, incoming in (("client", client, to_server_out, to_server),
                                              ("server", served, to_client_out, to_client)):
            if not done[side]:
                try:
                    tls.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
            incoming.write(outgoing.read())
        if all(done.values()):
            return
    raise AssertionError("the handshake did not finish")


def cryptography_verify(server: certificates.IssuedCertificate, ca: certificates.IssuedCertificate, name: str):
    subject = x509.IPAddress(ipaddress.ip_address(name)) if ":" in name or name[0].isdigit() else x509.DNSName(name)
    verifier = PolicyBuilder().store(Store([ca.certificate])).time(NOW).build_server_verifier(subject)
    return verifier.verify(server.certificate, [])


def test_ca_is_constrained_critically_to_the_names_and_single_addresses_it_serves(ca):
    extension = ca.certificate.extensions.get_extension_for_class(x509.NameConstraints)

    assert extension.critical
    assert extension.value.excluded_subtrees is None
    permitted = extension.value.permitted_subtrees
    assert {str(s.value) for s in permitted if isinstance(s, x509.DNSName)} == {
        "localhost", socket.gethostname(), "chat.example.com"}
    assert {s.value for s in permitted if isinstance(s, x509.IPAddress)} == {
        ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("10.0.0.5/32"), ipaddress.ip_network("fd00::5/128")}
    assert certificates.is_constrained(ca.certificate)


def test_ca_vouches_for_tls_servers_only(ca):
    usage = ca.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value

    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "::1", "chat.example.com", "10.0.0.5", "fd00::5",
                                  socket.gethostname()])
def test_the_server_certificate_verifies_for_each_of_its_names_with_openssl_and_cryptography(tmp_path, ca, server,
                                                                                            name):
    openssl_handshake(tmp_path, server, ca, name)
    assert cryptography_verify(server, ca, name)


@pytest.mark.parametrize("names", [("www.bank.example",), ("10.0.0.6",), ("8.8.8.8",), ("2001:db8::1",),
                                   ("evilchat.example.com",), ("chat.example.com.evil.example",),
                                   ("localhost", "www.bank.example")],
                         ids=["other-domain", "neighbour-address", "public-address", "public-v6", "same-suffix",
                              "name-as-prefix", "one-bad-name-among-good"])
def test_a_certificate_the_ca_key_signs_for_any_other_name_is_refused_by_verifiers(tmp_path, ca, names):
    stolen = forged(ca, *names)

    with pytest.raises(ssl.SSLCertVerificationError, match="permitted subtree violation|name constraints"):
        openssl_handshake(tmp_path, stolen, ca, names[-1])
    with pytest.raises(VerificationError):
        cryptography_verify(stolen, ca, names[-1])


def test_a_name_under_one_the_ca_serves_is_within_its_constraints_as_x509_has_it(tmp_path, ca):
    under = forged(ca, "www.chat.example.com")

    openssl_handshake(tmp_path, under, ca, "www.chat.example.com")
    assert certificates.permits(ca.certificate, "www.chat.example.com")


@pytest.mark.parametrize("name, permitted", [
    ("chat.example.com", True), ("Chat.Example.COM", True), ("www.chat.example.com", True),
    ("*.chat.example.com", True), ("evilchat.example.com", False), ("example.com", False),
    ("127.0.0.1", True), ("127.0.0.2", False), ("::1", True), ("::2", False), ("10.0.0.5", True),
    ("::ffff:10.0.0.5", False),
])
def test_permits_matches_names_as_verifiers_that_honour_constraints_do(ca, name, permitted):
    assert certificates.permits(ca.certificate, name) is permitted


def test_issue_server_refuses_a_name_its_ca_may_not_vouch_for(ca):
    with pytest.raises(CertificateError, match=r"may not vouch for www\.bank\.example.*chat\.example\.com"):
        certificates.issue_server(ca, names=["localhost", "www.bank.example"], now=NOW)


def test_a_ca_made_without_names_is_unconstrained_and_said_so():
    stand_in = certificates.issue_ca(appliance_id="corporate-pki", now=NOW)

    assert not certificates.is_constrained(stand_in.certificate)
    assert certificates.permits(stand_in.certificate, "anything.example")


def test_a_ca_needs_at_least_one_name_when_names_are_given():
    with pytest.raises(CertificateError, match="at least one name"):
        certificates.issue_ca(appliance_id=APPLIANCE_ID, names=[" "], now=NOW)


@pytest.mark.parametrize("given, carried", [
    (" Chat.Example.COM. ", "chat.example.com"),
    ("bücher.example", "xn--bcher-kva.example"),
    ("*.Corp.Example", "*.corp.example"),
    ("::0001", "::1"),
    ("010.0.0.5", None),
    ("10.0.0.5", "10.0.0.5"),
    ("build_host", "build_host"),
])
def test_checked_name_gives_the_form_a_certificate_carries(given, carried):
    if carried is None:
        with pytest.raises(CertificateError):
            certificates.checked_name(given)
    else:
        assert certificates.checked_name(given) == carried


@pytest.mark.parametrize("given, reason", [
    ("", "empty"),
    ("https://chat.example.com", "not URLs, ports or ranges"),
    ("chat.example.com:8443", "not URLs, ports or ranges"),
    ("10.0.0.0/8", "not URLs, ports or ranges"),
    ("[::1]", "not URLs, ports or ranges"),
    ("chat example", "dot-separated labels"),
    ("a..b", "dot-separated labels"),
    ("-chat.example", "dot-separated labels"),
    ("x" * 64 + ".example", "dot-separated labels"),
    ("10.0.0", "dot-separated labels"),
    ("*.com", "wildcard"),
    ("fe80::1%eth0", "zone"),
])
def test_checked_name_refuses_what_no_certificate_can_carry_and_says_why(given, reason):
    with pytest.raises(CertificateError, match=reason) as refused:
        certificates.checked_name(given)
    assert repr(given) in str(refused.value)


def test_default_names_refuse_an_extra_name_that_cannot_be_carried():
    with pytest.raises(CertificateError, match="'chat.example.com:8443'"):
        certificates.default_names(["chat.example.com:8443"])
