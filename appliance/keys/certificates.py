"""The appliance's own certificate authority, constrained to the appliance's names, and the server certificate it
issues (ECDSA P-256)."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
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
    """localhost, the loopback addresses, this machine's host name, and whatever the operator adds (each checked)."""
    names = ["localhost", "127.0.0.1", "::1"]
    try:
        names.append(checked_name(socket.gethostname()))
    except CertificateError:
        pass  # a host name no certificate can carry (a container's, say): the operator names the machine instead
    return merged_names(names, extra)


def merged_names(names: Iterable[str], extra: Iterable[str]) -> list[str]:
    """`names` (already a certificate's), then each of `extra` not among them, checked and in the form a
    certificate carries it."""
    merged = list(dict.fromkeys(names))
    for name in extra:
        if name.strip() and (name := checked_name(name)) not in merged:
            merged.append(name)
    return merged


# Letters, digits, inner hyphens; underscores too, which host names should not have but some machines' do.
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def checked_name(name: str) -> str:
    """A host name or IP address in the form a certificate carries it (IDNA, lower case, addresses canonical), or
    CertificateError saying why it cannot be one."""
    text = name.strip()
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        if getattr(address, "scope_id", None):
            raise CertificateError(f"{name!r} cannot be a certificate name: an address with a zone (%...) is local "
                                   "to one interface")
        return str(address)
    if "/" in text or ":" in text or not text:
        why = ("a certificate names hosts and addresses, not URLs, ports or ranges" if text
               else "it is empty")
        raise CertificateError(f"{name!r} cannot be a certificate name: {why} (for example chat.example.com or "
                               "10.0.0.5)")
    host = text.rstrip(".").lower()
    wildcard = host.startswith("*.")
    try:
        host = host.removeprefix("*.").encode("idna").decode("ascii")
    except UnicodeError:
        host = ""
    labels = host.split(".")
    if not host or len(host) > 253 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise CertificateError(f"{name!r} cannot be a certificate name: a host name is dot-separated labels of "
                               "letters, digits and inner hyphens (for example chat.example.com)")
    if wildcard and len(labels) < 2:
        raise CertificateError(f"{name!r} cannot be a certificate name: a wildcard covers the names under a domain "
                               "of at least two labels (for example *.corp.example)")
    return f"*.{host}" if wildcard else host


def name_constraints(names: Iterable[str]) -> x509.NameConstraints:
    """What a CA for `names` may sign for: those host names (and the names under them, as X.509 has it) and those
    addresses, each one address wide; nothing else, for a verifier that honours name constraints."""
    permitted: list[x509.GeneralName] = []
    for name in names:
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            subtree: x509.GeneralName = x509.DNSName(name.removeprefix("*."))
        else:
            subtree = x509.IPAddress(ipaddress.ip_network(f"{address}/{address.max_prefixlen}"))
        if subtree not in permitted:
            permitted.append(subtree)
    return x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None)


def is_constrained(ca: x509.Certificate) -> bool:
    """Whether the CA carries name constraints (CAs made before they were added carry none)."""
    try:
        ca.extensions.get_extension_for_class(x509.NameConstraints)
    except x509.ExtensionNotFound:
        return False
    return True


def permits(ca: x509.Certificate, name: str) -> bool:
    """Whether a verifier that honours the CA's name constraints accepts a certificate it issued for `name`."""
    try:
        constraints = ca.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return True
    permitted = constraints.permitted_subtrees or []
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        host = name.removeprefix("*.").lower()
        domains = [str(s.value).lower() for s in permitted if isinstance(s, x509.DNSName)]
        # RFC 5280: a name type with no permitted subtree is not constrained.
        return not domains or any(host == d or host.endswith(f".{d}") for d in domains)
    networks = [s.value for s in permitted if isinstance(s, x509.IPAddress)]
    return not networks or any(address.version == n.version and address in n for n in networks)


def issue_ca(*, appliance_id: str, now: dt.datetime, names: Iterable[str] | None = None) -> IssuedCertificate:
    """A CA that may sign server certificates for `names` only: users trust the appliance's CA system-wide, so
    whoever copies its key must not be able to mint a certificate their browsers accept for anyone else's site.

    Without `names` the CA is unconstrained: only for CAs that stand in for someone else's (tests, a corporate PKI);
    the appliance's own is always made with its names (`appliance.bootstrap`).
    """
    if names is not None:
        names = merged_names((), names)
        if not names:
            raise CertificateError("an appliance CA needs at least one name to vouch for")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ChatSpark Appliance"),
        # Dated, so that a CA replaced after a change of names is told apart from the one before in a trust store.
        x509.NameAttribute(NameOID.COMMON_NAME, f"ChatSpark Appliance CA {appliance_id[:8]} {now:%Y-%m-%d %H:%M}"),
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
    )
    if names is not None:
        cert = (
            cert.add_extension(name_constraints(names), critical=True)
            # Nor may it vouch for anything but TLS servers: no mail signing, no code signing, no client logins.
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
    return IssuedCertificate(cert.sign(key, hashes.SHA256()), key)


def issue_server(ca: IssuedCertificate, *, names: Iterable[str], now: dt.datetime) -> IssuedCertificate:
    names = list(dict.fromkeys(names))
    if not names:
        raise CertificateError("a server certificate needs at least one name")
    outside = [name for name in names if not permits(ca.certificate, name)]
    if outside:
        raise CertificateError(f"the appliance CA may not vouch for {', '.join(outside)}: its name constraints cover "
                               f"{', '.join(constrained_names(ca.certificate))} only")
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


def load_private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError as exc:
        raise CertificateError(f"key is not valid PEM: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError("the appliance's keys must be ECDSA")
    return key


def belongs_to(server: IssuedCertificate, ca: IssuedCertificate) -> bool:
    """The server certificate is for its own key and was signed by this CA."""
    if server.certificate.public_key() != server.private_key.public_key():
        return False
    try:
        server.certificate.verify_directly_issued_by(ca.certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def load_certificate(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate: {exc}") from None


def constrained_names(ca: x509.Certificate) -> list[str]:
    """The names and addresses the CA's constraints permit, as an operator would write them."""
    try:
        permitted = ca.extensions.get_extension_for_class(x509.NameConstraints).value.permitted_subtrees or []
    except x509.ExtensionNotFound:
        return []
    return [str(s.value.network_address) if isinstance(s, x509.IPAddress) else str(s.value) for s in permitted]


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
