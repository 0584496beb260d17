"""The audit log: the appliance's whole log for operators (Audit log) and one workspace's trail for its admins
(Audit trail), filtered by action, actor, workspace, outcome and date, paged through the API's cursor as the table
scrolls, exported as CSV with the same filters; operators can also verify the HMAC chain now."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from urllib.parse import urlencode

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
)

from gui.client.errors import ApiError
from gui.models.table import Column, RecordsModel
from gui.views.audit_export import export_csv, save_dialog
from gui.views.page import Page
from gui.widgets.buttons import action_button
from gui.widgets.dates import ANY_DATE, OptionalDate
from gui.widgets.tables import records_table, selected_record

# Offered in the action filter; any other action (or a prefix: "auth" matches every auth.*) can be typed.
KNOWN_ACTIONS = (
    "auth", "auth.login", "auth.logout", "auth.password_change", "session", "user", "user.create_operator",
    "user.disable", "workspace", "workspace.create", "workspace.rename", "workspace.transfer", "workspace.export",
    "workspace.purge", "member", "invitation", "api_key", "api_key.create", "api_key.revoke", "api_key.refused",
    "retention", "backup", "backup.create", "backup.verify", "backup.prune", "job.run", "audit.verify", "key.rotate",
)
OUTCOMES = (("Any outcome", ""), ("Success", "success"), ("Failure", "failure"), ("Denied", "denied"))
REFUSED, BROKEN = "#fdf1f0", "#f4c7c3"


def _time(event: dict) -> str:
    moment = dt.datetime.fromisoformat(event["at"].replace("Z", "+00:00"))
    return f"{moment.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M:%S}"


def _target(event: dict) -> str:
    return " ".join(part for part in (event.get("target_type"), event.get("target_id")) if part)


def _details(event: dict) -> str:
    return ", ".join(f"{key}={value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"
                     for key, value in (event.get("details") or {}).items())


class AuditPage(Page):
    """The operators' view of the whole log; WorkspaceAuditPage is the same with one workspace's path."""

    title = "Audit log"
    page_size = 100  # events per page the table asks for as it scrolls

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        self.operator_view = self.workspace_id is None
        self.workspace_names: dict[str, str] = {}
        self.people: dict[str, str] = {}  # user id -> email, for the Actor column and the actor filter
        self.chain: dict | None = None  # the last answer of Verify chain
        self._generation = 0  # answers for filters no longer shown are dropped
        self.export_dialog: QFileDialog | None = None

        self.add_intro("Every security-relevant action, newest first; scroll down for older events. Rows cannot be "
                       "changed or removed without breaking the chain." if self.operator_view else
                       "What was done in this workspace and by whom, newest first; scroll down for older events.")
        self.body.addLayout(self._filters())
        self.events = RecordsModel(self._columns(), loader=self._load, highlight=self._colour)
        widths = [135, 164, 150, 72] + ([110] if self.operator_view else []) + [120, 85]
        self.table = records_table(self.events, name="auditTable", widths=dict(enumerate(widths)),
                                   stretch=len(widths))
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.events.modelReset.connect(self._show_count)
        self.events.modelReset.connect(self._selected)
        self.events.rowsInserted.connect(self._show_count)
        self.table.selectionModel().selectionChanged.connect(self._selected)
        self.body.addWidget(self.table, 1)
        self.selected_line = QLabel()
        self.selected_line.setObjectName("selectedEvent")
        self.selected_line.setWordWrap(True)
        self.selected_line.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.selected_line.hide()
        self.body.addWidget(self.selected_line)
        self.count = QLabel()
        self.count.setObjectName("auditCount")
        self.count.setStyleSheet("color:#5f6b7a;")
        self.body.addWidget(self.count)

    @property
    def path(self) -> str:
        return f"/api/v1/workspaces/{self.workspace_id}/audit" if self.workspace_id else "/api/v1/audit"

    def _columns(self) -> list[Column]:
        columns = [
            Column("at", "Time (UTC)", show=_time, sort=lambda e: e["seq"]),
            Column("actor_id", "Actor", show=self._actor),
            Column("action", "Action"),
            Column("outcome", "Outcome"),
        ]
        if self.operator_view:
            columns.append(Column("workspace_id", "Workspace",
                                  show=lambda e: self.workspace_names.get(e["workspace_id"], e["workspace_id"] or "")))
        return columns + [Column("target_id", "Target", show=_target), Column("client_address", "Address"),
                          Column("details", "Details", show=_details)]

    def _filters(self) -> QGridLayout:
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)
        self.action = QComboBox()
        self.action.setObjectName("filterAction")
        self.action.setEditable(True)
        self.action.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.action.addItems(["", *KNOWN_ACTIONS])
        self.action.lineEdit().setPlaceholderText("any action")
        self.action.setToolTip("An action, or a prefix: 'auth' matches auth.login, auth.logout, …")
        self.action.setMinimumWidth(190)
        self.action.activated.connect(self.apply_filters_action)
        self.action.lineEdit().returnPressed.connect(self.apply_filters_action)
        self.actor = QLineEdit()
        self.actor.setObjectName("filterActor")
        self.actor.setPlaceholderText("email or user id")
        self.actor.setMinimumWidth(190)
        self.actor.returnPressed.connect(self.apply_filters_action)
        self.workspace = QComboBox()
        self.workspace.setObjectName("filterWorkspace")
        self.workspace.addItem("Any workspace", "")
        self.workspace.setMinimumWidth(170)
        self.workspace.activated.connect(self.apply_filters_action)
        self.outcome = QComboBox()
        self.outcome.setObjectName("filterOutcome")
        for label, value in OUTCOMES:
            self.outcome.addItem(label, value)
        self.outcome.activated.connect(self.apply_filters_action)
        self.since = OptionalDate()
        self.since.setObjectName("filterFrom")
        self.until = OptionalDate()
        self.until.setObjectName("filterTo")
        for edit in (self.since, self.until):
            edit.editingFinished.connect(self.apply_filters_action)
            edit.calendarWidget().clicked.connect(lambda _day: self.apply_filters_action())

        def label(text: str) -> QLabel:
            found = QLabel(text)
            found.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return found

        grid.addWidget(label("Action"), 0, 0)
        grid.addWidget(self.action, 0, 1)
        grid.addWidget(label("Actor"), 0, 2)
        grid.addWidget(self.actor, 0, 3)
        grid.addWidget(label("Outcome"), 0, 4)
        grid.addWidget(self.outcome, 0, 5)
        if self.operator_view:
            grid.addWidget(label("Workspace"), 0, 6)
            grid.addWidget(self.workspace, 0, 7)
        else:
            self.workspace.hide()
        grid.addWidget(label("From (UTC)"), 1, 0)
        grid.addWidget(self.since, 1, 1)
        grid.addWidget(label("To (UTC)"), 1, 2)
        grid.addWidget(self.until, 1, 3)
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        self.apply_button = action_button("Apply filters", self.apply_filters_action, row=buttons)
        self.clear_button = action_button("Clear", self.clear_filters_action, row=buttons)
        buttons.addStretch(1)
        self.export_button = action_button("Export CSV…", lambda: self.export_csv_action(), name="exportCsv",
                                           row=buttons)
        self.verify_button = action_button("Verify chain", self.verify_chain_action, name="verifyChain", row=buttons)
        self.verify_button.setToolTip("Walk the whole HMAC chain now and name the first row that was altered, "
                                      "removed or inserted")
        self.verify_button.setVisible(self.operator_view)
        grid.addLayout(buttons, 1, 4, 1, 5)
        grid.setColumnStretch(8, 1)
        return grid

    # Loading -------------------------------------------------------------------------------------------------------

    def refresh_action(self) -> None:
        if self.read_only:
            self.show_notice("This workspace is cancelled: its audit trail stays readable until the purge.")
        self._load_people()
        if self.operator_view:
            self._load_workspaces()
        self.apply_filters_action()

    def filters(self) -> dict[str, str]:
        """The filters as the API's query parameters (the actor as an id: an email is looked up first)."""
        query = {"action": self.action.currentText().strip(), "outcome": self.outcome.currentData() or "",
                 "since": self.since.day_start() or "", "until": self.until.day_start(days_after=1) or ""}
        if self.operator_view:
            query["workspace_id"] = self.workspace.currentData() or ""
        actor = self.actor.text().strip()
        if actor:
            query["actor_id"] = self._actor_id(actor) or ""
        return {key: value for key, value in query.items() if value}

    def apply_filters_action(self) -> None:
        actor = self.actor.text().strip()
        if actor and self._actor_id(actor) is None:
            self._generation += 1
            self.events.set_records([])
            self.banner.show_message(f"No account uses {actor}. The actor filter takes an email address or a user "
                                     "id.", kind="warning")
            return
        if self.banner.kind == "warning":
            self.clear_message()
        self._generation += 1
        self.events.reload()

    def clear_filters_action(self) -> None:
        self.action.setCurrentText("")
        self.actor.clear()
        self.workspace.setCurrentIndex(0)
        self.outcome.setCurrentIndex(0)
        self.since.setDate(ANY_DATE)
        self.until.setDate(ANY_DATE)
        self.apply_filters_action()

    def _actor_id(self, actor: str) -> str | None:
        """The user id the filter means: an email is looked up among the accounts this page knows."""
        if "@" not in actor:
            return actor
        return next((user_id for user_id, email in self.people.items() if email == actor.lower()), None)

    def _load(self, after, deliver) -> None:
        generation = self._generation
        query = {**self.filters(), "order": "newest", "limit": self.page_size, **({"after": after} if after else {})}

        def done(answer: dict) -> None:
            if generation == self._generation:
                deliver(answer["events"], answer.get("next_after"))

        def failed(error: ApiError) -> None:
            if generation == self._generation:
                self.events.loading_failed()
                self.show_error(error)

        self.api.get(f"{self.path}?{urlencode(query)}", on_done=done, on_error=failed)

    def _load_people(self) -> None:
        """Who the actor ids are: every account (operators) or the workspace's members."""
        path = "/api/v1/users" if self.operator_view else f"/api/v1/workspaces/{self.workspace_id}/members"
        key, id_key = ("users", "id") if self.operator_view else ("members", "user_id")

        def got(people: list[dict]) -> None:
            self.people = {person[id_key]: person["email"].lower() for person in people}
            self._repaint()  # actors now show as emails
            if "@" in self.actor.text():
                self.apply_filters_action()

        self.api.get_all(path, key, on_done=got, on_error=lambda e: None)

    def _load_workspaces(self) -> None:
        def got(workspaces: list[dict]) -> None:
            self.workspace_names = {w["id"]: w["name"] for w in workspaces}
            chosen = self.workspace.currentData()
            self.workspace.blockSignals(True)
            self.workspace.clear()
            self.workspace.addItem("Any workspace", "")
            for workspace_id, name in sorted(self.workspace_names.items(), key=lambda pair: pair[1].lower()):
                self.workspace.addItem(name, workspace_id)
            self.workspace.setCurrentIndex(max(0, self.workspace.findData(chosen)))
            self.workspace.blockSignals(False)
            self._repaint()

        self.api.get_all("/api/v1/workspaces?all=1", "workspaces", on_done=got, on_error=self.show_error)

    def _repaint(self) -> None:
        """Show the rows again with what was learnt since (names, emails, the bad row)."""
        if self.events.rowCount():
            self.events.dataChanged.emit(self.events.index(0, 0),
                                         self.events.index(self.events.rowCount() - 1, len(self.events.columns) - 1))

    def _actor(self, event: dict) -> str:
        actor_id, kind = event.get("actor_id"), event["actor_type"]
        if kind == "user":
            return self.people.get(actor_id, actor_id or "user")
        if kind == "api_key":
            return f"API key {actor_id}"
        return f"{kind} ({actor_id})" if actor_id else kind

    def _colour(self, event: dict) -> str | None:
        if self.chain and not self.chain["ok"] and event["seq"] == self.chain.get("first_bad_seq"):
            return BROKEN
        return REFUSED if event["outcome"] != "success" else None

    def _selected(self) -> None:
        event = selected_record(self.table)
        if event is None:
            self.selected_line.hide()
            return
        details = json.dumps(event.get("details") or {}, sort_keys=True, ensure_ascii=False)
        self.selected_line.setText(f"Row {event['seq']}, {_time(event)} UTC: {event['action']} by "
                                   f"{self._actor(event)} ({event['outcome']}); target {_target(event) or 'none'}; "
                                   f"details {details}")
        self.selected_line.show()

    def _show_count(self) -> None:
        shown = self.events.rowCount()
        if shown == 0:
            self.count.setText("No events match these filters. Clear a filter or widen the dates."
                               if self.filters() else "Nothing has been recorded yet.")
        else:
            more = "; scroll down for more" if self.events.canFetchMore() else ""
            self.count.setText(f"{shown} event{'' if shown == 1 else 's'} shown{more}.")

    # Export --------------------------------------------------------------------------------------------------------

    def export_csv_action(self, path: str | None = None) -> None:
        """Save the events the filters select as CSV to `path`; without one, ask where first."""
        if path is None:
            self.export_dialog = save_dialog(self)
            self.export_dialog.fileSelected.connect(self.export_csv_action)
            self.export_dialog.open()
            return
        self.export_button.setEnabled(False)
        self.show_notice(f"Exporting to {path}…")
        target = Path(path)
        export_csv(self.api, self.context.background, self.path, self.filters(), target,
                   on_done=lambda count: self._exported(target, count), on_refused=self._not_exported,
                   on_unwritten=lambda exc: self._not_written(target, exc))

    def _exported(self, path: Path, count: int) -> None:
        self.export_button.setEnabled(True)
        self.show_notice(f"Exported {count} event{'' if count == 1 else 's'} to {path}.")

    def _not_written(self, path: Path, exc: BaseException) -> None:
        self.export_button.setEnabled(True)
        self.banner.show_message(f"The export could not be written to {path}: {exc}", kind="error")

    def _not_exported(self, error: ApiError) -> None:
        self.export_button.setEnabled(True)
        self.show_error(error)

    # Verifying the chain -------------------------------------------------------------------------------------------

    def verify_chain_action(self) -> None:
        self.verify_button.setEnabled(False)
        self.show_notice("Verifying the audit chain…")
        self.api.post("/api/v1/audit/verify", on_done=self._verified, on_error=self._not_verified)

    def _verified(self, result: dict) -> None:
        self.chain = result
        self._repaint()
        if result["ok"]:
            self.verify_button.setEnabled(True)
            self.show_notice(f"Intact: {result['rows_checked']} rows checked.")
            return
        bad = result.get("first_bad_seq")
        if bad is None:
            self._show_broken(result, None)
            return
        # The answer names the row by number; its time and action tell the admin where to look.
        self.api.get(f"/api/v1/audit?after={bad - 1}&limit=1",
                     on_done=lambda a: self._show_broken(result, next(iter(a["events"]), None)),
                     on_error=lambda e: self._show_broken(result, None))

    def _show_broken(self, result: dict, row: dict | None) -> None:
        self.verify_button.setEnabled(True)
        bad = result.get("first_bad_seq")
        where = f"row {bad}" if bad is not None else "the end of the log"
        if row is not None and row["seq"] == bad:
            where += f" ({_time(row)} UTC, {row['action']})"
        self.banner.show_message(f"The audit chain is broken at {where}: {result['problem'].rstrip('.')}. "
                                 f"{result['rows_checked']} rows before it are intact. Compare the log with a backup.",
                                 kind="error")

    def _not_verified(self, error: ApiError) -> None:
        self.verify_button.setEnabled(True)
        self.show_error(error)


class WorkspaceAuditPage(AuditPage):
    """One workspace's trail, for its members whose role may read it (admins and owners)."""

    title = "Audit trail"
