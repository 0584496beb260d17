"""Leads (per workspace): the contact details visitors left through the chat widget, newest first, searched by name,
email, phone, company or any field; the selected lead with its consent record and conversation; deleting a lead with
its receipt; exporting what the search selects as CSV."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from urllib.parse import urlencode

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QLineEdit, QSplitter, QTextBrowser

from gui.client.errors import ApiError
from gui.models.table import Column, RecordsModel
from gui.views.conversation_deletion import plural, show_receipt
from gui.views.conversation_filters import SEARCH_PAUSE_MS
from gui.views.conversation_transcript import MUTED
from gui.views.lead_detail import lead_html, lead_name
from gui.views.page import Page
from gui.widgets.buttons import action_button
from gui.widgets.dialogs import confirm
from gui.widgets.formatting import size, when
from gui.widgets.tables import records_table, selected_record

PAGE_SIZE = 100


EXPORT_TIMEOUT = 120  # seconds the appliance may take to start a large export

READ_ONLY = ("This workspace is cancelled and read-only: its leads can be read and exported until the purge, "
             "but not deleted.")


def _counted(path: Path) -> tuple[int, int]:
    """How many leads the saved export holds (read on a worker thread, a row at a time: its rows but the header),
    and its size in bytes."""
    with path.open(newline="", encoding="utf-8") as saved:
        rows = sum(1 for _ in csv.reader(saved))
    return max(0, rows - 1), path.stat().st_size


class LeadsPage(Page):
    title = "Leads"

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        self.agent_names: dict[str, str] = {}
        self.receipt_dialog = None
        self.exporting = False
        self.export_transfer = None  # the download under way
        self._generation = 0
        self._shown_id: str | None = None
        self.add_intro("Contact details visitors left through the chat widget, newest first, each with the consent "
                       "they gave. This is personal data: only admins and owners see it, and every export and "
                       "deletion is audited.")
        self.add_read_only_notice(READ_ONLY)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Search"))
        self.search = QLineEdit()
        self.search.setObjectName("leadSearch")
        self.search.setPlaceholderText("Name, email, phone, company or any field the visitor filled in")
        self.search.setClearButtonEnabled(True)
        self._pause = QTimer(self)
        self._pause.setSingleShot(True)
        self._pause.setInterval(SEARCH_PAUSE_MS)
        self._pause.timeout.connect(self.search_action)
        self.search.textEdited.connect(lambda _: self._pause.start())
        self.search.returnPressed.connect(self.search_action)
        bar.addWidget(self.search, 1)
        self.body.addLayout(bar)

        self.leads = RecordsModel([
            Column("created_at", "Left", show=lambda lead: when(lead["created_at"])[:16],
                   sort=lambda lead: lead["created_at"]),
            Column("name", "Name"),
            Column("email", "Email"),
            Column("phone", "Phone"),
            Column("company", "Company"),
        ], loader=self._load)
        # The agent, page and consent are in the detail beside the table: the table keeps room for the email.
        self.table = records_table(self.leads, name="leadsTable", stretch=2,
                                   widths={0: 118, 1: 104, 3: 96, 4: 124},
                                   sort=(0, Qt.SortOrder.DescendingOrder), owner=self)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.leads.modelReset.connect(self._loaded)
        self.leads.rowsInserted.connect(lambda *_: self._show_count())

        actions = QHBoxLayout()
        self.count = QLabel()
        self.count.setObjectName("leadCount")
        self.count.setStyleSheet(MUTED)
        actions.addWidget(self.count, 1)
        self.more_button = action_button("Load more", lambda: self.leads.fetchMore(), name="loadMore", row=actions)
        self.delete_button = action_button("Delete…", self.delete_action, name="deleteLead", row=actions)
        self.export_button = action_button("Export CSV…", lambda: self.export_action(), name="exportCsv",
                                           row=actions)
        self.cancel_export_button = action_button("Cancel export", self.cancel_export_action, name="cancelExport",
                                                  row=actions)
        self.body.addLayout(actions)
        self.empty = QLabel()
        self.empty.setObjectName("emptyState")
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet(MUTED)
        self.body.addWidget(self.empty)
        self.detail = QTextBrowser()
        self.detail.setObjectName("leadDetail")
        self.detail.setOpenExternalLinks(True)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([660, 360])  # at 1280 px the email still shows whole
        self.body.addWidget(splitter, 1)
        self._update_buttons()

    @property
    def base(self) -> str:
        return f"/api/v1/workspaces/{self.workspace_id}"

    def may_delete(self) -> bool:
        return not self.read_only and self.context.may(self.workspace_id, "leads.delete")

    # --- loading ----------------------------------------------------------------------------------------------

    def refresh_action(self) -> None:
        self.clear_message()
        self.update_read_only_notice()
        self.api.get_all(f"{self.base}/agents", "agents", on_done=self._got_agents, on_error=lambda e: None,
                         limit=200)
        self.search_action()

    def _got_agents(self, agents: list[dict]) -> None:
        self.agent_names = {agent["id"]: agent["name"] for agent in agents}

    def query(self) -> dict[str, str]:
        q = self.search.text().strip()
        return {"q": q} if q else {}

    def search_action(self) -> None:
        self._pause.stop()
        if self.banner.kind == "error":
            self.clear_message()
        self._generation += 1
        self.leads.reload()

    def _load(self, after, deliver) -> None:
        generation = self._generation
        query = {**self.query(), "limit": PAGE_SIZE, **({"after": after} if after else {})}

        def done(answer: dict) -> None:
            if generation == self._generation:
                deliver(answer["leads"], answer.get("next_after"))
                self._show_count()

        def failed(error: ApiError) -> None:
            if generation == self._generation:
                self.leads.loading_failed()
                self.show_error(error)

        self.api.get(f"{self.base}/leads?{urlencode(query)}", on_done=done, on_error=failed)

    def _loaded(self) -> None:
        self.detail.setVisible(bool(self.leads.rowCount()))  # an empty pane would only take room
        if self.leads.rowCount():
            self.empty.hide()
        else:
            searched = self.search.text().strip()
            self.empty.setText(f"No lead matches “{searched}”." if searched else (
                "No leads yet. Visitors leave their details through an agent's chat widget when it offers its "
                "contact form (Agents: lead capture on a fallback, or always)."))
            self.empty.show()
        self._show_count()
        self._selection_changed()

    def _show_count(self) -> None:
        shown, more = self.leads.rowCount(), self.leads.canFetchMore()
        self.count.setText(f"{plural(shown, 'lead')}{' shown; scroll or Load more for older ones' if more else ''}"
                           if shown else "")
        self.more_button.setVisible(more)

    # --- the selected lead ------------------------------------------------------------------------------------

    def selected_lead(self) -> dict | None:
        return selected_record(self.table)

    def _selection_changed(self) -> None:
        self._update_buttons()
        lead = self.selected_lead()
        if lead is None:
            self._shown_id = None
            self.detail.setHtml(f"<p style='{MUTED}'>Select a lead to see its details, consent record and "
                                "conversation.</p>" if self.leads.rowCount() else "")
            return
        if lead["id"] == self._shown_id:
            return
        self._shown_id = lead["id"]
        self.detail.setHtml(f"<p style='{MUTED}'>Loading the lead…</p>")
        self.api.get(f"{self.base}/leads/{lead['id']}", on_done=self._got_lead, on_error=self.show_error)

    def _got_lead(self, answer: dict) -> None:
        lead = answer["lead"]
        if lead["id"] != self._shown_id:
            return
        self.detail.setHtml(lead_html(lead, answer.get("conversation"),
                                      agent_name=self.agent_names.get(lead["agent_id"], ""),
                                      may_read_conversation="conversation" in answer))

    def _update_buttons(self) -> None:
        self.delete_button.setEnabled(self.may_delete() and self.selected_lead() is not None)
        listed = bool(self.leads.rowCount())
        self.export_button.setEnabled(listed and not self.exporting)
        self.export_button.setToolTip("" if listed else "Nothing to export: no lead matches the search.")
        self.cancel_export_button.setVisible(self.exporting)
        self.cancel_export_button.setEnabled(self.exporting)

    # --- actions ----------------------------------------------------------------------------------------------

    def delete_action(self) -> None:
        lead = self.selected_lead()
        if lead is None or not self.may_delete():
            return
        confirm(self, f"Delete the lead of {lead_name(lead)}?",
                "The details the visitor left and their consent record are deleted for good; the conversation it "
                "came from stays. The audit log keeps the deletion by id, never the details. This cannot be "
                "undone.", "Delete", lambda: self._delete(lead), destructive=True)

    def _delete(self, lead: dict) -> None:
        self.delete_button.setEnabled(False)
        self.api.delete(f"{self.base}/leads/{lead['id']}", on_done=lambda receipt: self._deleted(lead, receipt),
                        on_error=lambda e: (self.show_error(e), self._update_buttons()))

    def _deleted(self, lead: dict, receipt: dict) -> None:
        by = self.context.user.get("email") or receipt.get("by") or "you"
        text = (f"Deleted the lead of {lead_name(lead)} ({plural(receipt['deleted']['leads'], 'lead')}) at "
                f"{when(receipt['at'])} by {by}.")
        self.show_notice(text)
        self.receipt_dialog = show_receipt(self, "Deletion receipt", text + " The audit log records it by id, "
                                           "never by content.")
        self._shown_id = None
        self.search_action()

    def export_action(self, path: str | None = None) -> None:
        """Export the leads the search selects as CSV; `path` (a test's) skips asking where."""
        if path is None:
            day = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
            path, _ = QFileDialog.getSaveFileName(self, "Export leads as CSV", f"leads-{day}.csv",
                                                  "CSV files (*.csv)")
            if not path:
                return
        target = Path(path)
        if target.suffix.lower() != ".csv":
            target = target.with_name(target.name + ".csv")
        self.exporting = True
        self._update_buttons()
        self.show_notice("Exporting the leads…")
        self.export_transfer = self.api.download(
            "GET", f"{self.base}/leads/export?{urlencode(self.query())}", target=target, timeout=EXPORT_TIMEOUT,
            on_progress=lambda received, _total: self.show_notice(f"Exporting the leads: {size(received)} so far…"),
            on_done=lambda _headers: self._count(target), on_error=self._not_exported)

    def cancel_export_action(self) -> None:
        if self.export_transfer is not None:
            self.cancel_export_button.setEnabled(False)
            self.export_transfer.cut_off()

    def _count(self, target: Path) -> None:
        self.export_transfer = None
        self.context.background.run(lambda: _counted(target), on_done=lambda counted: self._exported(target, *counted),
                                    on_error=lambda exc: self._exported(target))

    def _exported(self, target: Path, count: int | None = None, written: int | None = None) -> None:
        self.exporting = False
        self._update_buttons()
        if count is None:
            self.show_notice(f"The leads were exported to {target}.")
        else:
            self.show_notice(f"{plural(count, 'lead')} exported to {target} ({size(written)}).")

    def _not_exported(self, error: ApiError) -> None:
        self.export_transfer = None
        self.exporting = False
        self._update_buttons()
        if error.code == "cancelled":
            self.show_notice("Export cancelled; no file was left behind.")
        else:
            self.show_error(error)
