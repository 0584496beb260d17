"""Exports on demand: a whole workspace or one data subject, encrypted to the caller's passphrase, each audited by
what, by whom and how big (a subject by the hash of the address, never the address)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from appliance.audit.log import AuditLog
from appliance.clock import Clock, isoformat
from appliance.exports.archive import VERSION, WrittenArchive, check_passphrase, write_archive
from appliance.exports.subject_export import ACCOUNT_SCOPES, SubjectSearch, subject_email, subject_hash
from appliance.exports.workspace_export import WorkspaceExport, as_json
from appliance.storage.database import Database
from appliance.storage.encrypted_files import DEFAULT_SCRYPT, ScryptParameters
from appliance.storage.workspace_files import WorkspaceDatabases
from appliance.workspaces.service import WorkspaceService

SUFFIX = ".chatspark-export"


@dataclass(frozen=True)
class Requester:
    """Who asked for an export, as the audit log names them."""

    actor_type: str                  # user, api_key, system (the operator's command line)
    actor_id: str | None
    client_address: str | None = None
    via: str = "api"


@dataclass(frozen=True)
class ExportReceipt:
    kind: str                        # workspace or subject
    filename: str                    # a name to save it under
    files: int
    content_bytes: int
    archive_bytes: int
    counts: dict[str, int]


class ExportService:
    def __init__(self, db: Database, *, workspaces: WorkspaceService, files: WorkspaceDatabases, audit: AuditLog,
                 clock: Clock, appliance_id: str, scrypt: ScryptParameters = DEFAULT_SCRYPT) -> None:
        self._db = db
        self._workspaces = workspaces
        self._files = files
        self._audit = audit
        self._clock = clock
        self._appliance_id = appliance_id
        self._scrypt = scrypt
        self._subjects = SubjectSearch(db, files=files, audit=audit, clock=clock)

    def export_workspace(self, workspace_id: str, target: BinaryIO, *, passphrase: str,
                         requester: Requester) -> ExportReceipt:
        """Write the workspace's export, encrypted, into `target`. Works for cancelled workspaces too."""
        check_passphrase(passphrase)
        workspace = self._workspaces.get(workspace_id)
        now = self._clock.now()
        export = WorkspaceExport(self._files.open(workspace_id), workspace, clock=self._clock)

        def manifest(files) -> dict:
            return {"kind": "chatspark-workspace-export", "version": VERSION, "created_at": isoformat(now),
                    "appliance_id": self._appliance_id,
                    "workspace": {"id": workspace.id, "name": workspace.name, "status": workspace.status,
                                  "created_at": workspace.created_at},
                    "counts": export.counts}

        written = write_archive(target, export.entries(), manifest=manifest, passphrase=passphrase, moment=now,
                                scrypt=self._scrypt)
        receipt = _receipt("workspace", f"chatspark-workspace-{workspace.id}-{isoformat(now)[:10]}", written,
                           export.counts)
        self._audit.record("workspace.export", actor_type=requester.actor_type, actor_id=requester.actor_id,
                           target_type="workspace", target_id=workspace.id, workspace_id=workspace.id,
                           client_address=requester.client_address, details=_details(receipt, requester))
        return receipt

    def export_subject(self, email: str, target: BinaryIO, *, passphrase: str, workspace_ids: list[str],
                       account_scope: str, requester: Requester) -> ExportReceipt:
        """Write everything about `email` in `workspace_ids` (and its account, as `account_scope` allows) into
        `target`, encrypted: a `subject.json` beside the manifest."""
        email = subject_email(email)
        check_passphrase(passphrase)
        if account_scope not in ACCOUNT_SCOPES:
            raise ValueError(f"account_scope is one of {ACCOUNT_SCOPES}")
        workspaces = [self._workspaces.get(w) for w in dict.fromkeys(workspace_ids)]
        now = self._clock.now()
        found = self._subjects.collect(email, workspaces, account_scope=account_scope)
        document = {"kind": "chatspark-subject", "version": VERSION, "created_at": isoformat(now),
                    **found.document}

        def manifest(files) -> dict:
            return {"kind": "chatspark-subject-export", "version": VERSION, "created_at": isoformat(now),
                    "appliance_id": self._appliance_id, "subject": {"email": email}, "counts": found.counts}

        written = write_archive(target, [("subject.json", as_json(document))], manifest=manifest,
                                passphrase=passphrase, moment=now, scrypt=self._scrypt)
        receipt = _receipt("subject", f"chatspark-subject-{isoformat(now)[:10]}", written, found.counts)
        details = {**_details(receipt, requester), "subject_sha256": subject_hash(email),
                   "account_scope": account_scope}
        with self._db.transaction() as conn:
            self._audit.record("subject.export", actor_type=requester.actor_type, actor_id=requester.actor_id,
                               target_type="subject", client_address=requester.client_address, details=details,
                               conn=conn)
            # A row in each workspace the export took data from, so that workspace's own audit trail shows it.
            for workspace_id, counts in found.per_workspace.items():
                self._audit.record("subject.export", actor_type=requester.actor_type, actor_id=requester.actor_id,
                                   target_type="subject", workspace_id=workspace_id,
                                   client_address=requester.client_address,
                                   details={"subject_sha256": subject_hash(email), "counts": counts,
                                            "via": requester.via}, conn=conn)
        return receipt

    def workspace_ids(self) -> list[str]:
        """Every workspace on the appliance, for the operator's subject exports."""
        return [w.id for w in self._workspaces.list_all()]


def _receipt(kind: str, stem: str, written: WrittenArchive, counts: dict[str, int]) -> ExportReceipt:
    return ExportReceipt(kind, stem + SUFFIX, len(written.files), written.content_bytes,
                         written.archive_bytes, dict(counts))


def _details(receipt: ExportReceipt, requester: Requester) -> dict:
    return {"files": receipt.files, "content_bytes": receipt.content_bytes, "archive_bytes": receipt.archive_bytes,
            "counts": receipt.counts, "via": requester.via}
