"""Conversations (per workspace): the inbox of what visitors and integrations asked, newest first, filtered by date,
agent, outcome, lead, rating, channel and the words in it; the selected conversation's transcript with each reply's
sources; deleting one or many with a receipt; exporting what the filters select as CSV or JSON."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import urlencode

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSplitter,
)

from gui.client.errors import ApiError
from gui.models.table import RecordsModel
from gui.views.conversation_columns import fell_back_highlight, inbox_columns
from gui.views.conversation_deletion import (
    ConversationDeletion,
    DeleteConversationsDialog,
    plural,
    receipt_text,
    show_receipt,
)
from gui.views.conversation_export import ConversationExport
from gui.views.conversation_filters import ConversationFiltersBar
from gui.views.conversation_transcript import TranscriptView
from gui.views.page import Page
from gui.widgets.buttons import action_button
from gui.widgets.formatting import size
from gui.widgets.tables import records_table, selected_record

PAGE_SIZE = 100  # conversations per page as the table scrolls
FORMATS = {"csv": ("CSV", "CSV files (*.csv)"), "json": ("JSON", "JSON files (*.json)")}

READ_ONLY = ("This workspace is cancelled and read-only: its conversations can be read and exported until the "
             "purge, but not deleted.")


class ConversationsPage(Page):
    title = "Conversations"

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        self.agent_names: dict[str, str] = {}
        self.deletion: ConversationDeletion | None = None
        self.export: ConversationExport | None = None
        self.delete_dialog: DeleteConversationsDialog | None = None
        self.receipt_dialog = None
        self._generation = 0  # answers for filters (or a selection) no longer shown are dropped
        self._shown_id: str | None = None
        # Whether the inbox holds every conversation the filters select; None until their first page is in.
        self._listed_all: bool | None = None
        self.add_intro("Every conversation with this workspace's agents, newest first: from the chat widget and "
                       "through the API. Select one to read it with the sources each reply cited; select several "
                       "(Ctrl or Shift) to delete them together.")
        self.add_read_only_notice(READ_ONLY)
        self.filters = ConversationFiltersBar(self)
        self.filters.changed.connect(self.apply_filters_action)
        self.body.addWidget(self.filters)

        self.conversations = RecordsModel(inbox_columns(lambda agent_id: self.agent_names.get(agent_id, agent_id)),
                                          loader=self._load, highlight=fell_back_highlight)
        self.table = records_table(self.conversations, name="conversationsTable", stretch=2,
                                   widths={0: 128, 1: 150, 3: 76, 4: 96, 5: 44, 6: 100, 7: 66},
                                   sort=(0, Qt.SortOrder.DescendingOrder), owner=self)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.conversations.modelReset.connect(self._loaded)
        self.conversations.rowsInserted.connect(lambda *_: self._show_count())

        actions = QHBoxLayout()
        self.count = QLabel()
        self.count.setObjectName("conversationCount")
        self.count.setStyleSheet("color:#5f6b7a;")
        actions.addWidget(self.count, 1)
        self.more_button = action_button("Load more", self.load_more_action, name="loadMore", row=actions)
        self.delete_button = action_button("Delete…", self.delete_action, name="deleteConversations", row=actions)
        self.csv_button = action_button("Export CSV…", lambda: self.export_action("csv"), name="exportCsv",
                                        row=actions)
        self.json_button = action_button("Export JSON…", lambda: self.export_action("json"), name="exportJson",
                                         row=actions)
        self.body.addLayout(actions)

        progress_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setObjectName("exportProgress")
        self.progress_label = QLabel()
        self.progress_label.setObjectName("exportStatus")
        self.cancel_button = action_button("Cancel export", self.cancel_export_action, name="cancelExport")
        progress_row.addWidget(self.progress_label)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        self.body.addLayout(progress_row)
        self._show_progress(False)

        self.empty = QLabel()
        self.empty.setObjectName("emptyState")
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color:#5f6b7a;")
        self.body.addWidget(self.empty)
        self.transcript = TranscriptView(empty="Select a conversation to read it.")
        # The table above, across the page, so the first question has room; the transcript below it.
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.transcript)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 340])
        self.body.addWidget(splitter, 1)
        self._update_buttons()

    # --- loading ----------------------------------------------------------------------------------------------

    def may_delete(self) -> bool:
        return not self.read_only and self.context.may(self.workspace_id, "conversations.delete")

    @property
    def base(self) -> str:
        return f"/api/v1/workspaces/{self.workspace_id}"

    def refresh_action(self) -> None:
        self.clear_message()
        self.update_read_only_notice()
        self.api.get_all(f"{self.base}/agents", "agents", on_done=self._got_agents, on_error=lambda e: None,
                         limit=200)  # without names the agents show as ids; the conversations still load
        self.apply_filters_action()

    def _got_agents(self, agents: list[dict]) -> None:
        self.agent_names = {agent["id"]: agent["name"] for agent in agents}
        self.filters.set_agents(agents)
        if self.conversations.rowCount():
            self.conversations.dataChanged.emit(self.conversations.index(0, 1),
                                                self.conversations.index(self.conversations.rowCount() - 1, 1))

    def apply_filters_action(self) -> None:
        if self.banner.kind == "error":
            self.clear_message()
        self._generation += 1
        self._listed_all = None
        self.conversations.reload()

    def load_more_action(self) -> None:
        self.conversations.fetchMore()

    def _load(self, after, deliver) -> None:
        generation = self._generation
        query = {**self.filters.query(), "limit": PAGE_SIZE, **({"after": after} if after else {})}

        def done(answer: dict) -> None:
            if generation == self._generation:
                self._listed_all = not answer.get("next_after")
                deliver(answer["conversations"], answer.get("next_after"))
                self._show_count()

        def failed(error: ApiError) -> None:
            if generation == self._generation:
                self.conversations.loading_failed()
                self.show_error(error)

        self.api.get(f"{self.base}/conversations?{urlencode(query)}", on_done=done, on_error=failed)

    def _loaded(self) -> None:
        filtered = self.filters.describe()
        self.transcript.setVisible(bool(self.conversations.rowCount()))  # an empty pane would only take room
        if self.conversations.rowCount():
            self.empty.hide()
        elif filtered:
            self.empty.setText(f"No conversation matches these filters ({filtered}). Clear filters to see them "
                               "all.")
            self.empty.show()
        else:
            self.empty.setText("No conversations yet. They appear here as visitors chat with an agent's widget "
                               "(embed it from Agents) or integrations ask through the API; try one in the "
                               "Playground.")
            self.empty.show()
        self._show_count()
        self._selection_changed()

    def _show_count(self) -> None:
        shown = self.conversations.rowCount()
        more = self.conversations.canFetchMore()
        older = " shown; scroll or Load more for older ones" if more else ""
        self.count.setText(f"{plural(shown, 'conversation')}{older}" if shown else "")
        self.more_button.setVisible(more)

    # --- the selection ----------------------------------------------------------------------------------------

    def selected(self) -> list[dict]:
        rows = self.table.selectionModel().selectedRows()
        proxy = self.table.model()
        return [self.conversations.record(proxy.mapToSource(index).row()) for index in rows]

    def _selection_changed(self) -> None:
        chosen = self.selected()
        self._update_buttons()
        if len(chosen) != 1:
            self._shown_id = None
            if chosen:
                messages = sum(c["message_count"] for c in chosen)
                self.transcript.show_note(f"{plural(len(chosen), 'conversation')} selected, "
                                          f"{plural(messages, 'message')} in all.")
            else:
                self.transcript.clear_transcript()
            return
        conversation = selected_record(self.table)
        if conversation["id"] == self._shown_id:
            return
        self._shown_id = conversation["id"]
        self.transcript.show_note("Loading the conversation…")
        self.api.get(f"{self.base}/conversations/{conversation['id']}", on_done=self._got_transcript,
                     on_error=self.show_error)

    def _got_transcript(self, answer: dict) -> None:
        conversation = answer["conversation"]
        if conversation["id"] != self._shown_id:
            return  # another was selected meanwhile
        self.transcript.show_conversation(conversation,
                                          agent_name=self.agent_names.get(conversation["agent_id"], ""))

    def _update_buttons(self) -> None:
        chosen = self.selected()
        busy = self.export is not None and self.export.running
        self.delete_button.setEnabled(self.may_delete() and bool(chosen) and self.deletion is None)
        if not self.context.may(self.workspace_id, "conversations.delete"):
            self.delete_button.setToolTip("Only admins and owners may delete conversations.")
        listed = bool(self.conversations.rowCount())
        for button in (self.csv_button, self.json_button):
            button.setEnabled(listed and not busy)
            button.setToolTip("" if listed else "Nothing to export: no conversation matches the filters.")

    # --- deleting ---------------------------------------------------------------------------------------------

    def delete_action(self) -> None:
        chosen = self.selected()
        if not chosen or not self.may_delete():
            return
        may_delete_leads = self.context.may(self.workspace_id, "leads.delete")
        self.delete_dialog = DeleteConversationsDialog(self, chosen, may_delete_leads=may_delete_leads)
        self.delete_dialog.accepted.connect(lambda: self._delete(chosen, self.delete_dialog.with_leads.isChecked()
                                                                 and may_delete_leads))
        self.delete_dialog.open()

    def _delete(self, chosen: list[dict], with_leads: bool) -> None:
        self.deletion = ConversationDeletion(self.api, self.workspace_id, chosen, with_leads=with_leads,
                                             parent=self)
        self.deletion.done.connect(self._deleted)
        self.deletion.failed.connect(self._not_deleted)
        self._update_buttons()
        self.deletion.start()

    def _deleted(self, receipt: dict, leads_deleted: int) -> None:
        self.deletion.deleteLater()
        self.deletion = None
        by = self.context.user.get("email") or receipt.get("by") or "you"
        text = receipt_text(receipt, by=by, leads_deleted=leads_deleted)
        self.show_notice(text)
        self.receipt_dialog = show_receipt(self, "Deletion receipt", text + " The audit log records it by id and "
                                           "count, never by content.")
        self._shown_id = None
        self.apply_filters_action()

    def _not_deleted(self, error: ApiError) -> None:
        self.deletion.deleteLater()
        self.deletion = None
        self.show_error(error)
        self.apply_filters_action()  # some may have gone before the refusal

    # --- exporting --------------------------------------------------------------------------------------------

    def export_action(self, format: str, path: str | None = None) -> None:
        """Export what the filters select; `path` (a test's) skips asking where."""
        name, pattern = FORMATS[format]
        if path is None:
            day = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
            path, _ = QFileDialog.getSaveFileName(self, f"Export conversations as {name}",
                                                  f"conversations-{day}.{format}", pattern)
            if not path:
                return
        target = Path(path)
        if target.suffix.lower() != f".{format}":
            target = target.with_name(target.name + f".{format}")
        if self.export is not None:
            self.export.deleteLater()  # the one before, long finished
        self.clear_message()  # what the one before said
        self.export = ConversationExport(self.api, self.workspace_id, self.filters.query(), format, target,
                                         parent=self)
        expected = self._expected()
        self.export.progressed.connect(lambda received: self.progress_label.setText(
            f"Received {size(received)} of the export{f' ({expected})' if expected else ''}…"))
        self.export.finished.connect(lambda received: self._exported(target, received, expected))
        self.export.failed.connect(self._not_exported)
        self.export.cancelled.connect(self._export_cancelled)
        self.progress.setRange(0, 0)  # the export is made as it is sent: how long it is is not known beforehand
        self.progress_label.setText("Waiting for the appliance to start the export…")
        self._show_progress(True)
        self.export.start()
        self._update_buttons()

    def _expected(self) -> str:
        """What the export holds as far as the inbox knows: about as many as it lists (more may arrive meanwhile),
        or at least those shown when older ones are not loaded yet; '' while the list is still loading."""
        shown = self.conversations.rowCount()
        if not shown or self._listed_all is None:
            return ""
        return f"{'about' if self._listed_all else 'at least'} {plural(shown, 'conversation')}"

    def cancel_export_action(self) -> None:
        if self.export is not None and self.export.running:
            self.cancel_button.setEnabled(False)
            self.progress_label.setText("Cancelling…")
            self.export.cancel()

    def _exported(self, target: Path, received: int, expected: str) -> None:
        self._show_progress(False)
        self._update_buttons()
        held = f"{expected} ({size(received)})" if expected else size(received)
        self.show_notice(f"Exported {held} to {target}.")

    def _not_exported(self, error: ApiError) -> None:
        self._show_progress(False)
        self._update_buttons()
        self.show_error(error)

    def _export_cancelled(self) -> None:
        self._show_progress(False)
        self._update_buttons()
        self.show_notice("Export cancelled; no file was left behind.")

    def _show_progress(self, shown: bool) -> None:
        for widget in (self.progress, self.progress_label, self.cancel_button):
            widget.setVisible(shown)
        self.cancel_button.setEnabled(shown)
