"""The OpenID Connect providers operators configure, and how each one's groups map to workspace roles. The client
secret is kept inside the encrypted control database and never shown again; every change is audited."""

from __future__ import annotations

import json
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path

from appliance.accounts import names
from appliance.accounts.oidc import check_issuer
from appliance.audit.log import AuditLog
from appliance.clock import Clock, isoformat
from appliance.errors import NotFound, ValidationError
from appliance.storage.database import Database

MAPPABLE_ROLES = ("admin", "editor", "viewer")  # ownership is never given by a directory


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

    def public(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class GroupRole:
    group: str
    workspace_id: str
    role: str

    def public(self) -> dict:
        return {"group": self.group, "workspace_id": self.workspace_id, "role": self.role}


def _provider(row) -> Provider:
    return Provider(row["id"], row["name"], row["issuer"], row["client_id"], row["ca_file"],
                    json.loads(row["allowed_domains"]), json.loads(row["allowed_groups"]), row["groups_claim"],
                    bool(row["password_login"]), row["created_at"])


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

    def list(self) -> list[Provider]:
        return [_provider(r) for r in self._db.query("SELECT * FROM sso_providers ORDER BY name, id")]

    def get(self, provider_id: str) -> Provider:
        row = self._db.query_one("SELECT * FROM sso_providers WHERE id = ?", (provider_id,))
        if row is None:
            raise NotFound(f"no sign-in provider {provider_id}")
        return _provider(row)

    def secret(self, provider_id: str) -> str:
        self.get(provider_id)
        return self._db.query_one("SELECT client_secret FROM sso_providers WHERE id = ?", (provider_id,))[0]

    def create(self, settings: dict, *, actor_id: str, client_address: str | None) -> Provider:
        values = self._checked(settings, creating=True)
        provider_id = secrets.token_hex(6)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO sso_providers (id, name, issuer, client_id, client_secret, ca_file, allowed_domains, "
                "allowed_groups, groups_claim, password_login, created_at, created_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (provider_id, values["name"], values["issuer"], values["client_id"], values["client_secret"],
                 values.get("ca_file"), json.dumps(values.get("allowed_domains", [])),
                 json.dumps(values.get("allowed_groups", [])), values.get("groups_claim", "groups"),
                 int(values.get("password_login", True)), isoformat(self._clock.now()), actor_id))
            self._audit.record("sso.provider_create", actor_type="user", actor_id=actor_id,
                               target_type="sso_provider", target_id=provider_id, client_address=client_address,
                               details={"name": values["name"], "issuer": values["issuer"]}, conn=conn)
        return self.get(provider_id)

    def update(self, provider_id: str, changes: dict, *, actor_id: str, client_address: str | None) -> Provider:
        self.get(provider_id)
        values = self._checked(changes, creating=False)
        stored = {k: json.dumps(v) if k in ("allowed_domains", "allowed_groups") else
                  int(v) if k == "password_login" else v for k, v in values.items()}
        if stored:
            with self._db.transaction() as conn:
                conn.execute(f"UPDATE sso_providers SET {', '.join(f'{k} = ?' for k in stored)} WHERE id = ?",
                             [*stored.values(), provider_id])
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

    def _checked(self, data: dict, *, creating: bool) -> dict:
        if not isinstance(data, dict):
            raise ValidationError("the provider's settings are a JSON object")
        allowed = {"name", "issuer", "client_id", "client_secret", "ca_file", "allowed_domains", "allowed_groups",
                   "groups_claim", "password_login"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValidationError(f"unknown provider setting(s): {', '.join(unknown)}")
        out: dict = {}
        for key in ("name", "issuer", "client_id", "client_secret"):
            if key in data or creating:
                value = data.get(key)
                if not isinstance(value, str) or not value.strip():
                    raise ValidationError(f"'{key}' is required")
                out[key] = value.strip()
        if "name" in out:
            out["name"] = names.check_name(out["name"], what="a provider's name")
        if "issuer" in out:
            out["issuer"] = check_issuer(out["issuer"])
        if data.get("ca_file") is not None:
            out["ca_file"] = _ca_file(data["ca_file"])
        for key in ("allowed_domains", "allowed_groups"):
            if key in data:
                out[key] = _texts(data[key], key)
        if "groups_claim" in data:
            if not isinstance(data["groups_claim"], str) or not data["groups_claim"].strip():
                raise ValidationError("'groups_claim' names the ID token claim that lists the user's groups")
            out["groups_claim"] = data["groups_claim"].strip()
        if "password_login" in data:
            if not isinstance(data["password_login"], bool):
                raise ValidationError("'password_login' is true or false")
            out["password_login"] = data["password_login"]
        return out
