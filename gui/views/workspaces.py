"""Workspaces: every workspace for operators (only their own for members) with its status, purge date, legal hold and
owner; creating one with its owner, cancelling it (read-only now, purged later unless undone), undoing that, and the
legal hold that keeps a workspace from ever being purged."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel
from shiboken6 import isValid

from gui.client.errors import ApiError
from gui.models.table import Column, RecordsModel
from gui.views.page import Page
from gui.views.workspace_dialogs import GREY, LegalHoldDialog, NewWorkspaceDialog, describe_hold
from gui.widgets.buttons import action_button
from gui.widgets.dialogs import confirm
from gui.widgets.formatting import day, when
from gui.widgets.tables import records_table, select_record, selected_record

CANCELLED = "#eceff1"


def _cancelled(workspace: dict) -> bool:
    return workspace["status"] == "cancelled"


def _status(workspace: dict) -> str:
    if not _cancelled(workspace):
        return workspace["status"]
    if workspace.get("purge_started_at"):
        return "cancelled (read-only), purge under way"
    if (workspace.get("hold") or {}).get("on"):
        return "cancelled (read-only), held: not purged"
    purge = workspace.get("purge_after")
    return f"cancelled (read-only), purged {day(purge)}" if purge else "cancelled (read-only)"


class WorkspacesModel(RecordsModel):
    """Cancelled workspaces read as read-only: greyed out, besides the status that says so."""

    def data(self, index, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.ForegroundRole and index.isValid() and _cancelled(self.record(index.row())):
            return QBrush(QColor(GREY))
        return super().data(index, role)


class WorkspacesPage(Page):
    title = "Workspaces"

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        self.add_intro("Every workspace on this appliance. Operators see that a workspace exists and who owns it, "
                       "never its content unless they are members." if self._everyone else
                       "The workspaces you are a member of, and your role in each.")
        self.workspaces = WorkspacesModel([
            Column("name", "Name"),
            Column("status", "Status", show=_status),
            Column("hold", "Legal hold", show=describe_hold),
            Column("owner", "Owner", show=self._owner),
            Column("role", "Your role", show=lambda w: w.get("role") or "not a member"),
            Column("created_at", "Created", show=lambda w: day(w["created_at"]), sort=lambda w: w["created_at"]),
        ], loader=self._load_workspaces, highlight=lambda w: CANCELLED if _cancelled(w) else None)
        self.table = records_table(self.workspaces, name="workspacesTable",
                                   widths={0: 170, 1: 265, 3: 180, 4: 100, 5: 95}, stretch=2,
                                   sort=(0, Qt.SortOrder.AscendingOrder), owner=self, ignore_case=True)
        self.table.selectionModel().selectionChanged.connect(self._update_actions)
        self.empty = QLabel()
        self.empty.setObjectName("emptyState")
        self.empty.setStyleSheet(f"color:{GREY};padding:24px 0;")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.hide()
        actions = QHBoxLayout()
        self.new_button = action_button("New workspace", self.new_workspace_action, row=actions)
        self.new_button.setVisible(context.operator_may("workspaces.create"))
        self.cancel_button = action_button("Cancel workspace", self.cancel_workspace_action, row=actions)
        self.undo_button = action_button("Undo cancellation", self.undo_cancellation_action, row=actions)
        self.hold_button = action_button("Legal hold…", self.legal_hold_action, row=actions)
        actions.addStretch(1)
        self.selection_note = QLabel()
        self.selection_note.setObjectName("selectionNote")
        self.selection_note.setWordWrap(True)
        self.selection_note.setStyleSheet(f"color:{GREY};")
        self.body.addWidget(self.table, 1)
        self.body.addWidget(self.empty, 1)
        self.body.addLayout(actions)
        self.body.addWidget(self.selection_note)
        self.create_dialog: NewWorkspaceDialog | None = None
        self.hold_dialog: LegalHoldDialog | None = None
        self._update_actions()

    @property
    def _everyone(self) -> bool:
        return self.context.operator_may("workspaces.list_all")

    def _owner(self, workspace: dict) -> str:
        owner = workspace["owner"]
        if owner.get("id") and owner["id"] == self.context.user.get("id"):
            return "you"
        return owner.get("email") or "no owner"

    # --- reading ---------------------------------------------------------------------------------------------------

    def selected(self) -> dict | None:
        return selected_record(self.table)

    def select(self, workspace_id: str) -> bool:
        """Select the workspace's row; False if it is not (yet) in the table."""
        return select_record(self.table, workspace_id)

    def refresh_action(self) -> None:
        if self.banner.kind == "error":
            self.clear_message()  # what failed before is asked again; a notice of what was done stays
        self.workspaces.reload()

    def _load_workspaces(self, after: str | None, deliver) -> None:
        selected = (self.selected() or {}).get("id")
        query = "?limit=100" + ("&all=true" if self._everyone else "") + (f"&after={after}" if after else "")

        def got(answer: dict) -> None:
            if not isValid(self):
                return  # the page was deleted (its window closed) while the list was being asked for
            deliver([self._record(w) for w in answer["workspaces"]], answer["next_after"])
            self._shown(selected)

        def failed(error: ApiError) -> None:
            if isValid(self):
                self.workspaces.loading_failed()
                self.show_error(error)

        self.api.get(f"/api/v1/workspaces{query}", on_done=got, on_error=failed)

    def _record(self, workspace: dict) -> dict:
        """The workspace as the table shows it: the caller's role, and the hold as far as the API shows it to them
        (`hold` None when their role may not read retention settings)."""
        membership = self.context.membership(workspace["id"]) or {}
        hold = None
        if "legal_hold" in workspace:
            hold = {"on": True, **workspace["legal_hold"]} if workspace["legal_hold"] else {"on": False}
        return dict(workspace, hold=hold, role=workspace.get("role") or membership.get("role"))

    def _shown(self, selected: str | None) -> None:
        empty = self.workspaces.rowCount() == 0
        self.empty.setText("No workspaces yet. Create one with New workspace." if self.new_button.isVisible() else
                           "You are not a member of any workspace yet. Ask a workspace's admin to invite you.")
        self.empty.setVisible(empty)
        self.table.setVisible(not empty)
        if selected is None or not self.select(selected):
            self._update_actions()

    def _update_actions(self) -> None:
        workspace = self.selected()
        may_cancel = workspace is not None and self.context.may(workspace["id"], "workspace.cancel")
        cancelled = workspace is not None and _cancelled(workspace)
        self.cancel_button.setEnabled(may_cancel and not cancelled)
        self.undo_button.setEnabled(may_cancel and cancelled and not workspace.get("purge_started_at"))
        self.hold_button.setEnabled(workspace is not None and self._hold_path(workspace) is not None)
        self.selection_note.setText(self._note(workspace) if workspace else
                                    "Select a workspace to act on it." if self.workspaces.rowCount() else "")

    def _note(self, workspace: dict) -> str:
        name, hold, notes = workspace["name"], workspace.get("hold") or {}, []
        if _cancelled(workspace):
            notes.append(f"{name} is cancelled and read-only: its content can be read and exported, not changed.")
            if workspace.get("purge_after") and not hold.get("on"):
                notes.append(f"It is purged after {when(workspace['purge_after'])} unless the cancellation is undone.")
        if hold.get("on"):
            since = f" since {day(hold['since'])}" if hold.get("since") else ""
            notes.append(f"On legal hold{since}: never purged, and no conversation or lead can be deleted, while the "
                         "hold lasts.")
        if not self.context.may(workspace["id"], "workspace.cancel"):
            membership = self.context.membership(workspace["id"])
            who = f"your role there is {membership['role']}" if membership else "you are not a member"
            notes.append(f"Only its owner can cancel {name}; {who}.")
        return " ".join(notes)

    def _hold_path(self, workspace: dict) -> str | None:
        """The legal-hold route the caller may use: the workspace's own for its admins, else the operators'."""
        if self.context.may(workspace["id"], "retention.hold"):
            return f"/api/v1/workspaces/{workspace['id']}/legal-hold"
        if self.context.operator_may("workspaces.legal_hold"):
            return f"/api/v1/legal-holds/{workspace['id']}"
        return None

    # --- acting ----------------------------------------------------------------------------------------------------

    def new_workspace_action(self) -> None:
        self.create_dialog = NewWorkspaceDialog(self)
        self.create_dialog.created.connect(self._created)
        self.create_dialog.open()

    def _created(self, workspace: dict) -> None:
        owner = workspace["owner"].get("email") or "no one"
        mine = workspace["owner"].get("id") == self.context.user.get("id")
        self.show_notice(f"Created {workspace['name']}, owned by " + (
            "you. Its pages are in the navigation on the left." if mine else
            f"{owner}. Its pages appear in their navigation; you are not a member."))
        # The window reads /api/v1/me again (the new workspace's pages, the caller's role in it) and then refreshes
        # this page, so the table and its buttons follow the new permissions.
        self.reload_navigation.emit()

    def cancel_workspace_action(self) -> None:
        workspace = self.selected()
        if workspace is None:
            return
        name = workspace["name"]
        held = " It is on legal hold, so it is not purged while the hold lasts." \
            if (workspace.get("hold") or {}).get("on") else ""
        confirm(self, f"Cancel the workspace {name}?",
                f"{name} becomes read-only now: its agents, sources, members and API keys can still be read and "
                "exported, but nothing can be changed. It is then purged, with everything in it and its copies in "
                f"backups, {self._purge_in()}, unless the owner undoes the cancellation before then. The owner is "
                f"told by mail.{held}",
                "Cancel workspace", lambda: self._cancel(workspace), destructive=True)

    def _purge_in(self) -> str:
        days = self.context.me.get("appliance", {}).get("cancellation_purge_days")
        if not days:
            return "on the date the appliance sets (shown once it is cancelled)"
        moment = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)
        return f"{days} day{'s' if days != 1 else ''} from now (after {moment:%Y-%m-%d})"

    def _cancel(self, workspace: dict) -> None:
        self.api.post(f"/api/v1/workspaces/{workspace['id']}/cancel",
                      on_done=lambda answer: self._cancelled(workspace, answer["cancellation"]),
                      on_error=lambda e: self.show_error(e, role=self.context.role_in(workspace["id"])))

    def _cancelled(self, workspace: dict, cancellation: dict) -> None:
        purge = when(cancellation["purge_after"])
        held = " It is on legal hold: it is not purged while the hold lasts." if cancellation["legal_hold"] else ""
        self.show_notice(f"{workspace['name']} is cancelled and read-only. It is purged after {purge} unless the "
                         f"cancellation is undone before then.{held}")
        self.reload_navigation.emit()

    def undo_cancellation_action(self) -> None:
        workspace = self.selected()
        if workspace is None:
            return
        self.api.post(f"/api/v1/workspaces/{workspace['id']}/cancel/undo",
                      on_done=lambda answer: self._undone(workspace),
                      on_error=lambda e: self.show_error(e, role=self.context.role_in(workspace["id"])))

    def _undone(self, workspace: dict) -> None:
        self.show_notice(f"The cancellation of {workspace['name']} is undone: its purge is called off and it can be "
                         "changed again.")
        self.reload_navigation.emit()

    def legal_hold_action(self) -> None:
        workspace = self.selected()
        path = self._hold_path(workspace) if workspace else None
        if path is None:
            return
        self.hold_dialog = LegalHoldDialog(self, workspace, path, role=self.context.role_in(workspace["id"]))
        self.hold_dialog.saved.connect(lambda hold: self._held(workspace, hold))
        self.hold_dialog.open()

    def _held(self, workspace: dict, hold: dict | None) -> None:
        name = workspace["name"]
        self.show_notice(f"{name} is on legal hold: it is never purged, and its conversations and leads cannot be "
                         "deleted, until the hold is lifted." if hold else
                         f"The legal hold on {name} is lifted." + (
                             " Its purge goes ahead on its date unless the cancellation is undone."
                             if _cancelled(workspace) else ""))
        self.refresh_action()
