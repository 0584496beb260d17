"""The audit MAC key's versions: `audit:mac` is version 1, `audit:mac:<n>` version n; the newest signs new rows."""

from __future__ import annotations

import re

from appliance.audit.log import AuditLog
from appliance.audit.repeats import RepeatedRefusals
from appliance.clock import Clock
from appliance.errors import UnknownKey
from appliance.keys.keystore import Keystore
from appliance.storage.database import Database

AUDIT_MAC_KEY = "audit:mac"
PURPOSE = "audit log HMAC chain"
_VERSIONED = re.compile(r"^audit:mac:([1-9][0-9]*)$")


def key_name(version: int) -> str:
    # Version 1 keeps the name it had before the key could rotate, so logs written then verify unchanged.
    return AUDIT_MAC_KEY if version == 1 else f"{AUDIT_MAC_KEY}:{version}"


def version_of(name: str) -> int | None:
    """The audit key version `name` holds, or None for a key that is not an audit key."""
    if name == AUDIT_MAC_KEY:
        return 1
    match = _VERSIONED.fullmatch(name)
    return int(match.group(1)) if match else None


def versions(keystore: Keystore) -> dict[int, str]:
    """Key name by version, for every audit key version the keystore holds."""
    return {v: r.name for r in keystore.records() if (v := version_of(r.name)) is not None}


def audit_log(db: Database, *, keystore: Keystore, clock: Clock, repeats: RepeatedRefusals | None = None) -> AuditLog:
    """The audit log of `db` under every audit key version the keystore holds: the newest signs, all verify;
    `repeats` summarises repeated refusals (the serving process's log)."""
    named = versions(keystore)
    if not named:
        raise UnknownKey("the keystore holds no audit MAC key; open the appliance through open_appliance, which "
                         "makes one")
    newest = max(named)
    return AuditLog(db, key=keystore.get(named[newest]), key_version=newest, clock=clock,
                    earlier_keys={v: keystore.get(name) for v, name in named.items() if v != newest},
                    repeats=repeats)
