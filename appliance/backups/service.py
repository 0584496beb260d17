"""Making, listing, verifying and pruning backups of this appliance, with their index in the control database."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from appliance import __version__
from appliance.audit.log import AuditLog
from appliance.backups import archive, checks, index, lock
from appliance.backups.index import COMPLETE, FAILED, PASSED, RUNNING, Backup
from appliance.backups.keys import current_key, number_of
from appliance.backups.manifest import (
    CERTIFICATE,
    CONTROL,
    CONTROL_TABLES,
    IDENTITY,
    WORKSPACE,
    WORKSPACE_TABLES,
    BackupInvalid,
    Manifest,
    ManifestFile,
)
from appliance.backups.snapshot import copy_database, file_sha256
from appliance.bootstrap import Appliance
from appliance.clock import isoformat
from appliance.errors import Conflict, NotFound, StorageError
from appliance.keys.keystore import CONTROL_DB_KEY, workspace_db_key
from appliance.storage.durable import sync_directory
from appliance.storage.encrypted_files import EncryptedFileError, Header
from appliance.storage.layout import make_private_dir

log = logging.getLogger(__name__)

SUFFIX = ".backup"
PARTIAL = ".partial"
INTERRUPTED = "interrupted: the process stopped before the backup was complete"


@dataclass(frozen=True)
class Actor:
    """Who asked, as the audit log names them; the scheduler and the CLI are the system."""

    type: str = "system"
    id: str | None = None
    client_address: str | None = None


SYSTEM = Actor()


@dataclass(frozen=True)
class PruneResult:
    deleted: list[str]
    kept: list[str]


class BackupService:
    """Backups of every database of one appliance into `directory`, keeping the `keep` most recent."""

    def __init__(self, appliance: Appliance, *, audit: AuditLog, directory: Path, keep: int) -> None:
        if keep < 1:
            raise ValueError("keep at least one backup")
        self._appliance = appliance
        self._db = appliance.control_db
        self._keystore = appliance.keystore
        self._clock = appliance.clock
        self._audit = audit
        self.directory = Path(directory)
        self.keep = keep

    # Reading the index -------------------------------------------------------------------------------------------

    def list(self) -> list[Backup]:
        """Every backup, newest first; leftovers of an interrupted backup are tidied first when nothing runs."""
        if self.directory.is_dir():
            with lock.attempt(self.directory) as taken:
                if taken:
                    self._tidy()
        return index.all_backups(self._db)

    def get(self, backup_id: str) -> Backup:
        found = index.find(self._db, backup_id)
        if found is None:
            raise NotFound(f"no backup {backup_id}; `chatspark backup list` shows them")
        return found

    def path_of(self, backup: Backup) -> Path:
        return self.directory / backup.file_name

    def describe(self, backup: Backup) -> dict:
        """The backup as the API and `backup list --json` show it, with whether its file is still there."""
        return {"id": backup.id, "created_at": backup.created_at, "file_name": backup.file_name,
                "key_id": backup.key_id, "status": backup.status, "size": backup.size, "sha256": backup.sha256,
                "finished_at": backup.finished_at, "error": backup.error,
                "file_present": self.path_of(backup).is_file(), "workspace_ids": list(backup.workspace_ids),
                "verified_at": backup.verified_at, "verification_status": backup.verification_status,
                "verification": backup.verification}

    def latest_complete(self) -> Backup | None:
        return next((b for b in index.all_backups(self._db) if b.status == COMPLETE), None)

    # Making a backup ---------------------------------------------------------------------------------------------

    def create(self, *, actor: Actor = SYSTEM) -> Backup:
        """Copy every database and the files a restore needs, pack and encrypt them, and index the result."""
        make_private_dir(self.directory)
        with lock.holding(self.directory):
            self._tidy()
            now = self._clock.now()
            backup_id = uuid.uuid4().hex[:16]
            file_name = f"backup-{now:%Y%m%dT%H%M%SZ}-{backup_id}{SUFFIX}"
            partial = self.directory / (file_name + PARTIAL)
            staging = Path(tempfile.mkdtemp(prefix=f"{file_name}.", suffix=PARTIAL, dir=self.directory))
            indexed = False
            try:
                key_id, key = current_key(self._keystore)
                # The control database is copied before this backup's own row exists, so a restore from it does
                # not hold a 'running' row for a backup that in truth completed.
                control, workspace_ids = self._copy_control(staging)
                with self._db.transaction() as conn:
                    index.insert_running(conn, backup_id=backup_id, created_at=isoformat(now), file_name=file_name,
                                         key_id=key_id, workspace_ids=workspace_ids)
                indexed = True
                files, skipped = [control], []
                for workspace_id in workspace_ids:
                    entry = self._copy_workspace(workspace_id, staging)
                    if entry is None:
                        skipped.append({"workspace_id": workspace_id, "reason": "purged while the backup ran"})
                    else:
                        files.append(entry)
                files += self._copy_small_files(staging)
                manifest = Manifest(backup_id, self._appliance.appliance_id, isoformat(now), __version__,
                                    tuple(files), tuple(skipped))
                size, sha256 = self._write(staging, manifest, partial, key=key, key_id=key_id)
                os.replace(partial, self.directory / file_name)
                sync_directory(self.directory)
                with self._db.transaction() as conn:
                    index.complete(conn, backup_id, size=size, sha256=sha256,
                                   finished_at=isoformat(self._clock.now()), workspace_ids=manifest.workspace_ids)
                    self._audit.record(
                        "backup.create", actor_type=actor.type, actor_id=actor.id, target_type="backup",
                        target_id=backup_id, client_address=actor.client_address,
                        details={"file": file_name, "size": size, "key_id": key_id,
                                 "workspaces": len(manifest.workspace_ids),
                                 "skipped_purged": [s["workspace_id"] for s in skipped]}, conn=conn)
            except Exception as exc:
                partial.unlink(missing_ok=True)
                self._record_failure(backup_id if indexed else None, exc, actor)
                if isinstance(exc, OSError):
                    raise StorageError(f"the backup could not be made: {exc}") from exc
                raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return self.get(backup_id)

    def _copy_control(self, staging: Path) -> tuple[ManifestFile, list[str]]:
        workspace_ids: list[str] = []
        entry = copy_database(
            self._db, self._keystore.get(CONTROL_DB_KEY), staging / "control.db", kind=CONTROL, name="control.db",
            key_name=CONTROL_DB_KEY, tables=CONTROL_TABLES,
            inspect=lambda copy: workspace_ids.extend(r["id"] for r in copy.query("SELECT id FROM workspaces")))
        return entry, sorted(workspace_ids)

    def _copy_workspace(self, workspace_id: str, staging: Path) -> ManifestFile | None:
        """A copy of one workspace's database, or None when it was purged (its key is gone) in the meantime."""
        key_name = workspace_db_key(workspace_id)
        name = f"workspaces/{workspace_id}.db"
        try:
            if not self._keystore.has(key_name):
                return None
            source = self._appliance.workspaces.open(workspace_id)
            (staging / "workspaces").mkdir(mode=0o700, exist_ok=True)
            return copy_database(source, self._keystore.get(key_name), staging / name, kind=WORKSPACE, name=name,
                                 key_name=key_name, tables=WORKSPACE_TABLES, workspace_id=workspace_id)
        except StorageError:
            if self._keystore.has(key_name):
                raise
            (staging / name).unlink(missing_ok=True)
            return None

    def _copy_small_files(self, staging: Path) -> list[ManifestFile]:
        layout = self._appliance.layout
        # The certificates are public; their private keys are in the keystore, which the recovery kit carries.
        sources = [("appliance.json", IDENTITY, layout.identity_file)]
        sources += [(f"tls/{p.name}", CERTIFICATE, p) for p in (layout.ca_cert, layout.server_cert) if p.is_file()]
        entries = []
        for name, kind, path in sources:
            target = staging / name
            target.parent.mkdir(mode=0o700, exist_ok=True)
            shutil.copyfile(path, target)
            entries.append(ManifestFile(name=name, kind=kind, size=target.stat().st_size,
                                        sha256=file_sha256(target)))
        return entries

    def _write(self, staging: Path, manifest: Manifest, partial: Path, *, key: bytes,
               key_id: str) -> tuple[int, str]:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            out = _HashingWriter(handle)
            archive.pack(staging, manifest, out, key=key, key_id=key_id)
            handle.flush()
            os.fsync(handle.fileno())
        return out.size, out.digest.hexdigest()

    def _record_failure(self, backup_id: str | None, exc: Exception, actor: Actor) -> None:
        message = str(exc) or type(exc).__name__
        try:
            with self._db.transaction() as conn:
                if backup_id is not None:
                    index.fail(conn, backup_id, error=message, finished_at=isoformat(self._clock.now()))
                self._audit.record("backup.create", actor_type=actor.type, actor_id=actor.id, target_type="backup",
                                   target_id=backup_id, client_address=actor.client_address, outcome="failure",
                                   details={"error": message[:500]}, conn=conn)
        except Exception:  # the original failure is the one to raise; an unrecorded row is settled by _tidy
            log.exception("could not record the failed backup", extra={"backup_id": backup_id})

    def _tidy(self) -> None:
        """Remove what a killed backup or verification left (`*.partial`) and settle rows left 'running'.

        Called only while holding the directory lock, so nothing found here is in use. A row whose file exists
        was killed after the file was complete and renamed: it is adopted. Any other is marked failed.
        """
        for entry in self.directory.iterdir():
            if entry.name.endswith(PARTIAL):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        for backup in index.with_status(self._db, RUNNING):
            path = self.path_of(backup)
            with self._db.transaction() as conn:
                if path.is_file():
                    index.complete(conn, backup.id, size=path.stat().st_size, sha256=file_sha256(path),
                                   finished_at=isoformat(self._clock.now()))
                else:
                    index.fail(conn, backup.id, error=INTERRUPTED, finished_at=isoformat(self._clock.now()))

    # Verifying ---------------------------------------------------------------------------------------------------

    def verify(self, backup_id: str, *, actor: Actor = SYSTEM) -> Backup:
        """Restore the backup into a scratch directory, check every file and database, and record what was found."""
        make_private_dir(self.directory)
        with lock.holding(self.directory):
            self._tidy()
            backup = self.get(backup_id)
            if backup.status != COMPLETE:
                raise Conflict(f"backup {backup_id} is {backup.status}; only complete backups can be verified")
            result = self._verification(backup)
            with self._db.transaction() as conn:
                index.record_verification(conn, backup_id, verified_at=result["checked_at"],
                                          passed=result["passed"], result=result)
                self._audit.record(
                    "backup.verify", actor_type=actor.type, actor_id=actor.id, target_type="backup",
                    target_id=backup_id, client_address=actor.client_address,
                    outcome="success" if result["passed"] else "failure",
                    details={"passed": result["passed"], "problem": (result["problem"] or "")[:500],
                             "purged_workspaces": result["purged_workspaces"]}, conn=conn)
        return self.get(backup_id)

    def _verification(self, backup: Backup) -> dict:
        checked_at = isoformat(self._clock.now())

        def outcome(problem: str | None, found: list[checks.FileCheck] = ()) -> dict:
            failed = [c for c in found if c.status == checks.FAILED]
            problem = problem or (f"{failed[0].name}: {failed[0].problem}" if failed else None)
            return {"passed": problem is None, "checked_at": checked_at, "problem": problem,
                    "files": [c.as_dict() for c in found],
                    "purged_workspaces": [c.workspace_id for c in found if c.status == checks.PURGED]}

        path = self.path_of(backup)
        if not path.is_file():
            return outcome(f"the file {backup.file_name} is missing from {self.directory}")
        if path.stat().st_size != backup.size or file_sha256(path) != backup.sha256:
            return outcome(f"{backup.file_name} changed after it was written (its SHA-256 differs from the index); "
                           "it is damaged")
        scratch = Path(tempfile.mkdtemp(prefix=".verify-", suffix=PARTIAL, dir=self.directory))
        try:
            with path.open("rb") as source:
                manifest = archive.unpack(source, scratch, key=self._backup_key)
            if manifest.backup_id != backup.id or manifest.appliance_id != self._appliance.appliance_id:
                return outcome(f"{backup.file_name} holds backup {manifest.backup_id} of appliance "
                               f"{manifest.appliance_id}, not this index entry's")
            return outcome(None, checks.check_databases(scratch, manifest, keys_for=self._live_keys))
        except (EncryptedFileError, BackupInvalid) as exc:
            return outcome(f"{backup.file_name}: {exc}")
        except OSError as exc:  # the scratch directory, not the backup: nothing is recorded about the backup
            raise StorageError(f"the verification could not run in {self.directory}: {exc}") from exc
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _backup_key(self, header: Header) -> bytes | None:
        name = header.key_id or ""
        return self._keystore.get(name) if number_of(name) and self._keystore.has(name) else None

    def _live_keys(self, name: str) -> list[bytes]:
        return self._keystore.materials(name) if self._keystore.has(name) else []

    # Retention ---------------------------------------------------------------------------------------------------

    def prune(self, *, actor: Actor = SYSTEM) -> PruneResult:
        """Delete complete backups beyond the `keep` newest (never the newest verified one), and failed ones older
        than the newest complete backup."""
        make_private_dir(self.directory)
        with lock.holding(self.directory):
            self._tidy()
            backups = index.all_backups(self._db)
            complete = [b for b in backups if b.status == COMPLETE]
            kept = {b.id for b in complete[:self.keep]}
            newest_verified = next((b for b in complete if b.verification_status == PASSED), None)
            if newest_verified is not None:
                kept.add(newest_verified.id)
            newest = complete[0].created_at if complete else None
            doomed = [b for b in backups if (b.status == COMPLETE and b.id not in kept)
                      or (b.status == FAILED and newest is not None and b.created_at < newest)]
            for backup in doomed:
                # File first: a stop in between leaves a row that says its file is missing, never a stray file.
                self.path_of(backup).unlink(missing_ok=True)
                with self._db.transaction() as conn:
                    index.delete(conn, backup.id)
            result = PruneResult([b.id for b in doomed], [b.id for b in complete if b.id in kept])
            self._audit.record("backup.prune", actor_type=actor.type, actor_id=actor.id,
                               client_address=actor.client_address,
                               details={"deleted": result.deleted, "kept": len(result.kept), "keep": self.keep})
        return result

    def forget_workspace(self, workspace_id: str) -> int:
        """Drop a purged workspace from the index (call after its key is destroyed); returns the rows dropped."""
        with self._db.transaction() as conn:
            return index.forget_workspace(conn, workspace_id)


class _HashingWriter:
    """A file that counts and hashes what is written through it."""

    def __init__(self, handle) -> None:
        self._handle = handle
        self.size = 0
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._handle.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)


def backup_directory(backup_dir: Path | None, data_dir: Path) -> Path:
    """The `backup_dir` setting, or <data_dir>/backups when it is empty."""
    return Path(backup_dir) if backup_dir else Path(data_dir) / "backups"
