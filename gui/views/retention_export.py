"""Encrypted exports: the whole workspace, or everything about one email address (a data-subject export), encrypted
by the appliance to a passphrase the admin types twice, and streamed off the UI thread into the file they choose,
with its progress; Stop cuts it off and leaves no partial file behind.

The strength shown while typing is zxcvbn's estimate (a dependency of the panel's install: the appliance judges
passphrases with it too), with the workspace's name, the admin's address and the product's name as the words an
attacker tries first. It is a guide: the appliance's verdict, given when the export is asked for, is final and shows
under the passphrase."""

from __future__ import annotations

from pathlib import Path

import zxcvbn
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QDialog, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QProgressBar, QSizePolicy, QWidget

from gui.client.errors import ApiError
from gui.views.page import Page
from gui.widgets.buttons import action_button
from gui.widgets.dialogs import DialogButtons, titled_layout
from gui.widgets.formatting import size
from gui.widgets.forms import FieldForm

MIN_CHARS = 12            # the appliance's shortest passphrase (openapi.json: 12 to 1024 characters)
STRONG_LOG10 = 10         # the appliance refuses a passphrase zxcvbn thinks takes fewer than 10^10 guesses
ESTIMATED_CHARS = 64      # the appliance estimates a long passphrase by its start, as zxcvbn is slow past it
PRODUCT_WORDS = ("chatspark", "appliance")
SUFFIX = ".chatspark-export"
OPEN_IT = "Open it with: chatspark export decrypt FILE --out DIR (it asks for the passphrase)."
TIMEOUT = 600             # seconds: a large workspace takes a while to pack and encrypt before the first byte


def strength(passphrase: str, context: list[str]) -> tuple[int, str, bool]:
    """(0 to 100 for the meter, what it means, whether the appliance is likely to accept it)."""
    if not passphrase:
        return 0, f"At least {MIN_CHARS} characters: several unrelated words are strong and easy to remember.", False
    if len(passphrase) < MIN_CHARS:
        return 10, f"Too short: {len(passphrase)} of at least {MIN_CHARS} characters.", False
    words = [w.lower() for w in (*PRODUCT_WORDS, *context) if w]
    estimate = zxcvbn.zxcvbn(passphrase[:ESTIMATED_CHARS], user_inputs=words)
    guesses = float(estimate["guesses_log10"])
    meter = int(min(100, max(10, guesses / (STRONG_LOG10 + 4) * 100)))
    if guesses < STRONG_LOG10:
        advice = estimate["feedback"].get("warning") or "it is made of too few different parts"
        return meter, f"Too easy to guess ({advice.rstrip('.').lower()}): add another unrelated word or two.", False
    return meter, "Strong: it would take an attacker about 10^%d guesses." % int(guesses), True


def save_dialog(parent: QWidget, suggested: str) -> QFileDialog:
    """Where to save the export: Qt's own save dialog (the same on every desktop and in the tests), not yet open."""
    dialog = QFileDialog(parent, "Save the encrypted export")
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
    dialog.setNameFilter(f"ChatSpark exports (*{SUFFIX})")
    dialog.setDefaultSuffix(SUFFIX.lstrip("."))
    dialog.selectFile(suggested)
    return dialog


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-.") or "workspace"


