"""The sign-in providers operators configure (OpenID Connect providers and LDAP / Active Directory directories),
and how each one's groups map to workspace roles. Client secrets and bind passwords are kept inside the encrypted
control database and never shown again; every change is audited."""

from __future__ import annotations

import json
import re
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path

from appliance.accounts import names
from appliance.accounts.ldap import Directory, DirectorySettings, DirectoryUnreachable, check_url
from appliance.accounts.oidc import check_issuer
from appliance.audit.log import AuditLog
from appliance.clock import Clock, isoformat
from appliance.errors import NotFound, ValidationError
from appliance.storage.database import Database

MAPPABLE_ROLES = ("admin", "editor", "viewer")  # ownership is never given by a directory
KINDS = ("oidc", "ldap")
_KIND_NAMES = {"oidc": "OpenID Connect provider", "ldap": "LDAP directory"}
_COMMON = {"name", "ca_file", "allowed_domains", "allowed_groups"}
_OIDC = {"issuer", "client_id", "client_secret", "groups_claim", "password_login"}
_LDAP = {"url", "start_tls", "bind_dn", "bind_password", "user_base", "user_filter", "group_base", "group_filter",
         "email_attribute", "name_attribute"}
MAX_SETTING = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
LDAP_DEFAULTS = {"start_tls": False, "bind_dn": None, "bind_password": "", "user_filter": "(mail={login})",
                 "group_base": None, "group_filter": "(|(member={dn})(uniqueMember={dn}))",
                 "email_attribute": "mail", "name_attribute": "cn"}


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    issuer: str
    client_id: str
    ca_file: str | None
    allowed_domains: list[str]
    allowed_groups: list[str]
    groups_claim: str
    password_login: bool
    created_at: str
    kind: str = "oidc"
    directory: DirectorySettings | None = None  # an LDAP directory's settings

    def public(self) -> dict:
        common = {"id": self.id, "kind": self.kind, "name": self.name, "ca_file": self.ca_file,
                  "allowed_domains": self.allowed_domains, "allowed_groups": self.allowed_groups,
                  "created_at": self.created_at}
        if self.directory is not None:
            return {**common, **{k: getattr(self.directory, k) for k in sorted(_LDAP - {"bind_password"})}}
        return {**common, "issuer": self.issuer, "client_id": self.client_id, "groups_claim": self.groups_claim,
                "password_login": self.password_login}


@dataclass(frozen=True)
class GroupRole:
    group: str
    workspace_id: str
    role: str

    def public(self) -> dict:
        return {"group": self.group, "workspace_id": self.workspace_id, "role": self.role}


_SELECT = ("SELECT p.*, d.url, d.start_tls, d.bind_dn, d.user_base, d.user_filter, d.group_base, d.group_filter, "
           "d.email_attribute, d.name_attribute FROM sso_providers p "
           "LEFT JOIN ldap_directories d ON d.provider_id = p.id")


def _provider(row) -> Provider:
    directory = None
    if row["kind"] == "ldap":
        directory = DirectorySettings(row["url"], bool(row["start_tls"]), row["bind_dn"], row["user_base"],
                                      row["user_filter"], row["group_base"], row["group_filter"],
                                      row["email_attribute"], row["name_attribute"], row["ca_file"])
    return Provider(row["id"], row["name"], row["issuer"], row["client_id"], row["ca_file"],
                    json.loads(row["allowed_domains"]), json.loads(row["allowed_groups"]), row["groups_claim"],
                    bool(row["password_login"]), row["created_at"], row["kind"], directory)


def _ca_file(value) -> str:
    """A PEM file of CA certificates on the appliance that TLS can load (an internal IdP's CA)."""
    try:
        if not isinstance(value, str) or not Path(value).is_file():
            raise ValueError
        ssl.create_default_context(cafile=value)
    except (ValueError, OSError, ssl.SSLError):
        raise ValidationError("'ca_file' is the path of a readable PEM file of CA certificates on the appliance") \
            from None
    return value


