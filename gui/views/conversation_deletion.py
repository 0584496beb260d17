"""Deleting conversations from the inbox: the confirmation that says what goes (conversations, messages, and the
leads they collected, which stay unless the admin ticks them too), the calls that delete them, and the receipt."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QCheckBox, QDialog, QLabel, QWidget

from gui.client.api import ApiClient
from gui.widgets.dialogs import ConfirmDialog, close_buttons, titled_layout
from gui.widgets.formatting import when

MAX_DELETE = 1000  # conversations per request (appliance/conversations/records.py)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class DeleteConversationsDialog(ConfirmDialog):
    """The confirmation, with "Also delete their leads" when some selected conversations collected one and the
    admin may delete leads."""

    def __init__(self, parent: QWidget, records: list[dict], *, may_delete_leads: bool) -> None:
        count, messages = len(records), sum(r["message_count"] for r in records)
        with_lead = sum(1 for r in records if r["has_lead"])
        what = "this conversation" if count == 1 else f"these {count} conversations"
        text = (f"{plural(count, 'conversation')} and {plural(messages, 'message')} are deleted for good, with "
                "the sources their replies cited and their search entries. Analytics keep the counts but lose the "
                "questions' text.")
        if with_lead:
            text += (f" {'It' if count == 1 else plural(with_lead, 'of them')} collected a lead: leads stay (without "
                     "the link to the conversation) unless you tick below.")
        super().__init__(parent, f"Delete {what}?", text + " This cannot be undone.", "Delete", destructive=True)
        self.with_leads = QCheckBox("Also delete the leads they collected (name, email, consent record)")
        self.with_leads.setObjectName("deleteLeads")
        self.with_leads.setVisible(bool(with_lead) and may_delete_leads)
        self.layout().insertWidget(2, self.with_leads)


class ReceiptDialog(QDialog):
    """What a deletion removed, when and by whom, as the appliance's receipt says (also in the audit log)."""

    def __init__(self, parent: QWidget, title: str, text: str) -> None:
        super().__init__(parent)
        layout = titled_layout(self, title, width=460)
        self.text = QLabel(text)
        self.text.setObjectName("receipt")
        self.text.setWordWrap(True)
        layout.addWidget(self.text)
        layout.addWidget(close_buttons(self))


def show_receipt(parent: QWidget, title: str, text: str) -> ReceiptDialog:
    dialog = ReceiptDialog(parent, title, text)
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog


def receipt_text(receipt: dict, *, by: str, leads_deleted: int = 0) -> str:
    """The receipt in words: 'Deleted 2 conversations and 7 messages …, at … by …'."""
    counts = receipt["deleted"]
    text = (f"Deleted {plural(counts['conversations'], 'conversation')} and {plural(counts['messages'], 'message')}"
            f" at {when(receipt['at'])} by {by}.")
    if leads_deleted:
        verb = "was" if leads_deleted == 1 else "were"
        text += f" {plural(leads_deleted, 'lead')} they collected {verb} deleted too."
    elif counts.get("leads_unlinked"):
        text += (f" {plural(counts['leads_unlinked'], 'lead')} they collected "
                 f"{'stays' if counts['leads_unlinked'] == 1 else 'stay'}, unlinked, in Leads.")
    if receipt.get("not_found"):
        text += f" {plural(len(receipt['not_found']), 'conversation')} had already gone."
    return text


class ConversationDeletion(QObject):
    """Delete conversations (and, if asked, their leads first, while the link still names them): `done(receipt,
    leads deleted)` with the appliance's receipt of the conversations, or `failed(ApiError)`."""

    done = Signal(dict, int)
    failed = Signal(object)

    def __init__(self, api: ApiClient, workspace_id: str, records: list[dict], *, with_leads: bool,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._api, self._base = api, f"/api/v1/workspaces/{workspace_id}"
        self._ids = [r["id"] for r in records]
        self._with_lead = [r["id"] for r in records if r["has_lead"]] if with_leads else []
        self._lead_ids: list[str] = []
        self._leads_deleted = 0
        self._receipt: dict | None = None

    def start(self) -> None:
        self._find_leads()

    def _find_leads(self) -> None:
        if not self._with_lead:
            self._delete_leads()
            return
        conversation_id = self._with_lead.pop()

        def got(answer: dict) -> None:
            self._lead_ids += [lead["id"] for lead in answer["conversation"].get("leads", [])]
            self._find_leads()

        self._api.get(f"{self._base}/conversations/{conversation_id}", on_done=got, on_error=self.failed.emit)

    def _delete_leads(self) -> None:
        if not self._lead_ids:
            self._delete_conversations()
            return
        lead_id = self._lead_ids.pop()

        def deleted(_answer) -> None:
            self._leads_deleted += 1
            self._delete_leads()

        self._api.delete(f"{self._base}/leads/{lead_id}", on_done=deleted, on_error=self.failed.emit)

    def _delete_conversations(self) -> None:
        if len(self._ids) == 1:
            self._api.delete(f"{self._base}/conversations/{self._ids[0]}",
                             on_done=lambda receipt: self.done.emit(receipt, self._leads_deleted),
                             on_error=self.failed.emit)
            return
        batch, self._ids = self._ids[:MAX_DELETE], self._ids[MAX_DELETE:]
        self._api.post(f"{self._base}/conversations/delete", {"ids": batch}, on_done=self._batch_deleted,
                       on_error=self.failed.emit)

    def _batch_deleted(self, receipt: dict) -> None:
        if self._receipt is not None:
            for name, count in self._receipt["deleted"].items():
                receipt["deleted"][name] = receipt["deleted"].get(name, 0) + count
            receipt["not_found"] = self._receipt.get("not_found", []) + receipt.get("not_found", [])
        self._receipt = receipt
        if self._ids:
            batch, self._ids = self._ids[:MAX_DELETE], self._ids[MAX_DELETE:]
            self._api.post(f"{self._base}/conversations/delete", {"ids": batch}, on_done=self._batch_deleted,
                           on_error=self.failed.emit)
        else:
            self.done.emit(receipt, self._leads_deleted)
