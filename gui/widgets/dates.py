"""A date field that may also say "any" (no bound), for filters by date, and the moment it stands for as the API
takes it."""

from __future__ import annotations

from PySide6.QtCore import QDate
from PySide6.QtWidgets import QDateEdit

ANY_DATE = QDate(2000, 1, 1)  # a date edit at its minimum shows "any" (no bound)


class OptionalDate(QDateEdit):
    """A date that may be "any" (its minimum); its calendar opens on today rather than on the year 2000."""

    def __init__(self) -> None:
        super().__init__()
        self.setCalendarPopup(True)
        self.setDisplayFormat("yyyy-MM-dd")
        self.setMinimumDate(ANY_DATE)
        self.setSpecialValueText("any")
        self.setDate(ANY_DATE)
        self.setMinimumWidth(120)

    def mousePressEvent(self, event) -> None:
        if self.date() == ANY_DATE:
            self.setDate(QDate.currentDate())
        super().mousePressEvent(event)

    def day_start(self, *, days_after: int = 0) -> str | None:
        """The date's start (UTC) as the API takes it, `days_after` days later; None when it says "any"."""
        if self.date() == ANY_DATE:
            return None
        day = self.date().addDays(days_after)
        return f"{day.toString('yyyy-MM-dd')}T00:00:00Z"
