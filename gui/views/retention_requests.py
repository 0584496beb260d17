"""A data subject's erasure request: the email address, what the appliance finds for it in every workspace the admin
owns or administers (its dry run, with where each match was found), the erasure confirmed with those numbers, and
the receipt, shown and saved as JSON to a file the admin chooses (it keeps the address only as a hash)."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QFileDialog, QLabel, QLineEdit, QPlainTextEdit, QWidget

from gui.client.errors import ApiError
from gui.views.page import Page
from gui.widgets.dialogs import DialogButtons, confirm, titled_layout
from gui.widgets.formatting import when
from gui.widgets.forms import FieldForm

COUNTED = (("leads", "lead", "leads"), ("conversations", "conversation", "conversations"),
           ("messages", "message", "messages"), ("analytics_questions", "analytics question", "analytics questions"))


def counts_text(counts: dict) -> str:
    """`1 lead, 2 conversations and 4 messages`; `nothing` when all are 0."""
    parts = [f"{counts[key]} {one if counts[key] == 1 else many}" for key, one, many in COUNTED if counts.get(key)]
    if not parts:
        return "nothing"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def receipt_text(receipt: dict) -> str:
    """The receipt (or the dry run) as an admin reads it: per workspace, what went (or would go) and why."""
    verb = "would be erased" if receipt["dry_run"] else "erased"
    lines = [("Preview (nothing erased yet)" if receipt["dry_run"] else f"Erasure {receipt['erasure_id']}")
             + f", {when(receipt['at'])}", f"Subject (SHA-256 of the address): {receipt['subject_sha256']}",
             f"In all: {counts_text(receipt['deleted'])} {verb}.", ""]
    untouched = 0
    for part in receipt["workspaces"]:
        if not part["legal_hold"] and not any(part["deleted"].values()):
            untouched += 1
            continue
        if part["legal_hold"]:
            lines.append(f"{part['workspace_name']}: on legal hold, so nothing there is erased until it is lifted.")
            continue
        lines.append(f"{part['workspace_name']}: {counts_text(part['deleted'])}.")
        for match in part["matches"]:
            found = f" ({match['matched']})" if match.get("matched") else ""
            why = f"follows from {match['via']}" if match.get("via") else f"matched in {match['field']}"
            lines.append(f"  {match['record']} {match['id']}: {why}{found}")
    if untouched:
        lines.append(f"Nothing in the {'other ' if len(lines) > 4 else ''}{untouched} workspace"
                     f"{'s' if untouched != 1 else ''} you own or administer.")
    return "\n".join(lines)


def _write_receipt(path: Path, receipt: dict) -> None:
    path.write_text(json.dumps(receipt, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


class ErasureDialog(QDialog):
    """Find, confirm, erase, keep the receipt. `erased(receipt)` once the appliance has erased."""

    erased = Signal(dict)

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.page = page
        self.preview: dict | None = None
        self.receipt: dict | None = None
        self.file_dialog: QFileDialog | None = None
        layout = titled_layout(self, "Erase a person's data", width=640)
        note = QLabel("Erases, in every workspace you own or administer, the leads left with this address or naming "
                      "it, their conversations and the same visitor's other conversations, the conversations where "
                      "a visitor wrote it, and the questions analytics keep from them. First see what is found; "
                      "nothing is erased until you confirm. A workspace on legal hold is left as it is.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.form = FieldForm()
        self.email = self.form.add_field("email", "Email address", QLineEdit(),
                                         hint="The address the person asked about, in any case.")
        self.email.textChanged.connect(self._forget_preview)
        layout.addWidget(self.form)
        self.found = QPlainTextEdit()
        self.found.setObjectName("erasureFindings")
        self.found.setReadOnly(True)
        self.found.setPlaceholderText("What is found for the address shows here before anything is erased.")
        self.found.setStyleSheet("font-family:monospace;")
        self.found.setMinimumHeight(180)
        layout.addWidget(self.found, 1)
        buttons = DialogButtons(self, "Find", self.find_action, name="findSubject")
        self.find_button, self.close_button = buttons.action, buttons.cancel
        self.erase_button = buttons.add("Erase…", self.erase_action, name="eraseSubject")
        self.erase_button.setStyleSheet("color:#b3261e;font-weight:600;")
        self.save_button = buttons.add("Save receipt…", self.save_action, name="saveReceipt")
        layout.addLayout(buttons)
        self._update_buttons()

    def _update_buttons(self) -> None:
        found = self.preview is not None and any(self.preview["deleted"].values())
        self.erase_button.setEnabled(found and self.receipt is None)
        self.erase_button.setVisible(self.receipt is None)
        self.find_button.setVisible(self.receipt is None)
        self.save_button.setVisible(self.receipt is not None)
        self.close_button.setText("Close" if self.receipt is not None else "Cancel")

    def _forget_preview(self) -> None:
        if self.receipt is None:
            self.preview = None
            self.found.clear()
            self._update_buttons()

    def _ask(self, dry_run: bool, then) -> None:
        self.form.clear_errors()
        self.find_button.setEnabled(False)
        self.erase_button.setEnabled(False)
        self.page.api.post("/api/v1/erasure", {"email": self.email.text().strip(), "dry_run": dry_run},
                           on_done=then, on_error=self._refused)

    def find_action(self) -> None:
        self._ask(True, self._found)

    def _found(self, preview: dict) -> None:
        self.find_button.setEnabled(True)
        self.preview = preview
        self.found.setPlainText(receipt_text(preview) if any(preview["deleted"].values()) else
                                "Nothing about this address was found in the workspaces you own or administer"
                                + (" (those on legal hold were not searched)."
                                   if any(w["legal_hold"] for w in preview["workspaces"]) else "."))
        self._update_buttons()

    def erase_action(self) -> None:
        if self.preview is None:
            return
        address = self.email.text().strip()
        confirm(self, f"Erase everything about {address}?",
                f"{counts_text(self.preview['deleted'])[:1].upper()}{counts_text(self.preview['deleted'])[1:]} "
                f"will be erased for good, from {len(self.preview['workspaces'])} workspace"
                f"{'s' if len(self.preview['workspaces']) != 1 else ''}, and later from the backups as they age "
                "out. This cannot be undone. The receipt keeps the address only as a hash.", "Erase",
                lambda: self._ask(False, self._erased), destructive=True)

    def _erased(self, receipt: dict) -> None:
        self.receipt = receipt
        self.email.setEnabled(False)
        self.found.setPlainText(receipt_text(receipt))
        self._update_buttons()
        self.erased.emit(receipt)

    def _refused(self, error: ApiError) -> None:
        self.find_button.setEnabled(True)
        self._update_buttons()
        if error.status == 400 and "email" in error.message.lower():
            error = error.on_field("email")
        self.form.show_error(error, role=self.page.role)

    # --- the receipt --------------------------------------------------------------------------------------------

    def save_action(self, path: str | None = None) -> None:
        """Save the receipt as JSON to `path`; without one, ask where first."""
        if self.receipt is None:
            return
        if not path:
            self.file_dialog = receipt_dialog(self, f"erasure-{self.receipt['erasure_id']}.json")
            self.file_dialog.fileSelected.connect(self.save_action)
            self.file_dialog.open()
            return
        target, receipt = Path(path), self.receipt
        self.page.context.background.run(
            lambda: _write_receipt(target, receipt),
            on_done=lambda _: self.form.banner.show_message(f"The receipt was saved to {target}.", kind="info"),
            on_error=lambda exc: self.form.banner.show_message(
                f"The receipt could not be saved to {target}: {exc}. Choose another place.", kind="error"))


def receipt_dialog(parent: QWidget, suggested: str) -> QFileDialog:
    dialog = QFileDialog(parent, "Save the erasure receipt")
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
    dialog.setNameFilter("JSON files (*.json)")
    dialog.setDefaultSuffix("json")
    dialog.selectFile(suggested)
    return dialog
