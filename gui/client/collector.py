"""Python's cycle collector, run on the UI thread only.

Left to itself, the collector runs in whichever thread happens to allocate when a threshold is crossed, often a
worker making an API call; if the garbage it finds holds a Qt widget (a closed window, a dialog whose lambdas
refer back to it), the widget is destroyed on that worker, and Qt crashes. So the automatic collector is turned off
while the panel runs, and a timer on the UI thread collects instead (the pattern calibre and other PyQt programs
use)."""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 1000


class UiThreadCollector(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self.collect)
        self._timer.start()

    def collect(self) -> None:
        """Collect each generation whose threshold has been crossed, as the automatic collector would."""
        first, second, third = gc.get_threshold()
        counts = gc.get_count()
        if counts[0] > first:
            generation = 0
            if counts[1] > second:
                generation = 2 if counts[2] > third else 1
            gc.collect(generation)

    def stop(self) -> None:
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()
