"""Workspaces: every workspace for operators (only their own for members) with its status, purge date, legal hold and
owner; creating one with its owner, cancelling it (read-only now, purged later unless undone), undoing that, and the
legal hold that keeps a workspace from ever being purged."""

from __future__ import annotations

import datetime as dt
from typing import Callable

from PySide6.QtCore import QItemSelectionModel, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
)

from gui.client.errors import ApiError
from gui.models.table import Column, RecordsModel
from gui.views.page import Page
from gui.widgets.dialogs import confirm
from gui.widgets.formatting import when
from gui.widgets.forms import FieldForm

CANCELLED = "#eceff1"
GREY = "#6b7580"
HOLD_EXPLAINED = ("A workspace on legal hold is never purged, not even after it is cancelled, and no one can delete "
                  "its conversations or leads until the hold is lifted.")


def _on_field(error: ApiError) -> ApiError:
    if error.field or error.status != 400:
        return error
    if error.message.startswith("a workspace name"):
        return error.on_field("name")
    if error.message.startswith("the owner"):
        return error.on_field("owner_email")
    return error


def _day(text: str | None) -> str:
    return when(text)[:10]


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
    return f"cancelled (read-only), purged {_day(purge)}" if purge else "cancelled (read-only)"


def _hold(workspace: dict) -> str:
    """What the caller may know of the hold: `hold` is None when the API shows it neither to their role nor to
    operators (an active workspace they are not a member of)."""
    hold = workspace.get("hold")
    if hold is None:
        return f"not shown to {workspace['role']}s" if workspace.get("role") else "not shown to your role"
    if not hold["on"]:
        return "off"
    if hold.get("reason"):
        return f"on: {hold['reason']}"
    return f"on since {_day(hold['since'])}" if hold.get("since") else "on"


