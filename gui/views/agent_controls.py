"""Two controls of the agent's settings that say what their value means: the confidence threshold (a slider with a
sentence) and the widget's colour (a swatch and its hex, chosen in the system's colour dialog)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QColorDialog, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from gui.widgets.buttons import action_button


class ThresholdSlider(QWidget):
    """0 to 100 %, in steps of 1 (the API takes 0 to 1), with what the agent does at the value shown."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("thresholdSlider")
        self.slider.setRange(0, 100)
        self.slider.setSingleStep(1)
        self.slider.setPageStep(5)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setTickInterval(10)
        row.addWidget(self.slider, 1)
        self.percent = QLabel()
        self.percent.setObjectName("thresholdPercent")
        self.percent.setMinimumWidth(40)
        self.percent.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        row.addWidget(self.percent)
        layout.addLayout(row)
        self.meaning = QLabel()
        self.meaning.setObjectName("thresholdMeaning")
        self.meaning.setWordWrap(True)
        layout.addWidget(self.meaning)
        self.slider.valueChanged.connect(self._moved)
        self._moved(self.slider.value())

    def value(self) -> float:
        return self.slider.value() / 100

    def set_value(self, value: float) -> None:
        self.slider.setValue(round(value * 100))
        self._moved(self.slider.value())

    def set_editable(self, editable: bool) -> None:
        self.slider.setEnabled(editable)

    def _moved(self, percent: int) -> None:
        self.percent.setText(f"{percent}%")
        if percent == 0:
            sentence = ("The agent always answers from its best passage, however weakly it matches the question; "
                        "it never falls back.")
        elif percent == 100:
            sentence = ("The agent answers only an exact match; nearly every question gets the fallback text.")
        else:
            caution = (" Low: it answers more often, sometimes from a passage that only half fits." if percent < 30
                       else " High: it answers only when sure, and falls back more often." if percent > 70 else "")
            sentence = (f"The agent answers when its sources match the question with at least {percent}% "
                        f"confidence; below that it replies with the fallback text.{caution}")
        self.meaning.setText(sentence)
        self.changed.emit()


class ColourChooser(QWidget):
    """The widget's colour: a swatch, its hex value, and Choose colour… (QColorDialog, opened without blocking)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._hex = "#2563eb"  # the appliance's default (migrations/workspace/0003_widget.sql)
        self.dialog: QColorDialog | None = None
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.swatch = QLabel()
        self.swatch.setObjectName("colourSwatch")
        self.swatch.setFixedSize(28, 22)
        row.addWidget(self.swatch)
        self.code = QLabel()
        self.code.setObjectName("colourCode")
        self.code.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.code.setMinimumWidth(70)
        row.addWidget(self.code)
        self.choose_button = action_button("Choose colour…", self.choose_action, name="chooseColour", row=row)
        row.addStretch(1)
        self._show()

    def hex(self) -> str:
        return self._hex

    def set_hex(self, value: str) -> None:
        self._hex = value.lower()
        self._show()

    def set_editable(self, editable: bool) -> None:
        self.choose_button.setEnabled(editable)

    def choose_action(self) -> None:
        self.dialog = QColorDialog(QColor(self._hex), self)
        self.dialog.setWindowTitle("Widget colour")
        self.dialog.colorSelected.connect(self._chosen)
        self.dialog.finished.connect(self.dialog.deleteLater)
        self.dialog.open()

    def _chosen(self, colour: QColor) -> None:
        if colour.isValid():
            self.set_hex(colour.name())
            self.changed.emit()

    def _show(self) -> None:
        self.swatch.setStyleSheet(f"background:{self._hex};border:1px solid #8a94a3;border-radius:3px;")
        self.code.setText(self._hex)
