"""A message line across the top of a screen or the window: an error, a warning or a notice, with an optional
action button (Retry)."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

_STYLES = {
    "error": "background:#fdecea;color:#611a15;border:1px solid #f5c2c0;",
    "warning": "background:#fff4e5;color:#663c00;border:1px solid #ffd8a8;",
    "info": "background:#e8f4fd;color:#0d3c61;border:1px solid #b6dcf7;",
}


class Banner(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label, 1)
        self.action = QPushButton()
        self.action.hide()
        layout.addWidget(self.action)
        self._callback: Callable[[], None] | None = None
        self.action.clicked.connect(self._act)
        self.hide()

    @property
    def kind(self) -> str:
        return self.property("kind") or ""

    def show_message(self, text: str, *, kind: str = "info", action: str | None = None,
                     on_action: Callable[[], None] | None = None) -> None:
        self.setProperty("kind", kind)
        self.setStyleSheet(f"QFrame#banner {{{_STYLES.get(kind, _STYLES['info'])} border-radius:4px;}}")
        self.label.setText(text)
        self._callback = on_action
        self.action.setVisible(bool(action))
        if action:
            self.action.setText(action)
        self.show()

    def _act(self) -> None:
        if self._callback is not None:
            self._callback()
