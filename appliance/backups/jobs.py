"""The periodic work of backups, as plain functions of the services for the job registry: each returns its summary."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.errors import StorageError

if TYPE_CHECKING:  # the services module builds the backup service, so it cannot be imported at run time here
    from appliance.services import Services


class BackupVerificationFailed(StorageError):
    """The newest backup did not pass its verification; the run fails so operators hear of it."""

    code = "backup_verification_failed"


def scheduled_backup(services: "Services") -> dict:
    """Make a backup (daily by default)."""
    backup = services.backups.create()
    return {"backup_id": backup.id, "file": backup.file_name, "size": backup.size,
            "workspaces": len(backup.workspace_ids)}


def verify_latest_backup(services: "Services") -> dict:
    """Verify the newest complete backup (after each backup, or daily); fail the run if it does not pass."""
    latest = services.backups.latest_complete()
    if latest is None:
        return {"verified": None}
    verified = services.backups.verify(latest.id)
    summary = {"verified": verified.id, "passed": verified.verification_status == "passed",
               "purged_workspaces": verified.verification["purged_workspaces"]}
    if not summary["passed"]:
        raise BackupVerificationFailed(f"backup {verified.id} ({verified.file_name}) failed its verification: "
                                       f"{verified.verification['problem']}")
    return summary


def prune_backups(services: "Services") -> dict:
    """Delete backups beyond the `backup_keep` newest (never the newest verified one)."""
    result = services.backups.prune()
    return {"deleted": result.deleted, "kept": len(result.kept)}


def backup_verify_and_prune(services: "Services") -> dict:
    """The scheduled backup: make one, verify it at once, then prune; one job so the three never overlap."""
    made = scheduled_backup(services)
    verified = verify_latest_backup(services)
    pruned = prune_backups(services)
    return {**made, "verified": verified.get("passed", False), "pruned": pruned["deleted"]}
