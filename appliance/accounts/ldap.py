"""Checking a password against an LDAP or Active Directory directory (ldap3): find the person with the service
account, then bind as them. Every connection is encrypted before anything is sent that matters: ldaps://, or
ldap:// followed by StartTLS, with the certificate verified against the system's CAs or the directory's own CA file
and its name checked; a directory that cannot do either is refused, so no password ever crosses the network in the
clear. An empty password is refused before any bind (LDAP would take it as an anonymous bind that succeeds)."""

from __future__ import annotations

import ssl
import urllib.parse
import warnings
from dataclasses import dataclass

with warnings.catch_warnings():
    # ldap3 2.9.1 reads pyasn1's old names (tagMap, typeMap) when it is imported, which pyasn1 0.6 warns about.
    warnings.filterwarnings("ignore", message="(tag|type)Map is deprecated", category=DeprecationWarning)
    import ldap3
    from ldap3.core.exceptions import LDAPException
    from ldap3.utils.conv import escape_filter_chars
    from ldap3.utils.dn import parse_dn

from appliance.errors import AuthenticationFailed, ServiceError, ValidationError

CONNECT_TIMEOUT_SECONDS = 5
RECEIVE_TIMEOUT_SECONDS = 10


class DirectoryUnreachable(ServiceError):
    """The directory could not be reached, or not over a verified encrypted connection."""

    code = "directory_unreachable"


@dataclass(frozen=True)
class DirectorySettings:
    url: str
    start_tls: bool
    bind_dn: str | None
    user_base: str
    user_filter: str
    group_base: str | None
    group_filter: str
    email_attribute: str
    name_attribute: str
    ca_file: str | None = None


@dataclass(frozen=True)
class DirectoryUser:
    dn: str
    subject: str       # entryUUID or objectGUID when the directory has one, else the DN: stable across renames
    email: str | None
    name: str
    groups: list[str]


def check_url(url, *, start_tls: bool) -> str:
    """ldaps://host[:port], or ldap://host[:port] when StartTLS is on: never a plain bind."""
    parts = urllib.parse.urlsplit(url if isinstance(url, str) else "")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValidationError("'url' has a port that is not 1-65535") from None
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.username:
        raise ValidationError("'url' is ldaps://host[:port] or ldap://host[:port] (no path, query or user)")
    if parts.scheme == "ldaps":
        return f"ldaps://{parts.netloc}"
    if parts.scheme == "ldap":
        if not start_tls:
            raise ValidationError("'url' is ldap:// only with 'start_tls' on: a password is never sent unencrypted; "
                                  "use ldaps:// or turn StartTLS on")
        return f"ldap://{parts.netloc}"
    raise ValidationError("'url' is ldaps://host[:port] or ldap://host[:port] with StartTLS")


class _VerifiedTls(ldap3.Tls):
    """TLS with Python's defaults (TLS 1.2 or later, certificate and host name checked by OpenSSL), instead of
    ldap3's own name check."""

    def __init__(self, host: str, ca_file: str | None) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file)
        self._host = host
        self._context = ssl.create_default_context(cafile=ca_file)

    def wrap_socket(self, connection, do_handshake=False):
        connection.socket = self._context.wrap_socket(connection.socket, server_hostname=self._host,
                                                      do_handshake_on_connect=do_handshake)


