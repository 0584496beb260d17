"""A table of the API's records (dicts) with named columns, and paging through the API's cursors: the model asks
for the next page when the view scrolls to its end (`fetchMore`), the caller supplies how to load one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()  # the table's (invisible) root: every row hangs off it
# load(after, deliver): fetch the page after cursor `after` (None: the first) and call deliver(records, next_after).
Loader = Callable[[str | None, Callable[[list[dict], str | None], None]], None]


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    show: Callable[[dict], str] | None = None  # how the record shows in this column (default: str of its key)
    sort: Callable[[dict], Any] | None = None  # what the column sorts by (default: what it shows)

    def text(self, record: dict) -> str:
        if self.show is not None:
            return self.show(record)
        value = record.get(self.key)
        return "" if value is None else str(value)


class RecordsModel(QAbstractTableModel):
    """Rows are records as the API returns them; `record(row)` gives one back for actions on it."""

    def __init__(self, columns: list[Column], *, loader: Loader | None = None,
                 highlight: Callable[[dict], str | None] | None = None, parent=None) -> None:
        """`highlight(record)` may name a background colour for the record's row (a failing job, a revoked key)."""
        super().__init__(parent)
        self.columns = columns
        self._highlight = highlight
        self._records: list[dict] = []
        self._loader = loader
        self._next: str | None = None
        self._loading = False
        self._complete = True

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._records)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        record, column = self._records[index.row()], self.columns[index.column()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return column.text(record)
        if role == Qt.ItemDataRole.UserRole:
            return column.sort(record) if column.sort else column.text(record)
        if role == Qt.ItemDataRole.BackgroundRole and self._highlight is not None:
            colour = self._highlight(record)
            return QBrush(QColor(colour)) if colour else None
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section].title
        return None

    def record(self, row: int) -> dict:
        return self._records[row]

    def records(self) -> list[dict]:
        return list(self._records)

    def set_records(self, records: list[dict], next_after: str | None = None) -> None:
        self.beginResetModel()
        self._records = list(records)
        self._next = next_after
        self._complete = next_after is None
        self.endResetModel()

    def reload(self) -> None:
        """Load the first page again through the loader."""
        if self._loader is None:
            return
        self._loading = True
        self._loader(None, self._first_page)

    def canFetchMore(self, parent: Index = _ROOT) -> bool:
        return not parent.isValid() and self._loader is not None and not self._complete and not self._loading

    def fetchMore(self, parent: Index = _ROOT) -> None:
        if self.canFetchMore(parent):
            self._loading = True
            self._loader(self._next, self._more)

    def _first_page(self, records: list[dict], next_after: str | None) -> None:
        self._loading = False
        self.set_records(records, next_after)

    def _more(self, records: list[dict], next_after: str | None) -> None:
        self._loading = False
        self._next = next_after  # before the rows arrive, so what listens to them knows whether more follow
        self._complete = next_after is None
        if records:
            self.beginInsertRows(QModelIndex(), len(self._records), len(self._records) + len(records) - 1)
            self._records.extend(records)
            self.endInsertRows()

    def loading_failed(self) -> None:
        """The loader gave up on a page (the error is shown by the screen); a later scroll tries again."""
        self._loading = False
