"""The panel's push buttons, each made in one call: its text, the action a click starts, the object name the tests
find it by, and the row it goes in."""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QBoxLayout, QPushButton


def action_button(text: str, action: Callable[[], None], *, name: str = "",
                  row: QBoxLayout | None = None) -> QPushButton:
    button = QPushButton(text)
    if name:
        button.setObjectName(name)
    button.clicked.connect(action)
    if row is not None:
        row.addWidget(button)
    return button
