"""The periodic work of backups, as plain functions of the backup service for the job list: each returns its summary."""

from __future__ import annotations

from appliance.backups.service import BackupService
from appliance.errors import StorageError


class BackupVerificationFailed(StorageError):
    """The newest backup did not pass its verification; the run fails so operators hear of it."""

    code = "backup_verification_failed"


def scheduled_backup(backups: BackupService) -> dict:
    """Make a backup (daily by default)."""
    backup = backups.create()
    return {"backup_id": backup.id, "file": backup.file_name, "size": backup.size,
            "workspaces": len(backup.workspace_ids)}


def verify_latest_backup(backups: BackupService) -> dict:
    """Verify the newest complete backup (after each backup, or daily); fail the run if it does not pass."""
    latest = backups.latest_complete()
    if latest is None:
        return {"verified": None}
    verified = backups.verify(latest.id)
    summary = {"verified": verified.id, "passed": verified.verification_status == "passed",
               "purged_workspaces": verified.verification["purged_workspaces"]}
    if not summary["passed"]:
        raise BackupVerificationFailed(f"backup {verified.id} ({verified.file_name}) failed its verification: "
                                       f"{verified.verification['problem']}")
    return summary


def prune_backups(backups: BackupService) -> dict:
    """Delete backups beyond the `backup_keep` newest (never the newest verified one)."""
    result = backups.prune()
    return {"deleted": result.deleted, "kept": len(result.kept)}


def backup_verify_and_prune(backups: BackupService) -> dict:
    """The scheduled backup: make one, verify it at once, then prune; one job so the three never overlap."""
    made = scheduled_backup(backups)
    verified = verify_latest_backup(backups)
    pruned = prune_backups(backups)
    return {**made, "verified": verified.get("passed", False), "pruned": pruned["deleted"]}
