"""What enrolling a second factor shows, the same at sign-in and on My account: the QR code of the otpauth URI (made
here, never fetched) with the key to type instead and a field for the code the app then shows, and the recovery
codes, shown once, with a copy button."""

from __future__ import annotations

import segno
from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import QLabel, QLineEdit, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from gui.widgets.forms import FieldForm


def qr_pixmap(uri: str, *, scale: int = 5) -> QPixmap:
    png = segno.make(uri, error="m").png_data_uri(scale=scale, border=2)
    pixmap = QPixmap()
    pixmap.loadFromData(QByteArray.fromBase64(png.split(",", 1)[1].encode("ascii")), "PNG")
    return pixmap


class Enrolment(FieldForm):
    """The step that pairs an authenticator app: what to do, the QR code, its key, and the code field (`code`)."""

    def __init__(self, explanation: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        note = QLabel(explanation)
        note.setWordWrap(True)
        self.layout_.addRow(note)
        self.qr = QLabel()
        self.qr.setObjectName("qr")
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.layout_.addRow(self.qr)
        self.secret = QLabel()
        self.secret.setObjectName("totpSecret")
        self.secret.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.layout_.addRow("Key", self.secret)
        self.code = self.add_field("code", "Code", QLineEdit())

    def show_pairing(self, answer: dict) -> None:
        """Show the secret the appliance made (its answer to /api/v1/me/second-factor) as a QR code and a key."""
        self.secret.setText(answer["secret"])
        self.qr.setPixmap(qr_pixmap(answer["otpauth_uri"]))


class RecoveryCodes(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        saved = QLabel("Second factor on. These recovery codes are shown only now: each signs you in once if you lose "
                       "your device. Keep them somewhere safe.")
        saved.setWordWrap(True)
        layout.addWidget(saved)
        self.codes = QPlainTextEdit()
        self.codes.setObjectName("recoveryCodes")
        self.codes.setReadOnly(True)
        self.codes.setStyleSheet("font-family:monospace;")
        layout.addWidget(self.codes)
        copy = QPushButton("Copy the codes")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.codes.toPlainText()))
        layout.addWidget(copy)

    def show_codes(self, codes: list[str]) -> None:
        self.codes.setPlainText("\n".join(codes))
