"""What enrolling a second factor shows, the same at sign-in and on My account: the QR code of the otpauth URI (made
here, never fetched), and the recovery codes, shown once, with a copy button."""

from __future__ import annotations

import segno
from PySide6.QtCore import QByteArray
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget


def qr_pixmap(uri: str, *, scale: int = 5) -> QPixmap:
    png = segno.make(uri, error="m").png_data_uri(scale=scale, border=2)
    pixmap = QPixmap()
    pixmap.loadFromData(QByteArray.fromBase64(png.split(",", 1)[1].encode("ascii")), "PNG")
    return pixmap


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
