"""Password sign-in through the LDAP / Active Directory directories operators configured, for the accounts that
belong to one: an account that signed in through a directory always checks its password there; a name with no
account here, or an account without a password of its own, is looked up in each directory in turn (by name); an
account with its own password keeps it. The first directory that accepts the password vouches for the person: their
account is found or (for the directories' allowed domains and groups only) made, and their groups' roles applied
(appliance/accounts/sso.py, the same as for OpenID Connect). An operator can hand an existing account, password and
all, to a directory: from then on the directory checks its password."""

from __future__ import annotations

from appliance.accounts.ldap import Directory, DirectoryUnreachable
from appliance.accounts.sso import Identity, Linked, SsoSignIn
from appliance.accounts.sso_providers import Provider, SsoProviders
from appliance.audit.log import AuditLog
from appliance.clock import Clock, isoformat
from appliance.errors import AuthenticationFailed, Conflict, NotFound, ValidationError
from appliance.storage.database import Database


class DirectorySignIn:
    def __init__(self, db: Database, *, clock: Clock, providers: SsoProviders, sso: SsoSignIn,
                 audit: AuditLog) -> None:
        self._db = db
        self._clock = clock
        self._providers = providers
        self._sso = sso
        self._audit = audit

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

    def hand_over(self, user_id: str, provider_id: str, *, actor_id: str, client_address: str | None) -> Linked:
        """Move an existing account to the directory `provider_id`: the directory's entry for the account's address
        (found as a sign-in would find it) becomes its identity and its groups' roles apply; the account's own
        password is removed, so that only the directory's works from now on. An operator's account is never handed
        over (its password stays the appliance's), nor one that signs in through another provider."""
        provider = self._providers.get(provider_id, kind="ldap")
        row = self._db.query_one("SELECT * FROM users WHERE id = ?", (user_id,))
        if row is None:
            raise NotFound("no such user")
        if row["is_operator"]:
            raise Conflict("an operator's account keeps its own password, so that the appliance can be run while a "
                           "directory is unreachable; it cannot be handed to a directory")
        if self._db.query_one("SELECT 1 FROM sso_identities WHERE user_id = ?", (user_id,)):
            raise Conflict(f"{row['email']} already signs in through a sign-in provider")
        directory = Directory(provider.directory, bind_password=self._providers.secret(provider))
        person = directory.look_up(row["email"])  # DirectoryUnreachable (503) when it cannot be asked
        if person is None:
            raise ValidationError(f"'provider_id': {provider.name} has no single entry that its user filter finds "
                                  f"for {row['email']}")
        if (person.email or "").strip().lower() != row["email"]:
            raise ValidationError(f"'provider_id': the entry {person.dn} in {provider.name} has the address "
                                  f"{person.email or 'none'}, not {row['email']}")
        identity = Identity(person.subject, row["email"], person.name, person.groups, dn=person.dn)
        with self._db.transaction() as conn:
            # The directory vouches for the address from now on, as for the accounts it makes.
            conn.execute("UPDATE users SET password_hash = NULL, email_verified_at = COALESCE(email_verified_at, ?) "
                         "WHERE id = ?", (isoformat(self._clock.now()), user_id))
            linked = self._sso.link(conn, provider, identity, client_address=client_address)
            self._audit.record("sso.directory_hand_over", actor_type="user", actor_id=actor_id, target_type="user",
                               target_id=user_id, client_address=client_address,
                               details={"provider": provider.id, "groups": len(person.groups),
                                        "roles_changed": len(linked.changes)}, conn=conn)
        return linked

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
