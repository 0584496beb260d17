"""The manifest inside every backup: what each file is, its size and SHA-256, and the row counts of its tables."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

from appliance.errors import ValidationError

FORMAT = 1
NAME = "manifest.json"
CONTROL = "control"
WORKSPACE = "workspace"
IDENTITY = "identity"
CERTIFICATE = "certificate"
DATABASE_KINDS = (CONTROL, WORKSPACE)
# The tables whose rows are counted at backup time and compared after every restore.
CONTROL_TABLES = ("users", "workspaces", "memberships", "invitations", "api_keys", "agent_routes", "audit_log")
WORKSPACE_TABLES = ("agents", "sources", "qa_pairs", "chunks", "conversations", "messages", "leads",
                    "analytics_events")
_NAMES = {
    CONTROL: re.compile(r"^control\.db$"),
    WORKSPACE: re.compile(r"^workspaces/([a-z0-9][a-z0-9-]{0,62})\.db$"),
    IDENTITY: re.compile(r"^appliance\.json$"),
    CERTIFICATE: re.compile(r"^tls/[a-z0-9_-]{1,64}\.crt$"),
}


class BackupInvalid(ValidationError):
    """The archive decrypted, but what is inside is not what its manifest promises (or not a backup at all)."""

    code = "backup_invalid"


@dataclass(frozen=True)
class ManifestFile:
    name: str                      # its path inside the archive and under the data directory
    kind: str                      # control, workspace, identity or certificate
    size: int
    sha256: str
    workspace_id: str | None = None
    key_name: str | None = None    # databases: the keystore key the copy is encrypted under
    key_check: str | None = None   # databases: a MAC of that key (see keys.key_check)
    schema_version: int | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def is_database(self) -> bool:
        return self.kind in DATABASE_KINDS


@dataclass(frozen=True)
class Manifest:
    backup_id: str
    appliance_id: str
    created_at: str
    release: str
    files: tuple[ManifestFile, ...]
    skipped: tuple[dict, ...] = ()   # {"workspace_id", "reason"} for workspaces purged while the backup ran

    @property
    def workspace_ids(self) -> list[str]:
        return [f.workspace_id for f in self.files if f.kind == WORKSPACE]

    def file(self, name: str) -> ManifestFile | None:
        return next((f for f in self.files if f.name == name), None)

    def to_json(self) -> bytes:
        document = {"kind": "chatspark-backup", "format": FORMAT, "backup_id": self.backup_id,
                    "appliance_id": self.appliance_id, "created_at": self.created_at, "release": self.release,
                    "files": [asdict(f) for f in self.files], "skipped": list(self.skipped)}
        return json.dumps(document, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Manifest":
        try:
            document = json.loads(data)
            if document.get("kind") != "chatspark-backup":
                raise ValueError("not a backup manifest")
            if document.get("format") != FORMAT:
                raise ValueError(f"manifest format {document.get('format')!r} is not one this release reads")
            files = tuple(ManifestFile(**entry) for entry in document["files"])
            manifest = cls(str(document["backup_id"]), str(document["appliance_id"]), str(document["created_at"]),
                           str(document["release"]), files, tuple(document.get("skipped", ())))
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupInvalid(f"the backup's manifest is unreadable ({exc})") from None
        manifest.check_names()
        return manifest

    def check_names(self) -> None:
        """Every name is one a restore may write, of the kind it claims, and no name appears twice."""
        seen = set()
        for entry in self.files:
            pattern = _NAMES.get(entry.kind)
            match = pattern.fullmatch(entry.name) if pattern else None
            if match is None or entry.name in seen:
                raise BackupInvalid(f"the backup's manifest names an unexpected file {entry.name!r}")
            if entry.kind == WORKSPACE and match.group(1) != entry.workspace_id:
                raise BackupInvalid(f"the manifest's {entry.name} does not match its workspace id")
            seen.add(entry.name)
        if sum(1 for f in self.files if f.kind == CONTROL) != 1:
            raise BackupInvalid("the backup's manifest lists no control database")
