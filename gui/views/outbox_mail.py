"""One waiting mail, whole: who it is for, its subject and body (read-only), and each link in it with a Copy button,
so that an operator without a mail relay can pass an invitation or a password reset on by hand. Opening it is
audited (`mail.show`): its links act for the recipient."""

from __future__ import annotations

import re

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QWidget

from gui.widgets.buttons import action_button
from gui.widgets.dialogs import close_buttons, titled_layout
from gui.widgets.formatting import when

LINK = re.compile(r"https?://[^\s<>\"')]+")


def links(body: str) -> list[str]:
    """The addresses in a mail's body, in order, each once (a trailing full stop or comma is the sentence's)."""
    found: list[str] = []
    for match in LINK.finditer(body):
        link = match.group(0).rstrip(".,;:")
        if link not in found:
            found.append(link)
    return found


class MailDialog(QDialog):
    def __init__(self, parent: QWidget, mail: dict) -> None:
        super().__init__(parent)
        self.mail = mail
        layout = titled_layout(self, "Mail in the outbox", width=680, heading=mail["subject"])
        facts = QLabel(f"To <b>{mail['recipient']}</b>, queued {when(mail['created_at'])}; {_state(mail)}")
        facts.setWordWrap(True)
        layout.addWidget(facts)
        self.body = QPlainTextEdit(mail["body"])
        self.body.setObjectName("mailBody")
        self.body.setReadOnly(True)
        self.body.setMinimumHeight(220)
        layout.addWidget(self.body, 1)
        self.links = links(mail["body"])
        if self.links:
            note = QLabel("Its links act for the recipient: pass them on only to them, by a channel you trust.")
            note.setWordWrap(True)
            layout.addWidget(note)
        self.copy_buttons = []
        for number, link in enumerate(self.links):
            row = QHBoxLayout()
            field = QLineEdit(link)
            field.setReadOnly(True)
            field.setCursorPosition(0)
            field.setStyleSheet("font-family:monospace;")
            row.addWidget(field, 1)
            copy = action_button("Copy link", lambda _checked=False, link=link: self.copy_action(link),
                                 name=f"copyLink{number}", row=row)
            self.copy_buttons.append(copy)
            layout.addLayout(row)
        self.copied = QLabel()
        self.copied.setStyleSheet("color:#1e6b34;")
        layout.addWidget(self.copied)
        layout.addWidget(close_buttons(self))

    def copy_action(self, link: str) -> None:
        QGuiApplication.clipboard().setText(link)
        self.copied.setText("Link copied to the clipboard.")


def _state(mail: dict) -> str:
    if mail["status"] == "failed":
        return f"delivery gave up after {mail['attempts']} attempts: {mail.get('last_error') or 'no reason given'}."
    if mail["attempts"]:
        return (f"{mail['attempts']} attempts so far, the next {when(mail.get('next_attempt_at'))}: "
                f"{mail.get('last_error') or ''}")
    return "not sent yet."