class Directory:
    def __init__(self, settings: DirectorySettings, *, bind_password: str = "") -> None:
        self.settings = settings
        self._bind_password = bind_password
        parts = urllib.parse.urlsplit(settings.url)
        secure = parts.scheme == "ldaps"
        self._host = parts.hostname
        self._server = ldap3.Server(parts.hostname, port=parts.port or (636 if secure else 389), use_ssl=secure,
                                    tls=_VerifiedTls(parts.hostname, settings.ca_file), get_info=ldap3.NONE,
                                    connect_timeout=CONNECT_TIMEOUT_SECONDS)

    def authenticate(self, login: str, password: str) -> DirectoryUser:
        """The person `login` names, when `password` is theirs; AuthenticationFailed when not (or not found)."""
        if not login or not password:
            raise AuthenticationFailed("wrong email or password")
        person = self.look_up(login)
        if person is None:
            raise AuthenticationFailed("wrong email or password")
        self.verify_password(person.dn, password)
        return person

    def look_up(self, login: str) -> DirectoryUser | None:
        """The one person `login` names (as the user filter finds them), with their groups; None for nobody or
        more than one."""
        with self._connection(self.settings.bind_dn, self._bind_password, "the service account") as service:
            found = self._find(service, login)
            if found is None:
                return None
            dn, entry = found
            return DirectoryUser(dn, _subject(dn, entry), _first(entry, self.settings.email_attribute),
                                 _first(entry, self.settings.name_attribute) or "", self._groups(service, dn, entry))

    def verify_password(self, dn: str, password: str) -> None:
        if not password:
            raise AuthenticationFailed("wrong email or password")
        with self._connection(dn, password, None):
            pass

    def check(self) -> str:
        """A sentence saying what connecting as the service account found (raises DirectoryUnreachable)."""
        with self._connection(self.settings.bind_dn, self._bind_password, "the service account") as service:
            service.search(self.settings.user_base, "(objectClass=*)", ldap3.BASE, attributes=[])
            if service.result["result"] != 0:
                raise DirectoryUnreachable(f"the directory at {self.settings.url} answered for the user base "
                                           f"{self.settings.user_base!r}: {service.result['description']}")
        who = f"as {self.settings.bind_dn}" if self.settings.bind_dn else "anonymously"
        return (f"Connected to {self.settings.url} over {'StartTLS' if self.settings.start_tls else 'LDAPS'} "
                f"with a verified certificate, bound {who} and found the user base {self.settings.user_base}.")

    def _connection(self, user: str | None, password: str, who: str | None):
        """An encrypted connection bound as `user` (anonymously when None). `who` names a service bind, whose
        refusal is the operator's to fix (DirectoryUnreachable); a person's refused bind is AuthenticationFailed."""
        connection = ldap3.Connection(self._server, user=user or None, password=password or None,
                                      authentication=ldap3.SIMPLE if user else ldap3.ANONYMOUS, read_only=True,
                                      receive_timeout=RECEIVE_TIMEOUT_SECONDS, raise_exceptions=False)
        try:
            connection.open()
            if self.settings.start_tls:
                connection.start_tls()
            if not (connection.server.ssl or connection.tls_started):
                raise DirectoryUnreachable(f"{self.settings.url} did not encrypt the connection")
            bound = connection.bind()
        except LDAPException as exc:
            _close(connection)
            raise DirectoryUnreachable(f"cannot reach the directory at {self.settings.url} over a verified "
                                       f"encrypted connection: {exc}") from None
        except (OSError, ssl.SSLError) as exc:
            _close(connection)
            raise DirectoryUnreachable(f"cannot reach the directory at {self.settings.url}: {exc}") from None
        if not bound:
            description = connection.result.get("description") if connection.result else "no answer"
            _close(connection)
            if who:
                raise DirectoryUnreachable(f"the directory at {self.settings.url} refused {who}: {description}")
            raise AuthenticationFailed("wrong email or password")
        return _Closing(connection)

    def _find(self, service, login: str):
        query = self.settings.user_filter.replace("{login}", escape_filter_chars(login))
        attributes = [self.settings.email_attribute, self.settings.name_attribute, "memberOf", "entryUUID",
                      "objectGUID"]
        service.search(self.settings.user_base, query, ldap3.SUBTREE, attributes=attributes, size_limit=2)
        entries = [e for e in service.response or [] if e.get("type") == "searchResEntry"]
        if len(entries) != 1:
            return None  # nobody, or more than one person: neither signs in
        return entries[0]["dn"], entries[0]["raw_attributes"]

    def _groups(self, service, dn: str, entry) -> list[str]:
        """The names (cn) of the person's groups: found under the group base, or read from memberOf."""
        if self.settings.group_base:
            query = self.settings.group_filter.replace("{dn}", escape_filter_chars(dn))
            service.search(self.settings.group_base, query, ldap3.SUBTREE, attributes=["cn"], size_limit=1000)
            names = [_first(e["raw_attributes"], "cn") for e in service.response or []
                     if e.get("type") == "searchResEntry"]
        else:
            names = [_leading_value(_text(value)) for value in entry.get("memberOf", [])]
        return sorted({n for n in names if n})


class _Closing:
    def __init__(self, connection) -> None:
        self._connection = connection

    def __enter__(self):
        return self._connection

    def __exit__(self, *exc) -> None:
        _close(self._connection)


def _close(connection) -> None:
    """Unbind and close; a connection that broke (a failed handshake) has nothing left to say goodbye on."""
    try:
        connection.unbind()
    except (LDAPException, OSError):
        pass
    # A connection refused while opening leaves ldap3 holding a socket that unbind() does not close.
    if getattr(connection, "socket", None) is not None:
        connection.socket.close()


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _first(attributes, name: str) -> str | None:
    values = attributes.get(name) or []
    return _text(values[0]).strip() if values else None


def _subject(dn: str, attributes) -> str:
    if attributes.get("entryUUID"):
        return "entryUUID:" + _first(attributes, "entryUUID")
    if attributes.get("objectGUID"):
        return "objectGUID:" + bytes(attributes["objectGUID"][0]).hex()
    return "dn:" + dn.lower()


def _leading_value(dn: str) -> str | None:
    """The group's name in its DN ("cn=Support,ou=groups,dc=example,dc=org" gives "Support")."""
    try:
        return parse_dn(dn)[0][1]
    except (LDAPException, IndexError, ValueError):
        return None
