"""Numbered `.sql` migrations per database kind, tracked by PRAGMA user_version, one transaction each."""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance import resources
from appliance.errors import DatabaseTooNew, MigrationFailed
from appliance.storage.database import Database

KINDS = ("keystore", "control", "workspace")
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    sql: str


def migrations_for(kind: str) -> list[Migration]:
    """The migrations of one database kind, in order; numbers must run 1, 2, 3... without gaps."""
    if kind not in KINDS:
        raise ValueError(f"unknown database kind {kind!r}")
    folder = resources.migrations_dir(kind)
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.number)
    for expected, migration in enumerate(found, start=1):
        if migration.number != expected:
            raise MigrationFailed(f"{kind} migrations skip from {expected - 1} to {migration.number}")
    return found


def migrate(db: Database, kind: str) -> list[str]:
    """Apply the pending migrations of `kind` to `db`; return the names applied."""
    pending = migrations_for(kind)
    current = db.user_version()
    latest = pending[-1].number if pending else 0
    if current > latest:
        raise DatabaseTooNew(
            f"{db.path.name} is at schema version {current}, newer than this release knows ({latest}); "
            "run the release that created it"
        )
    applied = []
    for migration in pending:
        if migration.number <= current:
            continue
        try:
            db.execute_script_in_transaction(f"{migration.sql}\nPRAGMA user_version = {migration.number};")
        except Exception as exc:
            raise MigrationFailed(f"{db.path.name}: migration {migration.name} failed: {exc}") from exc
        applied.append(migration.name)
    return applied
