"""The panel's dialogs: how each starts (its title, also as its heading) and ends (Cancel, then its action), a
confirmation that says what an action will do, and a secret (an API key, an invitation link, a generated password)
shown once with a copy button.

They open window-modal without blocking (`open()`, never `exec()`), so the calls under way keep delivering while the
admin reads; the tests answer them through the same buttons an admin clicks."""

from __future__ import annotations

from typing import Callable

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.widgets.buttons import action_button


def titled_layout(dialog: QDialog, title: str, *, width: int, heading: str = "") -> QVBoxLayout:
    """Give the dialog its title and width, and its layout, which opens with the heading: the title, unless `heading`
    says more."""
    dialog.setWindowTitle(title)
    dialog.setMinimumWidth(width)
    layout = QVBoxLayout(dialog)
    label = QLabel(heading or title)
    label.setObjectName("dialogTitle")
    layout.addWidget(label)
    return layout


class DialogButtons(QHBoxLayout):
    """The row that ends a dialog, at the right: Cancel, then the dialog's action, the default button (Enter clicks
    it). `add` puts another button after them."""

    def __init__(self, dialog: QDialog, action: str, on_action: Callable[[], None], *, name: str = "") -> None:
        super().__init__()
        self.addStretch(1)
        self.cancel = action_button("Cancel", dialog.reject, row=self)
        self.action = self.add(action, on_action, name=name)
        self.action.setDefault(True)

    def add(self, text: str, on_click: Callable[[], None], *, name: str = "") -> QPushButton:
        return action_button(text, on_click, name=name, row=self)


class ConfirmDialog(QDialog):
    """"Cancel the workspace Acme?" with what it does, a Cancel button and one named for the action. Unlike a form's
    buttons, Cancel is the default here: Enter never confirms."""

    def __init__(self, parent: QWidget, title: str, text: str, action: str, *, destructive: bool = False) -> None:
        super().__init__(parent)
        layout = titled_layout(self, title, width=440)
        self.text = QLabel(text)
        self.text.setWordWrap(True)
        layout.addWidget(self.text)
        buttons = QDialogButtonBox()
        self.cancel_button = buttons.addButton("Cancel", QDialogButtonBox.ButtonRole.RejectRole)
        self.action_button = buttons.addButton(action, QDialogButtonBox.ButtonRole.AcceptRole)
        if destructive:
            self.action_button.setStyleSheet("color:#b3261e;font-weight:600;")
        self.cancel_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def confirm(parent: QWidget, title: str, text: str, action: str, then: Callable[[], None], *,
            destructive: bool = False) -> ConfirmDialog:
    """Ask, and call `then()` only if the admin clicks the action's button. Returns the (open) dialog."""
    dialog = ConfirmDialog(parent, title, text, action, destructive=destructive)
    dialog.accepted.connect(then)
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog


class SecretDialog(QDialog):
    """A secret shown once: the value (selectable, not editable), a Copy button, and what to do with it."""

    def __init__(self, parent: QWidget, title: str, secret: str, explanation: str) -> None:
        super().__init__(parent)
        self.secret = secret
        layout = titled_layout(self, title, width=560)
        note = QLabel(explanation)
        note.setWordWrap(True)
        layout.addWidget(note)
        row = QHBoxLayout()
        self.value = QLineEdit(secret)
        self.value.setObjectName("secretValue")
        self.value.setReadOnly(True)
        self.value.setCursorPosition(0)
        self.value.setStyleSheet("font-family:monospace;")
        row.addWidget(self.value, 1)
        self.copy_button = action_button("Copy", self.copy_action, name="copySecret", row=row)
        layout.addLayout(row)
        self.copied = QLabel()
        self.copied.setStyleSheet("color:#1e6b34;")
        layout.addWidget(self.copied)
        layout.addWidget(close_buttons(self))

    def copy_action(self) -> None:
        QGuiApplication.clipboard().setText(self.secret)
        self.copied.setText("Copied to the clipboard.")


def close_buttons(dialog: QDialog) -> QDialogButtonBox:
    """The row that ends a dialog with nothing to decide: Close (Escape closes it too)."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    buttons.button(QDialogButtonBox.StandardButton.Close).clicked.connect(dialog.accept)
    return buttons


def show_secret(parent: QWidget, title: str, secret: str, explanation: str) -> SecretDialog:
    dialog = SecretDialog(parent, title, secret, explanation)
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog
