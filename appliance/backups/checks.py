"""Opening every database of an unpacked backup with its key, checking integrity and comparing row counts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from appliance.backups.keys import key_check
from appliance.backups.manifest import CONTROL_TABLES, WORKSPACE, WORKSPACE_TABLES, Manifest, ManifestFile
from appliance.backups.snapshot import row_counts
from appliance.errors import StorageError
from appliance.storage.database import Database

OK, PURGED, FAILED = "ok", "purged", "failed"
PURGED_MESSAGE = "purged — cannot be opened (the workspace's key was destroyed)"


@dataclass(frozen=True)
class FileCheck:
    name: str
    kind: str
    workspace_id: str | None
    status: str                  # ok, purged or failed
    problem: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    under_retired_key: bool = False   # opened with a material its key had before a rotation

    def as_dict(self) -> dict:
        return asdict(self)


def check_databases(scratch: Path, manifest: Manifest, *,
                    keys_for: Callable[[str], list[bytes]]) -> list[FileCheck]:
    """One check per database, opened with the material of its key it was made under: `keys_for` gives the key's
    current material first, then its retired ones (empty when the key no longer exists)."""
    return [_check(scratch / entry.name, entry, keys_for(entry.key_name))
            for entry in manifest.files if entry.is_database]


def matching_key(entry: ManifestFile, candidates: list[bytes]) -> bytes | None:
    return next((key for key in candidates if key_check(key) == entry.key_check), None)


def _check(path: Path, entry: ManifestFile, candidates: list[bytes]) -> FileCheck:
    def result(status: str, problem: str | None = None, counts: dict | None = None) -> FileCheck:
        return FileCheck(entry.name, entry.kind, entry.workspace_id, status, problem, counts or {},
                         bool(candidates) and key is not None and key != candidates[0])

    key = matching_key(entry, candidates)
    if not candidates:
        if entry.kind == WORKSPACE:
            return result(PURGED, PURGED_MESSAGE)
        return result(FAILED, f"no key {entry.key_name} to open {entry.name}")
    if key is None:
        return result(FAILED, f"{entry.name} was encrypted under a material of {entry.key_name} that is no longer "
                              "kept (neither the current one nor a retired one)")
    try:
        Database.check_file(path, key)
        with Database(path, key) as db:
            counts = row_counts(db, CONTROL_TABLES if entry.kind != WORKSPACE else WORKSPACE_TABLES)
    except StorageError as exc:
        return result(FAILED, str(exc))
    differing = [f"{table}: {counts.get(table)} rows, the manifest says {expected}"
                 for table, expected in entry.counts.items() if counts.get(table) != expected]
    if differing:
        return result(FAILED, f"{entry.name} row counts differ from the manifest ({'; '.join(differing)})", counts)
    return result(OK, counts=counts)