class ExportDialog(QDialog):
    """An encrypted export to a file. `subject` asks for an email address (everything about that person in the
    workspaces the admin administers); otherwise the page's whole workspace. `exported(path)` once it is saved."""

    exported = Signal(str)

    def __init__(self, page: Page, *, subject: bool = False) -> None:
        super().__init__(page)
        self.page, self.subject = page, subject
        self.transfer = None
        self.file_dialog: QFileDialog | None = None
        membership = page.context.membership(page.workspace_id) or {}
        self.workspace_name = membership.get("name", "")
        title = "Export a person's data" if subject else f"Export {self.workspace_name}"
        layout = titled_layout(self, title, width=600)
        note = QLabel(
            "Everything this appliance holds about one email address, in every workspace you own or administer "
            "(their leads, conversations and the questions they asked), and their account if you are an operator or "
            "it is your own, as one encrypted file: what a data-subject access request asks for." if subject else
            "The whole workspace (sources and their files, agents, conversations, leads and analytics) as one "
            "encrypted file, with a manifest of hashes. The appliance packs and encrypts it; the panel saves it.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.form = FieldForm()
        self.email = None
        if subject:
            self.email = self.form.add_field("email", "Email address", QLineEdit(),
                                             hint="The person's address, as they gave it in a lead or a message.")
        self.passphrase = self.form.add_password_field(
            "passphrase", "Passphrase", hint="The file is encrypted to it; it is never stored. Without it the file "
                                             "cannot be opened, by anyone.")
        self.meter = QProgressBar()
        self.meter.setObjectName("passphraseStrength")
        self.meter.setRange(0, 100)
        self.meter.setTextVisible(False)
        self.meter.setFixedHeight(8)
        self.verdict = QLabel()
        self.verdict.setObjectName("passphraseVerdict")
        self.verdict.setWordWrap(True)
        self.verdict.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.verdict.setMinimumWidth(420)  # a wrapped label in a form row would otherwise take its narrowest width
        self.form.layout_.addRow("", self.meter)
        self.form.layout_.addRow("", self.verdict)
        self.repeat = self.form.add_password_field("repeat", "Repeat it")
        where = QWidget()
        row = QHBoxLayout(where)
        row.setContentsMargins(0, 0, 0, 0)
        self.target = QLineEdit()
        self.target.setObjectName("exportTarget")
        self.target.setPlaceholderText("Choose where to save it")
        row.addWidget(self.target, 1)
        self.choose_button = action_button("Choose…", self.choose_action, name="chooseTarget", row=row)
        self.form.add_field("target", "Save to", where)
        layout.addWidget(self.form)
        self.progress = QProgressBar()
        self.progress.setObjectName("exportProgress")
        self.progress.hide()
        layout.addWidget(self.progress)
        self.status = QLabel(OPEN_IT)
        self.status.setObjectName("exportStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setStyleSheet("color:#5f6b7a;")
        layout.addWidget(self.status)
        buttons = DialogButtons(self, "Export", self.export_action, name="startExport")
        self.export_button, self.cancel_button = buttons.action, buttons.cancel
        self.cancel_button.clicked.disconnect()
        self.cancel_button.clicked.connect(self.cancel_action)
        layout.addLayout(buttons)
        self._judge = QTimer(self, singleShot=True, interval=200)  # judged once typing pauses, not per key
        self._judge.timeout.connect(self._show_strength)
        self.passphrase.textChanged.connect(lambda _: self._judge.start())
        if self.email is not None:
            self.email.textChanged.connect(lambda _: self._judge.start())
        self._show_strength()

    # --- the passphrase and the file ----------------------------------------------------------------------------

    def _context(self) -> list[str]:
        words = [self.workspace_name, self.page.context.user.get("email", "")]
        return words + ([self.email.text().strip()] if self.email is not None else [])

    def _show_strength(self) -> None:
        value, text, strong = strength(self.passphrase.text(), self._context())
        self.meter.setValue(value)
        colour = "#1e6b34" if strong else "#b3261e" if self.passphrase.text() else "#5f6b7a"
        self.meter.setStyleSheet(f"QProgressBar::chunk {{background:{colour};}}")
        self.verdict.setStyleSheet(f"color:{colour};font-size:11px;")
        self.verdict.setText(text)

    def suggested_name(self) -> str:
        if self.email is not None and self.email.text().strip():
            return f"chatspark-subject-{_safe(self.email.text().strip())}{SUFFIX}"
        return f"chatspark-workspace-{_safe(self.workspace_name)}{SUFFIX}"

    def choose_action(self) -> None:
        self.file_dialog = save_dialog(self, self.target.text() or self.suggested_name())
        self.file_dialog.fileSelected.connect(self.target.setText)
        self.file_dialog.open()

    # --- exporting ----------------------------------------------------------------------------------------------

    def export_action(self) -> None:
        self._judge.stop()
        self._show_strength()
        self.form.clear_errors()
        if self.passphrase.text() != self.repeat.text():
            self.form.show_error(ApiError(400, "mismatch", "The two passphrases differ: type the same one twice.")
                                 .on_field("repeat"))
            return
        if not self.target.text().strip():
            self.form.show_error(ApiError(400, "no_file", "Choose where to save the export.").on_field("target"))
            return
        target = Path(self.target.text().strip()).expanduser()
        body = {"passphrase": self.passphrase.text()}
        if self.email is not None:
            body["email"] = self.email.text().strip()
        path = "/api/v1/subject-exports" if self.subject else f"/api/v1/workspaces/{self.page.workspace_id}/export"
        self._running(True)
        self.status.setText("The appliance is packing and encrypting the export…")
        self.transfer = self.page.api.download("POST", path, body, target=target, timeout=TIMEOUT,
                                               on_progress=self._progressed,
                                               on_done=lambda headers: self._saved(target),
                                               on_error=self._failed)

    def _running(self, running: bool) -> None:
        self.export_button.setEnabled(not running)
        self.choose_button.setEnabled(not running)
        for field in (self.passphrase, self.repeat, self.target, self.email):
            if field is not None:
                field.setEnabled(not running)
        self.cancel_button.setText("Stop" if running else "Cancel")
        self.progress.setVisible(running)
        self.progress.setRange(0, 0)  # busy until the first byte says how many follow

    def _progressed(self, received: int, total: int) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(received)
        self.status.setText(f"Saving: {size(received)}" + (f" of {size(total)}" if total else "") + "…")

    def _saved(self, target: Path) -> None:
        self.transfer = None
        self._running(False)
        self.exported.emit(str(target))
        self.accept()

    def _failed(self, error: ApiError) -> None:
        self.transfer = None
        self._running(False)
        if error.code == "cancelled":
            self.status.setText("Stopped: nothing was saved.")
            return
        self.status.setText(OPEN_IT)
        if error.code == "weak_passphrase" or (error.status == 400 and "passphrase" in error.message.lower()):
            error = error.on_field("passphrase")
        self.form.show_error(error, role=self.page.role)

    def cancel_action(self) -> None:
        """Stop the export under way (no partial file stays), or close the dialog when none is."""
        if self.transfer is not None:
            self.status.setText("Stopping…")
            self.transfer.cut_off()
            return
        self.reject()

    def reject(self) -> None:
        if self.transfer is not None:
            self.transfer.cut_off()
        super().reject()
