"""Restoring a backup onto a fresh machine: a new data directory and key directory from a backup and a recovery kit.

Everything is decrypted and checked in a scratch directory beside the target first; the targets are written only once
all of it holds, and emptied again if anything after that fails. A workspace whose key the kit no longer holds (it
was purged after the backup was made) is not restored: its file is left out and its rows in the control database are
removed, as the purge removed them on the original appliance. Restoring over a running appliance is not offered.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from appliance.audit.keys import audit_log
from appliance.backups import archive, checks, index
from appliance.backups.manifest import CERTIFICATE, WORKSPACE, BackupInvalid, Manifest
from appliance.bootstrap import CA_KEY, SERVER_KEY, open_appliance
from appliance.clock import Clock
from appliance.errors import StorageError, ValidationError
from appliance.keys import certificates
from appliance.keys.keystore import CONTROL_DB_KEY, Keystore
from appliance.keys.recovery_kit import RecoveryKit, install_kit, read_kit
from appliance.storage.database import Database
from appliance.storage.encrypted_files import EncryptedFileError, read_header
from appliance.storage.layout import Layout, make_private_dir

NOTHING_WRITTEN = "nothing was written to the target directories"


class RestoreRefused(ValidationError):
    """The restore did not happen, and the target directories are as they were; the message says why."""

    code = "restore_refused"


@dataclass(frozen=True)
class RestoreResult:
    backup_id: str
    appliance_id: str
    backup_created_at: str
    workspaces: list[str]
    skipped_purged: list[str]      # in the backup, but their keys were destroyed: not restored
    counts: dict[str, dict[str, int]]


def restore(backup_file: Path, *, kit_data: bytes, kit_passphrase: str, layout: Layout, clock: Clock,
            passphrase: str | None = None) -> RestoreResult:
    """Restore `backup_file` into `layout`'s (absent or empty) directories with the kit's keys.

    The new master key is wrapped under `passphrase` when one is given, else stored in clear (0600).
    """
    for directory in (layout.data_dir, layout.key_dir):
        _refuse_unless_fresh(directory)
    if passphrase is not None and len(passphrase) < 12:
        raise RestoreRefused(f"a master-key passphrase is at least 12 characters; {NOTHING_WRITTEN}")
    backup_file = Path(backup_file)
    if not backup_file.is_file():
        raise RestoreRefused(f"there is no backup file {backup_file}")
    try:
        kit = read_kit(kit_data, passphrase=kit_passphrase)
    except (EncryptedFileError, ValueError, KeyError, TypeError) as exc:
        raise RestoreRefused(f"the recovery kit cannot be opened ({exc}); {NOTHING_WRITTEN}") from None
    parent = layout.data_dir.parent if layout.data_dir.parent.is_dir() else None
    scratch = Path(tempfile.mkdtemp(prefix=".chatspark-restore-", suffix=".partial", dir=parent))
    try:
        manifest, found = _unpack_and_check(backup_file, kit, scratch)
        skipped = [c.workspace_id for c in found if c.status == checks.PURGED]
        if skipped:
            _remove_purged(scratch, kit, skipped)
        _install(scratch, manifest, kit, layout, clock=clock, passphrase=passphrase, skipped=skipped,
                 backup_name=backup_file.name)
    except OSError as exc:
        raise StorageError(f"the restore failed ({exc}); the target directories were left as they were") from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return RestoreResult(manifest.backup_id, manifest.appliance_id, manifest.created_at,
                         [w for w in manifest.workspace_ids if w not in skipped], skipped,
                         {c.name: c.counts for c in found if c.status == checks.OK})


def _refuse_unless_fresh(directory: Path) -> None:
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise RestoreRefused(f"{directory} is not empty; restore onto a new, empty data directory and key "
                             f"directory (restoring over an existing appliance is not offered); {NOTHING_WRITTEN}")


def _unpack_and_check(backup_file: Path, kit: RecoveryKit, scratch: Path) -> tuple[Manifest, list[checks.FileCheck]]:
    refused = f"{backup_file.name} cannot be restored"
    with backup_file.open("rb") as source:
        try:
            header = read_header(source)
            if header.key_id and header.key_id not in kit.keys:
                raise RestoreRefused(f"{refused}: it is encrypted under {header.key_id}, which this recovery kit "
                                     f"does not hold (export a kit that does); {NOTHING_WRITTEN}")
            source.seek(0)
            manifest = archive.unpack(source, scratch, key=lambda h: _material(kit, h.key_id))
        except (EncryptedFileError, BackupInvalid) as exc:
            raise RestoreRefused(f"{refused}: {exc}; {NOTHING_WRITTEN}") from None
    if manifest.appliance_id != kit.appliance_id:
        raise RestoreRefused(f"{refused}: it is a backup of appliance {manifest.appliance_id}, but the recovery kit "
                             f"holds the keys of appliance {kit.appliance_id}; {NOTHING_WRITTEN}")
    found = checks.check_databases(scratch, manifest, keys_for=lambda name: _materials(kit, name))
    failed = [c for c in found if c.status == checks.FAILED]
    if failed:
        raise RestoreRefused(f"{refused}: {failed[0].problem}; {NOTHING_WRITTEN}")
    _rekey_to_current(scratch, manifest, kit, found)
    return manifest, found


def _materials(kit: RecoveryKit, name: str) -> list[bytes]:
    key = kit.keys.get(name)
    return key.materials if key else []


def _rekey_to_current(scratch: Path, manifest: Manifest, kit: RecoveryKit, found: list[checks.FileCheck]) -> None:
    """A database backed up before a rotation moves, in scratch, to its key's current material: the restored
    keystore knows it under that one."""
    entries = {entry.name: entry for entry in manifest.files}
    for check in found:
        if check.status == checks.OK and check.under_retired_key:
            entry = entries[check.name]
            old = checks.matching_key(entry, _materials(kit, entry.key_name))
            with Database(scratch / entry.name, old) as db:
                db.rekey(kit.keys[entry.key_name].material)
                db.checkpoint()


def _material(kit: RecoveryKit, name: str | None) -> bytes | None:
    key = kit.keys.get(name or "")
    return key.material if key else None


def _remove_purged(scratch: Path, kit: RecoveryKit, skipped: list[str]) -> None:
    """Leave purged workspaces out, and remove their rows from the control database as the purge did."""
    with Database(scratch / "control.db", kit.keys[CONTROL_DB_KEY].material) as control:
        with control.transaction() as conn:
            for workspace_id in skipped:
                # Memberships, invitations, API keys and agent routes go with it (ON DELETE CASCADE).
                conn.execute("DELETE FROM workspaces WHERE id = ?", (workspace_id,))
                index.forget_workspace(conn, workspace_id)
        control.checkpoint()
    for workspace_id in skipped:
        (scratch / "workspaces" / f"{workspace_id}.db").unlink(missing_ok=True)


def _install(scratch: Path, manifest: Manifest, kit: RecoveryKit, layout: Layout, *, clock: Clock,
             passphrase: str | None, skipped: list[str], backup_name: str) -> None:
    existed = {directory: directory.exists() for directory in (layout.data_dir, layout.key_dir)}
    try:
        make_private_dir(layout.key_dir)
        make_private_dir(layout.data_dir)
        keystore = install_kit(kit, layout.key_dir, clock=clock, passphrase=passphrase)
        try:
            for entry in manifest.files:
                if entry.kind == WORKSPACE and entry.workspace_id in skipped:
                    continue
                target = layout.data_dir / entry.name
                if entry.kind == WORKSPACE:
                    make_private_dir(layout.workspaces_dir)
                elif entry.kind == CERTIFICATE:
                    layout.tls_dir.mkdir(mode=0o755, exist_ok=True)
                shutil.move(scratch / entry.name, target)
                if entry.kind == CERTIFICATE:
                    target.chmod(0o644)
            _match_server_certificate(layout, keystore, clock)
        finally:
            keystore.close()
        appliance = open_appliance(layout, clock=clock, passphrase=passphrase)
        try:
            audit_log(appliance.control_db, keystore=appliance.keystore, clock=clock).record(
                "backup.restore", target_type="backup", target_id=manifest.backup_id,
                details={"file": backup_name, "backup_created_at": manifest.created_at,
                         "workspaces": len(manifest.workspace_ids) - len(skipped), "skipped_purged": skipped})
        finally:
            appliance.close()
    except BaseException:
        for directory, was_there in existed.items():
            if not was_there:
                shutil.rmtree(directory, ignore_errors=True)
            elif directory.is_dir():
                for entry in directory.iterdir():
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        raise


def _match_server_certificate(layout: Layout, keystore: Keystore, clock: Clock) -> None:
    """Issue a new server certificate when the backup's no longer matches the kit's server key (one of the two
    was renewed after the other was made)."""
    if not layout.server_cert.is_file() or not keystore.has(SERVER_KEY):
        return
    current = certificates.load(layout.server_cert.read_bytes(), keystore.get(SERVER_KEY))
    if current.certificate.public_key() == current.private_key.public_key():
        return
    ca = certificates.load(layout.ca_cert.read_bytes(), keystore.get(CA_KEY))
    renewed = certificates.issue_server(ca, names=certificates.names_of(current.certificate), now=clock.now())
    keystore.replace_secret(SERVER_KEY, renewed.key_pem)
    layout.server_cert.write_bytes(renewed.cert_pem)
