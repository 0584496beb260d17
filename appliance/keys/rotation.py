"""Key rotation: each database rekeyed under a new key (all-or-nothing per file), new backup and audit key versions.

A database's key is replaced and its earlier material kept as a retired key (the keystore's retired_keys), so
backups made before a rotation still verify and restore, with a kit exported before or after it. Backup and audit keys
gain a version instead, the older ones kept: backups made under `backup:1` still decrypt, and audit rows signed under
version 1 still verify.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from appliance.audit import keys as audit_keys
from appliance.backups import keys as backup_keys
from appliance.bootstrap import Appliance
from appliance.errors import DataDirectoryBusy, ValidationError
from appliance.keys.database_keys import rekey_database
from appliance.keys.keystore import CONTROL_DB_KEY, KeyRecord, workspace_db_key

PARTS = ("control", "workspaces", "backup", "audit")
BACKUP_PURPOSE = "backup encryption"


@dataclass(frozen=True)
class Rotated:
    """One key rotated: `from_version` is None for the first version of a key (a backup key made by rotation)."""

    part: str
    key_name: str
    from_version: int | None
    to_version: int
    workspace_id: str | None = None


def rotate(appliance: Appliance, *, parts: Iterable[str] = PARTS) -> list[Rotated]:
    """Rotate the keys of `parts` in the order of PARTS, auditing each as soon as it is done.

    `appliance` must be opened with open_appliance(..., exclusive=True): no other process may have a database open
    while it is rekeyed. A failure stops here: keys already rotated stay rotated (and audited), the database in hand
    is under its old key or its new one, and running the rotation again rotates everything again.
    """
    wanted = set(parts)
    if unknown := wanted - set(PARTS):
        raise ValidationError(f"unknown key part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    if appliance.lock is None or not appliance.lock.exclusive:
        raise DataDirectoryBusy("key rotation needs the appliance opened exclusively (open_appliance(exclusive=True))")
    steps = {"control": _control, "workspaces": _workspaces, "backup": _backup, "audit": _audit}
    done = []
    for part in PARTS:
        if part in wanted:
            for rotated in steps[part](appliance):
                _record(appliance, rotated)
                done.append(rotated)
    return done


def key_version(record: KeyRecord) -> int:
    """The version a key stands for: the number of a versioned name (backup:<n>, audit:mac:<n>), else how many
    materials it has had (a database key rekeyed once is at version 2)."""
    numbered = backup_keys.number_of(record.name) or audit_keys.version_of(record.name)
    return numbered if numbered is not None else record.version


def _control(appliance: Appliance) -> Iterator[Rotated]:
    before, after = rekey_database(appliance.keystore, CONTROL_DB_KEY, appliance.control_db)
    yield Rotated("control", CONTROL_DB_KEY, before, after)


def _workspaces(appliance: Appliance) -> Iterator[Rotated]:
    for workspace_id in appliance.workspaces.with_keys():
        if not appliance.layout.workspace_db(workspace_id).exists():
            continue  # a key whose file a crash kept from being made: there is nothing under it to rekey
        name = workspace_db_key(workspace_id)
        db = appliance.workspaces.open(workspace_id)
        try:
            before, after = rekey_database(appliance.keystore, name, db)
        finally:
            appliance.workspaces.release(workspace_id)
        yield Rotated("workspaces", name, before, after, workspace_id)


def _backup(appliance: Appliance) -> Iterator[Rotated]:
    numbers = [n for r in appliance.keystore.records() if (n := backup_keys.number_of(r.name)) is not None]
    newest = max(numbers, default=0)
    name = f"{backup_keys.PREFIX}{newest + 1}"
    appliance.keystore.create_key(name, purpose=BACKUP_PURPOSE)
    yield Rotated("backup", name, newest or None, newest + 1)


def _audit(appliance: Appliance) -> Iterator[Rotated]:
    newest = max(audit_keys.versions(appliance.keystore))
    name = audit_keys.key_name(newest + 1)
    appliance.keystore.create_key(name, purpose=audit_keys.PURPOSE)
    # Recorded under the new key: the chain carries on from the last row signed under the old one.
    yield Rotated("audit", name, newest, newest + 1)


def _record(appliance: Appliance, rotated: Rotated) -> None:
    log = audit_keys.audit_log(appliance.control_db, keystore=appliance.keystore, clock=appliance.clock)
    log.record("key.rotate", actor_type="system", actor_id="cli", target_type="key", target_id=rotated.key_name,
               workspace_id=rotated.workspace_id,
               details={"part": rotated.part, "from_version": rotated.from_version,
                        "to_version": rotated.to_version})
