"""Exporting a table of the analytics as CSV: where to save it (Qt's own save dialog, proposing the API's file name),
and writing what the API exported there, off the UI thread."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

# The tables /analytics/export gives ("table"), with what the panel calls them and what one of their rows holds.
EXPORTS = {"daily": ("counts per day", "day"), "fell_back_questions": ("questions that fell back", "question")}


def save_dialog(parent: QWidget, table: str, query: dict[str, str]) -> QFileDialog:
    """Asks where to save the table of the report `query` selects; not yet open."""
    dialog = QFileDialog(parent, f"Export the {EXPORTS[table][0]} as CSV")
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
    dialog.setNameFilter("CSV files (*.csv)")
    dialog.setDefaultSuffix("csv")
    dialog.selectFile(f"analytics-{table}-{query['since']}-to-{query['until']}.csv")
    return dialog


def write_export(target: Path, data: bytes) -> int:
    """Write the CSV as the API sent it (on a worker thread) and say how many rows it holds under its header."""
    target.write_bytes(data)
    return max(0, len(list(csv.reader(io.StringIO(data.decode("utf-8"))))) - 1)


def exported(table: str, target: Path, rows: int) -> str:
    what, unit = EXPORTS[table]
    return f"Exported the {what} ({rows} {unit}{'s' if rows != 1 else ''}) to {target}."
