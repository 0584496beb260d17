"""The workspace's state on the Retention page: active, or cancelled with its purge date (the owner may undo it until
then); the legal hold, on or off; and the actions on them that the caller's role allows, worded as the Workspaces
screen words them, with the operators' own: bringing a cancelled workspace's purge earlier."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import QDateEdit, QDialog, QGroupBox, QHBoxLayout, QLabel, QVBoxLayout

from gui.client.errors import ApiError
from gui.views.workspace_dialogs import HOLD_EXPLAINED, LegalHoldDialog
from gui.widgets.buttons import action_button
from gui.widgets.dialogs import DialogButtons, confirm, titled_layout
from gui.widgets.formatting import day, when
from gui.widgets.forms import FieldForm

GREY = "color:#5f6b7a;"


def label(name: str, *, style: str = "") -> QLabel:
    found = QLabel()
    found.setObjectName(name)
    found.setWordWrap(True)
    if style:
        found.setStyleSheet(style)
    return found


def _date(text: str) -> QDate:
    return QDate.fromString(text[:10], "yyyy-MM-dd")


class PurgeDateDialog(QDialog):
    """An operator brings a cancelled workspace's purge earlier (never later); `saved` carries the cancellation."""

    saved = Signal(dict)

    def __init__(self, page, name: str, purge_after: str) -> None:
        super().__init__(page)
        self.page = page
        layout = titled_layout(self, f"Purge {name} earlier", width=520)
        note = QLabel(f"{name} is purged after {when(purge_after)}. As an operator you may bring that earlier, never "
                      "later: everything in it, and its copies in backups, is then deleted for good from the day you "
                      "choose (today: at the next purge run). Its owner is told by mail.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.form = FieldForm()
        self.day = self.form.add_field("purge_after", "Purge after", QDateEdit(),
                                       hint="The day's start (UTC); the undo ends then too.")
        self.day.setCalendarPopup(True)
        self.day.setDisplayFormat("yyyy-MM-dd")
        self.day.setDateRange(QDate.currentDate(), _date(purge_after))
        self.day.setDate(_date(purge_after))
        layout.addWidget(self.form)
        buttons = DialogButtons(self, "Bring it earlier", self.submit_action, name="bringPurgeEarlier")
        self.save_button = buttons.action
        layout.addLayout(buttons)

    def submit_action(self) -> None:
        self.form.clear_errors()
        self.save_button.setEnabled(False)
        moment = f"{self.day.date().toString('yyyy-MM-dd')}T00:00:00Z"
        self.page.api.put(f"/api/v1/cancellations/{self.page.workspace_id}/purge-date", {"purge_after": moment},
                          on_done=self._saved, on_error=self._refused)

    def _saved(self, answer: dict) -> None:
        self.saved.emit(answer["cancellation"])
        self.accept()

    def _refused(self, error: ApiError) -> None:
        self.save_button.setEnabled(True)
        self.form.show_error(error.on_field("purge_after") if error.status == 400 else error)


class WorkspaceState(QGroupBox):
    """Shows what `show()` is given and acts for `page` (a RetentionPage): its API, its role, its messages."""

    def __init__(self, page) -> None:
        super().__init__("Workspace state")
        self.page = page
        self.retention: dict | None = None
        self.hold_dialog: LegalHoldDialog | None = None
        self.purge_dialog: PurgeDateDialog | None = None
        layout = QVBoxLayout(self)
        self.state = label("workspaceState")
        self.hold = label("legalHoldState")
        layout.addWidget(self.state)
        layout.addWidget(self.hold)
        hold_row, cancel_row = QHBoxLayout(), QHBoxLayout()
        self.hold_button = action_button("Legal hold…", self.legal_hold_action, name="legalHold", row=hold_row)
        self.purge_button = action_button("Purge earlier…", self.purge_earlier_action, name="purgeEarlier",
                                          row=hold_row)
        self.cancel_button = action_button("Cancel workspace…", self.cancel_workspace_action, name="cancelWorkspace",
                                           row=cancel_row)
        self.undo_button = action_button("Undo cancellation", self.undo_cancellation_action, name="undoCancellation",
                                         row=cancel_row)
        for row in (hold_row, cancel_row):
            row.addStretch(1)
            layout.addLayout(row)
        self.note = label("stateNote", style=GREY + "font-size:11px;")
        layout.addWidget(self.note)

    @property
    def _workspace_id(self) -> str:
        return self.page.workspace_id

    def hold_path(self) -> str | None:
        """The workspace's own legal-hold route for its admins, else the operators' one."""
        if self.page.context.may(self._workspace_id, "retention.hold"):
            return f"/api/v1/workspaces/{self._workspace_id}/legal-hold"
        if self.page.context.operator_may("workspaces.legal_hold"):
            return f"/api/v1/legal-holds/{self._workspace_id}"
        return None

    def show_state(self, retention: dict | None) -> None:
        self.retention = retention
        cancellation = (retention or {}).get("cancellation") or {}
        hold = (retention or {}).get("legal_hold")
        cancelled = cancellation.get("status") == "cancelled"
        owner = self.page.may("workspace.cancel")
        self.cancel_button.setEnabled(retention is not None and owner and not cancelled)
        self.undo_button.setEnabled(retention is not None and owner and cancelled
                                    and not cancellation.get("purge_started_at"))
        self.hold_button.setEnabled(retention is not None and self.hold_path() is not None)
        # Operators only, and only while a purge date is set and its purge has not begun.
        self.purge_button.setVisible(self.page.context.operator_may("workspaces.purge_date"))
        self.purge_button.setEnabled(cancelled and bool(cancellation.get("purge_after"))
                                     and not cancellation.get("purge_started_at"))
        self.purge_button.setToolTip("" if cancelled else "Only a cancelled workspace has a purge date.")
        self.note.setVisible(retention is not None and not owner)
        self.note.setText(f"Only the owner can cancel this workspace or undo its cancellation; your role is "
                          f"{self.page.role}.")
        if retention is None:
            return
        if not cancelled:
            self.state.setText(f"Active. If its owner cancels it, it becomes read-only at once and is purged "
                               f"{self._purge_days()} later unless the cancellation is undone.")
        elif cancellation.get("purge_started_at"):
            self.state.setText(f"Cancelled since {when(cancellation['cancelled_at'])}; its purge began "
                               f"{when(cancellation['purge_started_at'])} and can no longer be undone.")
        else:
            held = " The legal hold keeps it from being purged while the hold lasts." if hold else ""
            self.state.setText(f"Cancelled since {when(cancellation['cancelled_at'])}: read-only. It is purged after "
                               f"{when(cancellation['purge_after'])}, with everything in it; the owner can undo the "
                               f"cancellation until then.{held}")
        if hold:
            reason = f": {hold['reason']}" if hold.get("reason") else ""
            self.hold.setText(f"Legal hold: on since {day(hold['since'])}{reason}. {HOLD_EXPLAINED}")
        else:
            self.hold.setText("Legal hold: off.")

    def _purge_days(self) -> str:
        days = self.page.context.me.get("appliance", {}).get("cancellation_purge_days")
        return f"{days} day{'s' if days != 1 else ''}" if days else "some days"

    def _workspace(self) -> dict:
        membership = self.page.context.membership(self._workspace_id) or {}
        hold = (self.retention or {}).get("legal_hold")
        return {"id": self._workspace_id, "name": membership.get("name", "this workspace"),
                "hold": {"on": True, **hold} if hold else {"on": False}}

    # --- acting -------------------------------------------------------------------------------------------------

    def legal_hold_action(self) -> None:
        path = self.hold_path()
        if path is None:
            return
        workspace = self._workspace()
        self.hold_dialog = LegalHoldDialog(self.page, workspace, path, role=self.page.role)
        self.hold_dialog.saved.connect(lambda hold: self._held(workspace, hold))
        self.hold_dialog.open()

    def _held(self, workspace: dict, hold: dict | None) -> None:
        self.page.show_notice(f"{workspace['name']} is on legal hold: it is never purged, and its conversations and "
                              "leads cannot be deleted, until the hold is lifted." if hold else
                              f"The legal hold on {workspace['name']} is lifted.")
        self.page.refresh_keeping_message()

    def purge_earlier_action(self) -> None:
        cancellation = (self.retention or {}).get("cancellation") or {}
        if not cancellation.get("purge_after"):
            return
        self.purge_dialog = PurgeDateDialog(self.page, self._workspace()["name"], cancellation["purge_after"])
        self.purge_dialog.saved.connect(self._purge_moved)
        self.purge_dialog.open()

    def _purge_moved(self, cancellation: dict) -> None:
        self.page.show_notice(f"{self._workspace()['name']} is now purged after {when(cancellation['purge_after'])}; "
                              "its owner was told by mail.")
        self.page.refresh_keeping_message()

    def cancel_workspace_action(self) -> None:
        name = self._workspace()["name"]
        held = " It is on legal hold, so it is not purged while the hold lasts." \
            if (self.retention or {}).get("legal_hold") else ""
        moment = dt.datetime.now(dt.timezone.utc) + dt.timedelta(
            days=self.page.context.me.get("appliance", {}).get("cancellation_purge_days") or 0)
        confirm(self.page, f"Cancel the workspace {name}?",
                f"{name} becomes read-only now: its agents, sources, members and API keys can still be read and "
                "exported, but nothing can be changed. It is then purged, with everything in it and its copies in "
                f"backups, {self._purge_days()} from now (after {moment:%Y-%m-%d}), unless the owner undoes the "
                f"cancellation before then. The owner is told by mail.{held}",
                "Cancel workspace", self._cancel, destructive=True)

    def _cancel(self) -> None:
        self.page.api.post(f"/api/v1/workspaces/{self._workspace_id}/cancel", on_done=self._cancelled,
                           on_error=self.page.refused)

    def _cancelled(self, answer: dict) -> None:
        cancellation = answer["cancellation"]
        held = " It is on legal hold: it is not purged while the hold lasts." if cancellation["legal_hold"] else ""
        self.page.show_notice(f"{self._workspace()['name']} is cancelled and read-only. It is purged after "
                              f"{when(cancellation['purge_after'])} unless the cancellation is undone before "
                              f"then.{held}")
        self.page.reload_keeping_message()  # the workspace's status changed: /me again, then the page

    def undo_cancellation_action(self) -> None:
        self.page.api.post(f"/api/v1/workspaces/{self._workspace_id}/cancel/undo", on_done=self._undone,
                           on_error=self.page.refused)

    def _undone(self, _answer: dict) -> None:
        self.page.show_notice(f"The cancellation of {self._workspace()['name']} is undone: its purge is called off "
                              "and it can be changed again.")
        self.page.reload_keeping_message()