def _texts(value, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value) or len(value) > 100:
        raise ValidationError(f"'{what}' is a list of at most 100 names")
    return sorted({v.strip().lower() if what == "allowed_domains" else v.strip() for v in value})


class SsoProviders:
    def __init__(self, db: Database, *, clock: Clock, audit: AuditLog) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit

    def list(self, kind: str | None = None) -> list[Provider]:
        found = [_provider(r) for r in self._db.query(f"{_SELECT} ORDER BY p.name, p.id")]
        return [p for p in found if kind is None or p.kind == kind]

    def get(self, provider_id: str, kind: str | None = None) -> Provider:
        row = self._db.query_one(f"{_SELECT} WHERE p.id = ?", (provider_id,))
        if row is None or kind not in (None, row["kind"]):
            raise NotFound(f"no {_KIND_NAMES.get(kind, 'sign-in provider')} {provider_id}")
        return _provider(row)

    def secret(self, provider: Provider) -> str:
        """The client secret of an OpenID Connect provider, the bind password of a directory."""
        if provider.kind == "ldap":
            return self._db.query_one("SELECT bind_password FROM ldap_directories WHERE provider_id = ?",
                                      (provider.id,))[0]
        return self._db.query_one("SELECT client_secret FROM sso_providers WHERE id = ?", (provider.id,))[0]

    def check_connection(self, provider_id: str) -> tuple[bool, str]:
        """Whether the directory answers as its settings say (encrypted, verified, the service account bound, the
        user base found), and a sentence saying what was found or what went wrong."""
        provider = self.get(provider_id, kind="ldap")
        try:
            return True, Directory(provider.directory, bind_password=self.secret(provider)).check()
        except DirectoryUnreachable as exc:
            return False, str(exc)

    def create(self, settings: dict, *, actor_id: str, client_address: str | None) -> Provider:
        if not isinstance(settings, dict):
            raise ValidationError("the provider's settings are a JSON object")
        kind = settings.get("kind", "oidc")
        if kind not in KINDS:
            raise ValidationError("'kind' is oidc (OpenID Connect) or ldap (an LDAP or Active Directory directory)")
        values = self._checked({k: v for k, v in settings.items() if k != "kind"}, kind=kind, creating=True)
        if kind == "ldap":
            values = {**LDAP_DEFAULTS, **values}
            values["url"] = check_url(values["url"], start_tls=values["start_tls"])
        provider_id = secrets.token_hex(6)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO sso_providers (id, kind, name, issuer, client_id, client_secret, ca_file, "
                "allowed_domains, allowed_groups, groups_claim, password_login, created_at, created_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (provider_id, kind, values["name"], values.get("issuer", ""), values.get("client_id", ""),
                 values.get("client_secret", ""), values.get("ca_file"),
                 json.dumps(values.get("allowed_domains", [])), json.dumps(values.get("allowed_groups", [])),
                 values.get("groups_claim", "groups" if kind == "oidc" else ""),
                 int(values.get("password_login", True)), isoformat(self._clock.now()), actor_id))
            if kind == "ldap":
                columns = sorted(_LDAP)
                conn.execute(f"INSERT INTO ldap_directories (provider_id, {', '.join(columns)}) "
                             f"VALUES (?{', ?' * len(columns)})", [provider_id, *(values[c] for c in columns)])
            self._audit.record("sso.provider_create", actor_type="user", actor_id=actor_id,
                               target_type="sso_provider", target_id=provider_id, client_address=client_address,
                               details={"name": values["name"], "kind": kind,
                                        "where": values.get("issuer") or values.get("url")}, conn=conn)
        return self.get(provider_id)

    def update(self, provider_id: str, changes: dict, *, actor_id: str, client_address: str | None) -> Provider:
        provider = self.get(provider_id)
        values = self._checked(changes, kind=provider.kind, creating=False)
        if provider.kind == "ldap" and {"url", "start_tls"} & set(values):
            current = provider.directory
            values["url"] = check_url(values.get("url", current.url),
                                      start_tls=values.get("start_tls", current.start_tls))
        stored = {k: json.dumps(v) if k in ("allowed_domains", "allowed_groups") else
                  int(v) if k in ("password_login", "start_tls") else v for k, v in values.items()}
        if stored:
            common = {k: v for k, v in stored.items() if k not in _LDAP}
            directory = {k: v for k, v in stored.items() if k in _LDAP}
            with self._db.transaction() as conn:
                if common:
                    conn.execute(f"UPDATE sso_providers SET {', '.join(f'{k} = ?' for k in common)} WHERE id = ?",
                                 [*common.values(), provider_id])
                if directory:
                    conn.execute(f"UPDATE ldap_directories SET {', '.join(f'{k} = ?' for k in directory)} "
                                 "WHERE provider_id = ?", [*directory.values(), provider_id])
                self._audit.record("sso.provider_update", actor_type="user", actor_id=actor_id,
                                   target_type="sso_provider", target_id=provider_id, client_address=client_address,
                                   details={"fields": sorted(stored)}, conn=conn)
        return self.get(provider_id)

    def delete(self, provider_id: str, *, actor_id: str, client_address: str | None) -> None:
        provider = self.get(provider_id)
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM sso_providers WHERE id = ?", (provider_id,))
            self._audit.record("sso.provider_delete", actor_type="user", actor_id=actor_id,
                               target_type="sso_provider", target_id=provider_id, client_address=client_address,
                               details={"name": provider.name}, conn=conn)

    def group_roles(self, provider_id: str) -> list[GroupRole]:
        self.get(provider_id)
        return [GroupRole(r["group_name"], r["workspace_id"], r["role"]) for r in self._db.query(
            "SELECT * FROM sso_group_roles WHERE provider_id = ? ORDER BY group_name, workspace_id", (provider_id,))]

    def set_group_roles(self, provider_id: str, mappings, *, actor_id: str, client_address: str | None
                        ) -> list[GroupRole]:
        """Replace the provider's mapping table: which role each group gives in which workspace (applied at each
        member's next sign-in)."""
        self.get(provider_id)
        if not isinstance(mappings, list) or len(mappings) > 1000:
            raise ValidationError("'group_roles' is a list of {group, workspace_id, role}")
        rows = []
        for item in mappings:
            if not isinstance(item, dict):
                raise ValidationError("each mapping is {group, workspace_id, role}")
            group = names.check_name(item.get("group"), what="a mapping's 'group'", max_length=256)
            if not isinstance(item.get("workspace_id"), str) or not item["workspace_id"].strip():
                raise ValidationError("each mapping names its 'workspace_id'")
            if item.get("role") not in MAPPABLE_ROLES:
                raise ValidationError("a mapping's 'role' is admin, editor or viewer (ownership is never mapped)")
            rows.append((provider_id, group, item["workspace_id"], item["role"]))
        with self._db.transaction() as conn:
            known = {r["id"] for r in conn.execute("SELECT id FROM workspaces WHERE status != 'purged'")}
            unknown = sorted({row[2] for row in rows} - known)
            if unknown:
                raise NotFound(f"no workspace {', '.join(unknown)[:200]}")
            conn.execute("DELETE FROM sso_group_roles WHERE provider_id = ?", (provider_id,))
            conn.executemany("INSERT OR REPLACE INTO sso_group_roles (provider_id, group_name, workspace_id, role) "
                             "VALUES (?, ?, ?, ?)", rows)
            self._audit.record("sso.group_roles_update", actor_type="user", actor_id=actor_id,
                               target_type="sso_provider", target_id=provider_id, client_address=client_address,
                               details={"mappings": len(rows)}, conn=conn)
        return self.group_roles(provider_id)

    def _checked(self, data: dict, *, kind: str, creating: bool) -> dict:
        if not isinstance(data, dict):
            raise ValidationError("the provider's settings are a JSON object")
        if "kind" in data:
            raise ValidationError("'kind' is chosen when the provider is added and cannot change")
        unknown = sorted(set(data) - _COMMON - (_LDAP if kind == "ldap" else _OIDC))
        if unknown:
            raise ValidationError(f"unknown {'directory' if kind == 'ldap' else 'provider'} setting(s): "
                                  f"{', '.join(unknown)}")
        if kind == "ldap":
            return {**self._common(data, creating=creating), **_directory_settings(data, creating=creating)}
        out = self._common(data, creating=creating)
        for key in ("issuer", "client_id", "client_secret"):
            if key in data or creating:
                value = data.get(key)
                if not isinstance(value, str) or not value.strip():
                    raise ValidationError(f"'{key}' is required")
                out[key] = value.strip()
        if "issuer" in out:
            out["issuer"] = check_issuer(out["issuer"])
        if "groups_claim" in data:
            if not isinstance(data["groups_claim"], str) or not data["groups_claim"].strip():
                raise ValidationError("'groups_claim' names the ID token claim that lists the user's groups")
            out["groups_claim"] = data["groups_claim"].strip()
        if "password_login" in data:
            if not isinstance(data["password_login"], bool):
                raise ValidationError("'password_login' is true or false")
            out["password_login"] = data["password_login"]
        return out

    def _common(self, data: dict, *, creating: bool) -> dict:
        out: dict = {}
        if "name" in data or creating:
            out["name"] = names.check_name(data.get("name"), what="a provider's name")
        if "ca_file" in data:
            out["ca_file"] = None if data["ca_file"] is None else _ca_file(data["ca_file"])
        for key in ("allowed_domains", "allowed_groups"):
            if key in data:
                out[key] = _texts(data[key], key)
        return out


