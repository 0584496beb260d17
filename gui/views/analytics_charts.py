"""The Analytics screen's charts, drawn with QtCharts: one bar chart per measure over an axis of days, with a legend,
a read-out of the day under the pointer, and, for a range without any activity, a sentence instead of empty axes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from PySide6.QtCharts import QBarSeries, QBarSet, QCategoryAxis, QChart, QChartView, QStackedBarSeries, QValueAxis
from PySide6.QtCore import QMargins, Qt
from PySide6.QtGui import QColor, QCursor, QFont, QPainter
from PySide6.QtWidgets import QGridLayout, QLabel, QStackedLayout, QToolTip, QWidget

# Okabe and Ito's palette: told apart by people with the common colour-vision deficiencies too.
BLUE, ORANGE, GREEN, VERMILION, PURPLE = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7"
INK, MUTED, GRID = "#2b3440", "#5f6b7a", "#e3e8ee"
LABEL_PX = 56  # the room one day's label takes on the axis


@dataclass(frozen=True)
class Series:
    key: str      # the count of the API's day (DayCounts) it draws
    label: str
    colour: str


def day_label(day: str, *, with_weekday: bool = False) -> str:
    """`2026-12-03` as `Dec 3` on the axis, `Thu 3 Dec 2026` in the read-out."""
    date = dt.date.fromisoformat(day)
    return f"{date:%a} {date.day} {date:%b %Y}" if with_weekday else f"{date:%b} {date.day}"


def labelled_days(count: int, width: int) -> list[int]:
    """Which of `count` days get a label on an axis `width` px wide: every day, 2nd, week, fortnight... counted back
    from the last, so that the latest day (today, for a preset) always has its label."""
    fit = max(1, width // LABEL_PX)
    step = next((s for s in (1, 2, 7, 14, 28, 56) if count / s <= fit), 91)
    return sorted(range(count - 1, -1, -step))


def _nice_step(top: int) -> int:
    """A tick step giving at most five whole-number ticks up to `top`."""
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        if top / step <= 5:
            return step
    return 10_000


class DailyChart(QChartView):
    """Bars per day for `series`: stacked (parts of one whole, like answered and fell back) or side by side."""

    def __init__(self, title: str, series: list[Series], *, stacked: bool = False, name: str = "") -> None:
        super().__init__()
        self.setObjectName(name)
        self.series = series
        self.stacked = stacked
        self.days: list[dict] = []
        self.setMinimumHeight(190)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        chart = QChart()
        chart.setTitle(title)
        chart.setTitleFont(QFont(self.font().family(), 11))
        chart.setTitleBrush(QColor(INK))
        chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
        chart.setMargins(QMargins(4, 4, 18, 4))  # room for the last day's label
        chart.setBackgroundRoundness(0)
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignTop)
        chart.legend().setLabelColor(QColor(INK))
        self.bars = QStackedBarSeries() if stacked else QBarSeries()
        self.bars.setBarWidth(0.8)
        self.sets: list[QBarSet] = []
        for one in series:
            bar_set = QBarSet(one.label)
            bar_set.setColor(QColor(one.colour))
            bar_set.setBorderColor(QColor(one.colour))
            bar_set.hovered.connect(self._hovered)
            self.bars.append(bar_set)
            self.sets.append(bar_set)
        chart.addSeries(self.bars)
        self.day_axis = QCategoryAxis()
        self.day_axis.setLabelsPosition(QCategoryAxis.AxisLabelsPosition.AxisLabelsPositionOnValue)
        self.day_axis.setTitleText("Day (UTC)")
        self.count_axis = QValueAxis()
        self.count_axis.setLabelFormat("%d")
        self.count_axis.setTickType(QValueAxis.TickType.TicksDynamic)
        self.count_axis.setTickAnchor(0)
        self.count_axis.setTitleText("Count")
        sides = ((self.day_axis, Qt.AlignmentFlag.AlignBottom), (self.count_axis, Qt.AlignmentFlag.AlignLeft))
        for axis, side in sides:
            axis.setLabelsColor(QColor(INK))
            axis.setTitleBrush(QColor(MUTED))
            axis.setTitleFont(QFont(self.font().family(), 8))
            axis.setLabelsFont(QFont(self.font().family(), 8))
            axis.setGridLineColor(QColor(GRID))
            chart.addAxis(axis, side)
            self.bars.attachAxis(axis)
        self.day_axis.setGridLineVisible(False)
        self.setChart(chart)

    def show_days(self, days: list[dict]) -> None:
        """Draw the report's days (oldest first, as the API gives them)."""
        self.days = days
        for one, bar_set in zip(self.series, self.sets, strict=True):
            bar_set.remove(0, bar_set.count())
            bar_set.append([float(d[one.key]) for d in days])
        top = max([sum(d[s.key] for s in self.series) if self.stacked else max(d[s.key] for s in self.series)
                   for d in days] or [0])
        step = _nice_step(top)
        self.count_axis.setTickInterval(step)
        self.count_axis.setRange(0, max(4, -(-top // step) * step))
        self._label_days()

    def day_labels(self) -> list[str]:
        """The labels the day axis shows, oldest first."""
        return self.day_axis.categoriesLabels()

    def values(self, key: str) -> list[int]:
        """What the chart draws for one series, day by day (what the tests compare with the API)."""
        bar_set = self.sets[[s.key for s in self.series].index(key)]
        return [int(bar_set.at(n)) for n in range(bar_set.count())]

    def day_summary(self, index: int) -> str:
        """The read-out for the n-th day: its date and each series' count."""
        if not 0 <= index < len(self.days):
            return ""
        day = self.days[index]
        return "\n".join([day_label(day["day"], with_weekday=True),
                          *(f"{s.label}: {day[s.key]}" for s in self.series)])

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._label_days()  # a wider chart has room for more days' labels

    def _label_days(self) -> None:
        for label in self.day_axis.categoriesLabels():
            self.day_axis.remove(label)
        width = int(self.chart().plotArea().width()) or self.width() - 80
        for n in labelled_days(len(self.days), width):
            self.day_axis.append(day_label(self.days[n]["day"]), n)
        self.day_axis.setRange(-0.5, max(len(self.days), 1) - 0.5)

    def _hovered(self, over: bool, index: int) -> None:
        text = self.day_summary(index) if over else ""
        if text:
            QToolTip.showText(QCursor.pos(), text, self)
        else:
            QToolTip.hideText()


class DailyCharts(QWidget):
    """The four charts of the report's days in a grid, or, when nothing happened in the range, a sentence saying so."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.conversations = DailyChart("Conversations", [Series("conversations", "Conversations", BLUE)],
                                        name="conversationsChart")
        self.questions = DailyChart("Questions: answered or not", [
            Series("answered", "Answered", BLUE), Series("fell_back", "Fell back", ORANGE),
            Series("handed_off", "Asked for a person", PURPLE)], stacked=True, name="questionsChart")
        self.leads = DailyChart("Leads", [Series("leads", "Leads", GREEN)], name="leadsChart")
        self.ratings = DailyChart("Ratings", [Series("thumbs_up", "Thumbs up", GREEN),
                                              Series("thumbs_down", "Thumbs down", VERMILION)], name="ratingsChart")
        grid_holder = QWidget()
        grid = QGridLayout(grid_holder)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(10)
        for n, chart in enumerate(self.charts()):
            grid.addWidget(chart, n // 2, n % 2)
        self.empty = QLabel()
        self.empty.setObjectName("chartsEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color:#5f6b7a;font-size:14px;")
        self._stack = QStackedLayout(self)
        self._stack.addWidget(grid_holder)
        self._stack.addWidget(self.empty)

    def charts(self) -> list[DailyChart]:
        return [self.conversations, self.questions, self.leads, self.ratings]

    @property
    def showing_empty(self) -> bool:
        return self._stack.currentWidget() is self.empty

    def show_report(self, report: dict, *, empty_text: str) -> None:
        """The report's days, or `empty_text` when every count of the range is zero."""
        if not any(report["totals"].values()):
            self.empty.setText(empty_text)
            self._stack.setCurrentWidget(self.empty)
            return
        for chart in self.charts():
            chart.show_days(report["days"])
        self._stack.setCurrentIndex(0)
