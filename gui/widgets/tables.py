"""How the panel's tables look and are read: whole rows selected, one line per row, the columns given their widths
(or fitted to what they hold), one column (the one that says most) taking the room that is left, so nothing is cut
short at 1280x800; sorting by a click on a column's header; the record selected, and selecting a record by its id."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QObject, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from gui.models.table import RecordsModel


def records_table(model: RecordsModel, *, name: str, stretch: int, widths: dict[int, int] | None = None,
                  sort: tuple[int, Qt.SortOrder] | None = None, owner: QObject | None = None,
                  ignore_case: bool = False) -> QTableView:
    """A table of `model`'s records. Without `widths`, every column fits what it holds. With `sort` (the column and
    order it starts with), the rows are sorted by each column's sort key through a proxy that `owner` (the page) keeps:
    a model freed by Python's collector must not take along a proxy the (C++-owned) view still uses."""
    table = QTableView()
    table.setObjectName(name)
    if sort is None:
        table.setModel(model)
    else:
        proxy = QSortFilterProxyModel(owner)
        proxy.setSourceModel(model)
        proxy.setSortRole(Qt.ItemDataRole.UserRole)
        if ignore_case:
            proxy.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        table.setModel(proxy)
        table.setSortingEnabled(True)
        table.sortByColumn(*sort)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setWordWrap(False)
    table.verticalHeader().hide()
    header = table.horizontalHeader()
    header.setStretchLastSection(False)
    if widths is None:
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    else:
        for column, width in widths.items():
            table.setColumnWidth(column, width)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return table


def _records(table: QTableView) -> tuple[RecordsModel, QSortFilterProxyModel | None]:
    shown = table.model()
    return (shown.sourceModel(), shown) if isinstance(shown, QSortFilterProxyModel) else (shown, None)


def selected_record(table: QTableView) -> dict | None:
    """The record of the selected row (the first, where several may be selected); None when none is."""
    rows = table.selectionModel().selectedRows()
    if not rows:
        return None
    model, proxy = _records(table)
    return model.record(proxy.mapToSource(rows[0]).row() if proxy is not None else rows[0].row())


def select_record(table: QTableView, record_id: str | None, *, key: str = "id") -> bool:
    """Select the row of the record whose `key` is `record_id`; False if it is not (yet) in the table."""
    model, proxy = _records(table)
    for row, record in enumerate(model.records()):
        if record[key] == record_id:
            index = model.index(row, 0)
            table.selectionModel().select(
                proxy.mapFromSource(index) if proxy is not None else index,
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
            return True
    return False
