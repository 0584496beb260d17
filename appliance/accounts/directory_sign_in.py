"""Password sign-in through the LDAP / Active Directory directories operators configured, for the accounts that
belong to one: an account that signed in through a directory always checks its password there; a name with no
account here, or an account without a password of its own, is looked up in each directory in turn (by name); an
account with its own password keeps it. The first directory that accepts the password vouches for the person: their
account is found or (for the directories' allowed domains and groups only) made, and their groups' roles applied
(appliance/accounts/sso.py, the same as for OpenID Connect)."""

from __future__ import annotations

from appliance.accounts.ldap import Directory, DirectoryUnreachable
from appliance.accounts.sso import Identity, SsoSignIn
from appliance.accounts.sso_providers import Provider, SsoProviders
from appliance.errors import AuthenticationFailed
from appliance.storage.database import Database


class DirectorySignIn:
    def __init__(self, db: Database, *, providers: SsoProviders, sso: SsoSignIn) -> None:
        self._db = db
        self._providers = providers
        self._sso = sso

    def directories_for(self, row) -> list[Provider]:
        """Where the password of this account (a users row, or None for no account) is checked: its directory, all
        directories, or none (its own password, checked by the caller)."""
        if row is not None:
            linked = self._sso.directory_of(row["id"])
            if linked is not None:
                return [linked[0]]
            if row["password_hash"]:
                return []
        return self._providers.list(kind="ldap")

    def sign_in(self, directories: list[Provider], login: str, password: str, *, client_address: str | None):
        """(users row, directory) for the first directory that accepts the password. AuthenticationFailed when none
        does; DirectoryUnreachable when none does and one of them could not be asked."""
        unreachable = None
        for provider in directories:
            directory = Directory(provider.directory, bind_password=self._providers.secret(provider))
            try:
                person = directory.authenticate(login, password)
            except DirectoryUnreachable as exc:
                unreachable = exc
                continue
            except AuthenticationFailed:
                continue
            if not person.email:
                raise AuthenticationFailed(f"the directory {provider.name} has no email address for this account; "
                                           "ask its administrators to add one")
            identity = Identity(person.subject, person.email, person.name, person.groups, dn=person.dn)
            with self._db.transaction() as conn:
                linked = self._sso.link(conn, provider, identity, client_address=client_address)
                row = conn.execute("SELECT * FROM users WHERE id = ?", (linked.user_id,)).fetchone()
            return row, provider, linked
        if unreachable is not None:
            raise unreachable
        raise AuthenticationFailed("wrong email or password")

    def confirms(self, user_id: str, password: str | None) -> bool | None:
        """Whether the directory of this account accepts `password` (a signed-in person confirming a change); None
        for an account that is not a directory's."""
        linked = self._sso.directory_of(user_id)
        if linked is None:
            return None
        provider, dn = linked
        if not dn or not password:
            return False
        try:
            Directory(provider.directory, bind_password=self._providers.secret(provider)).verify_password(
                dn, password)
        except AuthenticationFailed:
            return False
        return True

    def managed_by(self, user_id: str) -> str | None:
        """The name of the directory that keeps this account's password, if one does."""
        linked = self._sso.directory_of(user_id)
        return linked[0].name if linked else None
