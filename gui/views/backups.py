"""Backups (operators): every backup with what it holds and how its verification went, the newest verified one
highlighted and its age watched; "Back up now" (the scheduled backup job, run by hand), verifying one, and pruning.
Restoring replaces the appliance's data, so the panel only says how to do it from the command line."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar

from gui.client.errors import ApiError
from gui.models.table import Column, RecordsModel
from gui.views.jobs import ended_run
from gui.views.page import Page
from gui.widgets.banner import Banner
from gui.widgets.buttons import action_button
from gui.widgets.dialogs import confirm
from gui.widgets.formatting import ago, duration, size, when
from gui.widgets.tables import records_table, select_record, selected_record

JOB = "backup"  # the scheduled job that backs up, verifies the new backup and prunes (appliance/jobs/declared.py)
DEFAULT_INTERVAL_S = 24 * 3600  # backup_interval_hours' default, until /api/v1/jobs says otherwise
VERIFIED, FAILING = "#e3f4e8", "#fdecea"
RESTORE_NOTE = ("Restoring replaces all of the appliance's data and keys, so the panel does not offer it. On the "
                "machine to restore onto, with the appliance stopped, run <code>chatspark backup restore FILE --kit "
                "KIT --data-dir NEW --key-dir NEW</code> (new, empty directories; the kit is the recovery kit from "
                "<code>chatspark keys export-recovery-kit</code>), then serve from there.")

VERIFY_TIMEOUT_S = 600  # restoring a backup into scratch to check it takes minutes on a big appliance


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _holds(backup: dict) -> str:
    count = len(backup.get("workspace_ids") or [])
    return f"control + {count} workspace{'' if count == 1 else 's'}" if count else "control database only"


def _status(backup: dict) -> str:
    if backup["status"] == "failed":
        return f"failed: {backup.get('error') or 'no reason recorded'}"
    if backup["status"] == "running":
        return "being made"
    return "complete" if backup.get("file_present", True) else "complete, file missing"


def _verification(backup: dict) -> str:
    state = backup.get("verification_status")
    if state == "passed":
        return f"verified ok at {when(backup['verified_at'])}"
    if state == "failed":
        problem = (backup.get("verification") or {}).get("problem") or "no reason recorded"
        return f"failed at {when(backup['verified_at'])}: {problem}"
    return "never verified"


def newest_verified(backups: list[dict]) -> dict | None:
    """The backup a restore would start from: the newest complete one whose verification passed."""
    return next((b for b in backups if b["status"] == "complete" and b.get("verification_status") == "passed"), None)


class BackupsPage(Page):
    title = "Backups"
    poll_ms = 1000  # how often a backup started here is checked on

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        self.interval_s = DEFAULT_INTERVAL_S
        self.keep: int | None = None
        self.newest: dict | None = None
        # Its own line, so a failed action's error and the backups' age are both shown.
        self.freshness = Banner(self)  # its object name, "banner", is what its style sheet selects
        self.body.addWidget(self.freshness)
        self.newest_line = QLabel()
        self.newest_line.setObjectName("newestVerified")
        self.newest_line.setWordWrap(True)
        self.body.addWidget(self.newest_line)
        self.backups = RecordsModel([
            Column("created_at", "Created", show=lambda b: f"{when(b['created_at'])} ({ago(b['created_at'])})",
                   sort=lambda b: b["created_at"]),
            Column("size", "Size", show=lambda b: size(b.get("size")), sort=lambda b: b.get("size") or 0),
            Column("workspace_ids", "Holds", show=_holds, sort=lambda b: len(b.get("workspace_ids") or [])),
            Column("status", "Backup", show=_status),
            Column("verification_status", "Verification", show=_verification),
        ], highlight=self._colour)
        self.table = records_table(self.backups, name="backupsTable", widths={0: 220, 1: 90, 2: 240, 3: 170},
                                   stretch=4, sort=(0, Qt.SortOrder.DescendingOrder), owner=self)
        self.table.selectionModel().selectionChanged.connect(self._selected)
        self.body.addWidget(self.table, 1)
        self.selected_line = QLabel()
        self.selected_line.setObjectName("selectedBackup")
        self.selected_line.setStyleSheet("color:#5f6b7a;")
        self.selected_line.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body.addWidget(self.selected_line)

        actions = QHBoxLayout()
        self.backup_button = action_button("Back up now", self.back_up_now_action, name="backUpNow", row=actions)
        self.verify_button = action_button("Verify", self.verify_action, name="verifyBackup", row=actions)
        self.verify_button.setToolTip("Restore the selected backup into a scratch directory and check every database")
        self.prune_button = action_button("Prune…", self.prune_action, name="pruneBackups", row=actions)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # no end known: a moving bar while the appliance works
        self.busy.setMaximumWidth(140)
        self.busy.setTextVisible(False)
        self.busy.hide()
        actions.addWidget(self.busy)
        self.progress = QLabel()
        self.progress.setObjectName("backupProgress")
        self.progress.setWordWrap(True)
        actions.addWidget(self.progress, 1)
        self.body.addLayout(actions)
        note = QLabel(RESTORE_NOTE)
        note.setObjectName("restoreNote")
        note.setWordWrap(True)
        note.setTextFormat(Qt.TextFormat.RichText)
        note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        note.setStyleSheet("color:#3c4650;background:#f4f6f8;border:1px solid #dde2e7;border-radius:4px;"
                           "padding:8px;")
        self.body.addWidget(note)

        self._watching: int | None = None  # the backup run this page waits for
        self._verifying: dict | None = None  # the backup being verified, as it was before
        self._poll = QTimer(self)
        self._poll.timeout.connect(self._check)
        self._show_idle()

    # What is shown -------------------------------------------------------------------------------------------------

    def refresh_action(self) -> None:
        self.api.get("/api/v1/backups", on_done=self._got_backups, on_error=self.show_error)
        self.api.get("/api/v1/jobs", on_done=self._got_jobs, on_error=lambda e: None)

    def selected_backup(self) -> dict | None:
        return selected_record(self.table)

    def select(self, backup_id: str) -> bool:
        """Select the backup's row (what a click on it does); False if it is not (yet) in the table."""
        return select_record(self.table, backup_id)

    def highlighted(self) -> list[str]:
        """The ids of the rows shown in the verified colour."""
        return [b["id"] for b in self.backups.records() if self._colour(b) == VERIFIED]

    def _colour(self, backup: dict) -> str | None:
        if self.newest is not None and backup["id"] == self.newest["id"]:
            return VERIFIED
        if backup["status"] == "failed" or backup.get("verification_status") == "failed":
            return FAILING
        return None

    def _got_backups(self, answer: dict) -> None:
        selected = (self.selected_backup() or {}).get("id")
        backups = answer["backups"]
        self.keep = answer.get("keep", self.keep)
        self.newest = newest_verified(backups)
        self.backups.set_records(backups)
        if selected:
            self.select(selected)
        self._show_newest()
        self._selected()

    def _got_jobs(self, answer: dict) -> None:
        job = next((j for j in answer["jobs"] if j["id"] == JOB), None)
        if job is None:
            return
        self.interval_s = job["every_seconds"]
        self._show_newest()
        if job.get("running") and self._watching is None:
            self._watch(job["running"])  # a scheduled backup, or one started from another panel

    def _show_newest(self) -> None:
        if not self.backups.records():
            self.newest_line.setText("No backups yet. Make one with Back up now; the appliance also makes one "
                                     f"{self._interval_words()} and verifies it.")
        elif self.newest is None:
            self.newest_line.setText("Newest verified backup: none.")
        else:
            created = self.newest["created_at"]
            self.newest_line.setText(f"Newest verified backup: <b>{when(created)}</b> ({ago(created)}), "
                                     f"{size(self.newest.get('size'))}. It is the highlighted row.")
        if self.newest is None:
            self.freshness.show_message("There is no verified backup: if this machine's disk failed now, nothing "
                                        "could be restored. Click Back up now.", kind="warning")
            return
        age = (dt.datetime.now(dt.timezone.utc) - _moment(self.newest["created_at"])).total_seconds()
        if age > self.interval_s * 1.5:
            self.freshness.show_message(f"The newest verified backup is {ago(self.newest['created_at'])[:-4]} old, "
                                        f"but backups are due {self._interval_words()}. See the backup job on Jobs "
                                        "for why it did not run or failed, or click Back up now.", kind="warning")
        else:
            self.freshness.hide()

    def _interval_words(self) -> str:
        hours = self.interval_s / 3600
        return "every day" if hours == 24 else f"every {hours:g} h"

    def _selected(self) -> None:
        backup = self.selected_backup()
        self.verify_button.setEnabled(self._idle() and backup is not None and backup["status"] == "complete"
                                      and backup.get("file_present", True))
        self.selected_line.setVisible(bool(self.backups.records()))
        if backup is None:
            self.selected_line.setText("Select a backup to verify it.")
            return
        self.selected_line.setText(f"{backup['file_name']}  ·  key {backup['key_id']}  ·  SHA-256 "
                                   f"{(backup.get('sha256') or '')[:16]}…")

    # Backing up ----------------------------------------------------------------------------------------------------

    def back_up_now_action(self) -> None:
        """Run the backup job now: back up every database, verify the new backup, prune old ones."""
        self._show_busy("Starting a backup…")
        self.api.post(f"/api/v1/jobs/{JOB}/run", on_done=lambda a: self._watch(a["run"]), on_error=self._failed)

    def _watch(self, run: dict) -> None:
        self._watching = run["id"]
        self._show_busy(f"Backing up… started {when(run['started_at'])}. The window stays usable; the outcome "
                        "shows here when the run ends.")
        self._poll.start(self.poll_ms)

    def _check(self) -> None:
        if self._watching is not None:
            self.api.get(f"/api/v1/jobs/runs?job={JOB}&limit=10", on_done=self._check_runs, on_error=lambda e: None)
        elif self._verifying is not None:
            self.api.get(f"/api/v1/backups/{self._verifying['id']}", on_done=self._check_verified,
                         on_error=lambda e: None)

    def _check_runs(self, answer: dict) -> None:
        run = ended_run(answer["runs"], self._watching)
        if run is None:
            return
        self._poll.stop()
        self._watching = None
        took = duration(run.get("duration_ms"))
        if run["outcome"] == "success":
            made = run.get("summary") or {}
            pruned = made.get("pruned") or []  # the ids deleted
            pruned = len(pruned) if isinstance(pruned, list) else int(pruned)
            workspaces = made.get("workspaces", 0)
            self._show_idle(f"Backup made {when(run['started_at'])} in {took}: {size(made.get('size'))}, "
                            f"control + {workspaces} workspace{'' if workspaces == 1 else 's'}, "
                            f"{'verified ok' if made.get('verified') else 'NOT verified'}; "
                            f"{pruned} old backup{'' if pruned == 1 else 's'} pruned.")
        else:
            problem = run.get("error") or run["outcome"]
            self._show_idle(f"The backup run failed after {took}: {problem}")
            self.banner.show_message(f"The backup failed: {problem}", kind="error")
        self.refresh_action()

    # Verifying -----------------------------------------------------------------------------------------------------

    def verify_action(self) -> None:
        """Restore the selected backup into a scratch directory on the appliance and check it; can take a while."""
        backup = self.selected_backup()
        if backup is None:
            return
        self._verifying = backup
        self._show_busy(f"Verifying the backup of {when(backup['created_at'])}: restoring it into a scratch "
                        "directory and checking every database…")
        self.api.post(f"/api/v1/backups/{backup['id']}/verify", on_done=lambda a: self._verified(a["backup"]),
                      on_error=self._verify_unanswered, timeout=VERIFY_TIMEOUT_S)

    def _verify_unanswered(self, error: ApiError) -> None:
        if error.code == "unreachable" and self._verifying is not None:
            # A very big backup can take longer still; the appliance goes on verifying, and the page watches.
            self._poll.start(self.poll_ms)
            return
        self._verifying = None
        self._failed(error)

    def _check_verified(self, answer: dict) -> None:
        before = self._verifying
        if before is not None and answer["backup"]["verified_at"] != before.get("verified_at"):
            self._verified(answer["backup"])

    def _verified(self, backup: dict) -> None:
        self._poll.stop()
        self._verifying = None
        if backup["verification_status"] == "passed":
            self._show_idle(f"The backup of {when(backup['created_at'])} verified ok: every file and database "
                            "checked out.")
            if self.banner.kind == "error":
                self.clear_message()
        else:
            problem = (backup.get("verification") or {}).get("problem") or "no reason recorded"
            self._show_idle(f"The backup of {when(backup['created_at'])} failed its verification.")
            self.banner.show_message(f"The backup of {when(backup['created_at'])} failed its verification: "
                                     f"{problem}. Do not rely on it; make a new backup.", kind="error")
        self.refresh_action()

    # Pruning -------------------------------------------------------------------------------------------------------

    def prune_action(self) -> None:
        kept = (f"the {self.keep} newest complete backups" if self.keep else
                "the newest complete backups, as many as the appliance's backup_keep setting says")
        self.prune_dialog = confirm(
            self, "Prune old backups?",
            f"This keeps {kept} and deletes older ones, and failed backups older than the newest complete one. "
            "The newest verified backup is never deleted, however old. Deleted backups cannot be restored.",
            "Prune", self._prune, destructive=True)

    def _prune(self) -> None:
        self._show_busy("Pruning…")
        self.api.post("/api/v1/backups/prune", on_done=self._pruned, on_error=self._failed)

    def _pruned(self, answer: dict) -> None:
        deleted = len(answer["deleted"])
        self._show_idle(f"Pruned: {deleted} backup{'' if deleted == 1 else 's'} deleted, {answer['kept']} kept.")
        self.refresh_action()

    # Busy or not ---------------------------------------------------------------------------------------------------

    def _idle(self) -> bool:
        return self.busy.isHidden()

    def _show_busy(self, text: str) -> None:
        self.busy.show()
        self.progress.setText(text)
        for button in (self.backup_button, self.verify_button, self.prune_button):
            button.setEnabled(False)

    def _show_idle(self, text: str = "") -> None:
        self.busy.hide()
        self.progress.setText(text)
        self.backup_button.setEnabled(True)
        self.prune_button.setEnabled(True)
        self._selected()

    def _failed(self, error: ApiError) -> None:
        self._poll.stop()
        self._watching = None
        self._show_idle()
        self.show_error(error)