def _directory_settings(data: dict, *, creating: bool) -> dict:
    """An LDAP directory's own settings, each checked (the URL with StartTLS by the caller, which knows both)."""
    for key in sorted(set(data) & (_LDAP - {"bind_password", "start_tls"})):
        if isinstance(data[key], str) and (len(data[key]) > MAX_SETTING or _CONTROL.search(data[key])):
            raise ValidationError(f"'{key}' is at most {MAX_SETTING} characters, without control characters")
    out: dict = {}
    for key in ("url", "user_base"):
        if key in data or creating:
            if not isinstance(data.get(key), str) or not data[key].strip():
                raise ValidationError(f"'{key}' is required" + (": ldaps://host[:port], or ldap://host[:port] with "
                                                                "StartTLS" if key == "url" else ": the DN under "
                                                                "which people are found"))
            out[key] = data[key].strip()
    for key, marker in (("user_filter", "{login}"), ("group_filter", "{dn}")):
        if key in data:
            value = data[key]
            if not isinstance(value, str) or marker not in value or not value.strip().startswith("("):
                raise ValidationError(f"'{key}' is an LDAP filter in parentheses with {marker} where the "
                                      f"{'name typed at sign-in' if marker == '{login}' else 'user DN'} goes")
            out[key] = value.strip()
    for key in ("bind_dn", "group_base"):
        if key in data:
            if data[key] is not None and not isinstance(data[key], str):
                raise ValidationError(f"'{key}' is a DN, or null")
            out[key] = (data[key] or "").strip() or None
    if "bind_password" in data:
        if not isinstance(data["bind_password"], str):
            raise ValidationError("'bind_password' is the service account's password")
        out["bind_password"] = data["bind_password"]
    for key in ("email_attribute", "name_attribute"):
        if key in data:
            if not isinstance(data[key], str) or not data[key].strip().replace("-", "").isalnum():
                raise ValidationError(f"'{key}' is an attribute name (letters, digits and hyphens)")
            out[key] = data[key].strip()
    if "start_tls" in data:
        if not isinstance(data["start_tls"], bool):
            raise ValidationError("'start_tls' is true or false")
        out["start_tls"] = data["start_tls"]
    return out