class WorkspacesModel(RecordsModel):
    """Cancelled workspaces read as read-only: greyed out, besides the status that says so."""

    def data(self, index, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.ForegroundRole and index.isValid() and _cancelled(self.record(index.row())):
            return QBrush(QColor(GREY))
        return super().data(index, role)


class NewWorkspaceDialog(QDialog):
    """Name and (optionally) owner of a new workspace; `created` carries the workspace the API made."""

    created = Signal(dict)

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.api = page.api
        self.setWindowTitle("New workspace")
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        heading = QLabel("New workspace")
        heading.setObjectName("dialogTitle")
        layout.addWidget(heading)
        self.form = FieldForm()
        self.name = self.form.add_field("name", "Name", QLineEdit(), hint="1 to 100 characters, e.g. the customer's "
                                        "or team's name.")
        self.owner_email = self.form.add_field(
            "owner_email", "Owner's email", QLineEdit(),
            hint="Leave empty to own it yourself. Someone else must already have an account on this appliance.")
        layout.addWidget(self.form)
        self.create_button = _buttons(layout, self, "Create workspace", self.submit_action)

    def submit_action(self) -> None:
        body = {"name": self.name.text()}
        if self.owner_email.text().strip():
            body["owner_email"] = self.owner_email.text().strip()
        self.form.clear_errors()
        self.create_button.setEnabled(False)
        self.api.post("/api/v1/workspaces", body, on_done=self._created, on_error=self._refused)

    def _created(self, answer: dict) -> None:
        self.created.emit(answer["workspace"])
        self.accept()

    def _refused(self, error: ApiError) -> None:
        self.create_button.setEnabled(True)
        self.form.show_error(_on_field(error))


class LegalHoldDialog(QDialog):
    """Put a workspace on legal hold with a reason, or lift the hold; `saved` carries the hold afterwards (or None)."""

    saved = Signal(object)

    def __init__(self, page: Page, workspace: dict, path: str, *, role: str | None) -> None:
        super().__init__(page)
        self.api, self.path, self.role = page.api, path, role
        self.setWindowTitle(f"Legal hold: {workspace['name']}")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        heading = QLabel(f"Legal hold: {workspace['name']}")
        heading.setObjectName("dialogTitle")
        layout.addWidget(heading)
        note = QLabel(HOLD_EXPLAINED)
        note.setWordWrap(True)
        layout.addWidget(note)
        hold = workspace.get("hold")
        now = QLabel("Now: " + (_hold(workspace) if hold is not None else "not shown to your role (the appliance "
                                "shows a hold to operators and to roles that may read retention settings)."))
        now.setWordWrap(True)
        now.setStyleSheet(f"color:{GREY};")
        layout.addWidget(now)
        self.form = FieldForm()
        self.on = self.form.add_field("on", "Legal hold", QCheckBox("Keep this workspace on legal hold"))
        self.reason = self.form.add_field("reason", "Reason", QLineEdit(),
                                          hint="For the audit log: a case or request number (at most 500 characters).")
        self.on.toggled.connect(self.reason.setEnabled)
        self.on.setChecked(bool(hold and hold["on"]))
        self.reason.setEnabled(self.on.isChecked())
        self.reason.setText((hold or {}).get("reason") or "")
        layout.addWidget(self.form)
        self.save_button = _buttons(layout, self, "Save", self.submit_action)

    def submit_action(self) -> None:
        on = self.on.isChecked()
        self.form.clear_errors()
        self.save_button.setEnabled(False)
        self.api.put(self.path, {"on": on, "reason": (self.reason.text().strip() or None) if on else None},
                     on_done=self._saved, on_error=self._refused)

    def _saved(self, answer: dict) -> None:
        self.saved.emit(answer["legal_hold"])
        self.accept()

    def _refused(self, error: ApiError) -> None:
        self.save_button.setEnabled(True)
        self.form.show_error(error, role=self.role)


def _buttons(layout: QVBoxLayout, dialog: QDialog, action: str, submit: Callable[[], None]) -> QPushButton:
    row = QHBoxLayout()
    row.addStretch(1)
    cancel = QPushButton("Cancel")
    cancel.clicked.connect(dialog.reject)
    row.addWidget(cancel)
    button = QPushButton(action)
    button.setDefault(True)
    button.clicked.connect(submit)
    row.addWidget(button)
    layout.addLayout(row)
    return button


class WorkspacesPage(Page):
    title = "Workspaces"

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        intro = QLabel("Every workspace on this appliance. Operators see that a workspace exists and who owns it, "
                       "never its content unless they are members." if self._everyone else
                       "The workspaces you are a member of, and your role in each.")
        intro.setWordWrap(True)
        self.body.addWidget(intro)
        self.workspaces = WorkspacesModel([
            Column("name", "Name"),
            Column("status", "Status", show=_status),
            Column("hold", "Legal hold", show=_hold),
            Column("owner", "Owner", show=self._owner),
            Column("role", "Your role", show=lambda w: w.get("role") or "not a member"),
            Column("created_at", "Created", show=lambda w: _day(w["created_at"]), sort=lambda w: w["created_at"]),
        ], loader=self._load_workspaces, highlight=lambda w: CANCELLED if _cancelled(w) else None)
        self.sorted = QSortFilterProxyModel(self)
        self.sorted.setSourceModel(self.workspaces)
        self.sorted.setSortRole(Qt.ItemDataRole.UserRole)
        self.sorted.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.table = QTableView()
        self.table.setObjectName("workspacesTable")
        self.table.setModel(self.sorted)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        for column, width in enumerate((170, 265, 0, 180, 100, 95)):
            if width:
                self.table.setColumnWidth(column, width)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._update_actions)
        self.empty = QLabel()
        self.empty.setObjectName("emptyState")
        self.empty.setStyleSheet(f"color:{GREY};padding:24px 0;")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.hide()
        actions = QHBoxLayout()
        self.new_button = self._button(actions, "New workspace", self.new_workspace_action)
        self.new_button.setVisible(context.operator_may("workspaces.create"))
        self.cancel_button = self._button(actions, "Cancel workspace", self.cancel_workspace_action)
        self.undo_button = self._button(actions, "Undo cancellation", self.undo_cancellation_action)
        self.hold_button = self._button(actions, "Legal hold…", self.legal_hold_action)
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

    @staticmethod
    def _button(row: QHBoxLayout, text: str, action: Callable[[], None]) -> QPushButton:
        button = QPushButton(text)
        button.clicked.connect(action)
        row.addWidget(button)
        return button

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
        rows = self.table.selectionModel().selectedRows()
        return self.workspaces.record(self.sorted.mapToSource(rows[0]).row()) if rows else None

    def select(self, workspace_id: str) -> bool:
        """Select the workspace's row; False if it is not (yet) in the table."""
        for row, workspace in enumerate(self.workspaces.records()):
            if workspace["id"] == workspace_id:
                self.table.selectionModel().select(
                    self.sorted.mapFromSource(self.workspaces.index(row, 0)),
                    QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
                return True
        return False

    def refresh_action(self) -> None:
        if self.banner.kind == "error":
            self.clear_message()  # what failed before is asked again; a notice of what was done stays
        self.workspaces.reload()

    def _load_workspaces(self, after: str | None, deliver) -> None:
        selected = (self.selected() or {}).get("id")
        query = "?limit=100" + ("&all=true" if self._everyone else "") + (f"&after={after}" if after else "")

        def got(answer: dict) -> None:
            deliver([self._record(w) for w in answer["workspaces"]], answer["next_after"])
            self._shown(selected)

        self.api.get(f"/api/v1/workspaces{query}", on_done=got,
                     on_error=lambda e: (self.workspaces.loading_failed(), self.show_error(e)))

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
            since = f" since {_day(hold['since'])}" if hold.get("since") else ""
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
