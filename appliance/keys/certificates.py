"""The appliance's own certificate authority and the server certificate it issues (ECDSA P-256)."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import socket
from dataclasses import dataclass
from typing import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.errors import CertificateError

CA_LIFETIME = dt.timedelta(days=3650)
# Browsers refuse server certificates valid for longer than 398 days.
SERVER_LIFETIME = dt.timedelta(days=397)
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class IssuedCertificate:
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def default_names(extra: Iterable[str] = ()) -> list[str]:
    """localhost, the loopback addresses, this machine's host name, and whatever the operator adds."""
    names = ["localhost", "127.0.0.1", "::1"]
    hostname = socket.gethostname()
    for name in [hostname, *extra]:
        name = name.strip()
        if name and name not in names:
            names.append(name)
    return names


def issue_ca(*, appliance_id: str, now: dt.datetime) -> IssuedCertificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ChatSpark Appliance"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"ChatSpark Appliance CA {appliance_id[:8]}"),
    ])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return IssuedCertificate(cert, key)


def issue_server(ca: IssuedCertificate, *, names: Iterable[str], now: dt.datetime) -> IssuedCertificate:
    names = list(names)
    if not names:
        raise CertificateError("a server certificate needs at least one name")
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.certificate.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + SERVER_LIFETIME)
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.certificate.public_key()), critical=False
        )
        .sign(ca.private_key, hashes.SHA256())
    )
    return IssuedCertificate(cert, key)


def load(cert_pem: bytes, key_pem: bytes) -> IssuedCertificate:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except ValueError as exc:
        raise CertificateError(f"certificate or key is not valid PEM: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError("the appliance's keys must be ECDSA")
    return IssuedCertificate(cert, key)


def load_certificate(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate: {exc}") from None


def names_of(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n.value) for n in san]


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER encoding, as colon-separated upper-case hex (the form browsers show)."""
    return fingerprint_der(cert.public_bytes(serialization.Encoding.DER))


def fingerprint_der(der: bytes) -> str:
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def normalise_fingerprint(text: str) -> str:
    """Accept 'AB:CD..', 'abcd..' or 'sha256:ab cd..' and return the canonical colon form."""
    digits = "".join(ch for ch in text.lower().removeprefix("sha256:") if ch in "0123456789abcdef")
    if len(digits) != 64:
        raise CertificateError(f"{text!r} is not a SHA-256 fingerprint (64 hex digits)")
    return ":".join(digits[i:i + 2].upper() for i in range(0, 64, 2))


def needs_renewal(cert: x509.Certificate, *, now: dt.datetime) -> bool:
    return cert.not_valid_after_utc - now < RENEW_BEFORE


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)
