"""Checking passwords against a real OpenLDAP directory (Debian's slapd, run by tests/ldap_server.py on loopback with
a CA of its own): a person is found by mail or uid and bound as themselves, their groups read; a wrong or empty
password, an unknown name and a filter smuggled into the name are refused; StartTLS works; a directory whose
certificate is not trusted, or that does not encrypt at all, never receives a password; a plain bind cannot even
be configured."""

from __future__ import annotations

import socket
import threading

import pytest

from appliance.accounts.ldap import Directory, DirectorySettings, DirectoryUnreachable, check_url
from appliance.errors import AuthenticationFailed, ValidationError
from tests.ldap_server import ADMIN_DN, ADMIN_PASSWORD, GROUPS, PEOPLE, running_directory

PASSWORD = "ridge falcon copper 58"


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    with running_directory(tmp_path_factory.mktemp("slapd")) as running:
        ada = running.add_person("ada", password=PASSWORD, mail="ada@example.org", name="Ada Lovelace")
        running.add_person("bob", password="another secret 77", mail="bob@example.org")
        running.set_group("support", [ada])
        running.set_group("finance", [])
        yield running


def _settings(url: str, ca_file: str | None, **changes) -> DirectorySettings:
    values = {"url": url, "start_tls": False, "bind_dn": ADMIN_DN, "user_base": PEOPLE,
              "user_filter": "(|(mail={login})(uid={login}))", "group_base": GROUPS,
              "group_filter": "(|(member={dn})(uniqueMember={dn}))", "email_attribute": "mail",
              "name_attribute": "cn", "ca_file": ca_file, **changes}
    return DirectorySettings(**values)


def _ldaps(directory, **changes) -> Directory:
    ca_file = changes.pop("ca_file", directory.ca_file)
    return Directory(_settings(directory.ldaps_url, ca_file, **changes), bind_password=ADMIN_PASSWORD)


@pytest.mark.parametrize("login", ["ada@example.org", "ada", "ADA@example.org"])
def test_a_person_signs_in_by_mail_or_uid_with_their_groups(directory, login):
    person = _ldaps(directory).authenticate(login, PASSWORD)
    assert person.dn == f"uid=ada,{PEOPLE}"
    assert (person.email, person.name, person.groups) == ("ada@example.org", "Ada Lovelace", ["support"])
    assert person.subject.startswith("entryUUID:")  # stable when the person is renamed or moved


def test_over_starttls_too(directory):
    found = Directory(_settings(directory.starttls_url, directory.ca_file, start_tls=True),
                      bind_password=ADMIN_PASSWORD)
    assert found.authenticate("bob", "another secret 77").groups == []


@pytest.mark.parametrize(("login", "password"), [
    ("ada", "ridge falcon copper 59"),        # wrong password
    ("nobody@example.org", PASSWORD),         # nobody by that name
    ("ada", ""),                              # empty: LDAP would take it as an anonymous bind, and let it through
    ("", PASSWORD),
    ("*", PASSWORD),                          # a wildcard would match everybody
    ("ada)(uid=*", PASSWORD),                 # a filter smuggled into the name
    ("*)(|(uid=ada", PASSWORD),
])
def test_wrong_empty_unknown_and_smuggled_names_are_refused(directory, login, password):
    with pytest.raises(AuthenticationFailed):
        _ldaps(directory).authenticate(login, password)


def test_an_empty_password_is_refused_before_any_bind(directory):
    """slapd accepts a simple bind with a DN and no password as anonymous; it must never count as the person's."""
    with pytest.raises(AuthenticationFailed):
        _ldaps(directory).verify_password(f"uid=ada,{PEOPLE}", "")


def test_without_the_directorys_ca_no_connection_is_made(directory):
    with pytest.raises(DirectoryUnreachable, match="certificate"):
        _ldaps(directory, ca_file=None).authenticate("ada", PASSWORD)
    starttls = Directory(_settings(directory.starttls_url, None, start_tls=True), bind_password=ADMIN_PASSWORD)
    with pytest.raises(DirectoryUnreachable):
        starttls.authenticate("ada", PASSWORD)


def test_the_connection_check_says_what_it_found_or_what_is_wrong(directory):
    assert _ldaps(directory).check() == (
        f"Connected to {directory.ldaps_url} over LDAPS with a verified certificate, bound as {ADMIN_DN} and found "
        f"the user base {PEOPLE}.")
    wrong = Directory(_settings(directory.ldaps_url, directory.ca_file), bind_password="not the admin's")
    with pytest.raises(DirectoryUnreachable, match="refused the service account"):
        wrong.check()
    with pytest.raises(DirectoryUnreachable, match="user base"):
        _ldaps(directory, user_base="ou=nowhere,dc=example,dc=org").check()


@pytest.mark.parametrize("url", ["ldap://ldap.example.com", "ldap://ldap.example.com:389", "http://ldap.example.com",
                                 "ldaps://", "ldaps://ldap.example.com/ou=people", "ldaps://user@ldap.example.com",
                                 "ldaps://ldap.example.com:70000"])
def test_a_plain_bind_or_a_url_that_is_not_a_directory_cannot_be_configured(url):
    with pytest.raises(ValidationError, match="'url'"):
        check_url(url, start_tls=False)


class _Listener:
    """A TCP server on loopback that speaks no TLS: it keeps every byte it is sent and hangs up after the first."""

    def __init__(self) -> None:
        self.received = bytearray()
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(5)
                try:
                    self.received += connection.recv(65536)
                except OSError:
                    pass

    def close(self) -> None:
        self._socket.close()
        self._thread.join(5)


@pytest.mark.parametrize("scheme", ["ldaps", "ldap"])
def test_a_server_that_does_not_encrypt_never_receives_the_password(scheme):
    listener = _Listener()
    try:
        settings = _settings(f"{scheme}://127.0.0.1:{listener.port}", None, start_tls=scheme == "ldap")
        with pytest.raises(DirectoryUnreachable):
            Directory(settings, bind_password=ADMIN_PASSWORD).authenticate("ada", PASSWORD)
    finally:
        listener.close()
    assert listener.received  # it was asked (a TLS hello, or the StartTLS request)...
    assert ADMIN_PASSWORD.encode() not in listener.received and PASSWORD.encode() not in listener.received
    assert ADMIN_DN.encode() not in listener.received  # ...and told nothing
