"""Exporting the audit log as CSV: where to save it, then every page of events the filters select, fetched through
the API's cursor and written (off the UI thread) as one file with one header row."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Callable
from urllib.parse import urlencode

from PySide6.QtWidgets import QFileDialog, QWidget

from gui.client.api import ApiClient
from gui.client.background import Background
from gui.client.errors import ApiError

EXPORT_PAGE = 1000  # the API's largest page


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def _write(path: Path, data: bytes) -> int:
    """Write the export (on a worker thread) and say how many events it holds."""
    path.write_bytes(data)
    return max(0, len(csv_rows(data)) - 1)


def save_dialog(parent: QWidget) -> QFileDialog:
    """Asks where to save the export: Qt's own save dialog for CSV files, proposing audit.csv; not yet open."""
    dialog = QFileDialog(parent, "Export the audit log as CSV")
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
    dialog.setNameFilter("CSV files (*.csv)")
    dialog.setDefaultSuffix("csv")
    dialog.selectFile("audit.csv")
    return dialog


def export_csv(api: ApiClient, background: Background, log: str, filters: dict[str, str], target: Path, *,
               on_done: Callable[[int], None], on_refused: Callable[[ApiError], None],
               on_unwritten: Callable[[BaseException], None]) -> None:
    """Save the events of the log at `log` (its API path) that `filters` select to `target`; `on_done(count)`, or
    `on_refused` when the API refuses a page, or `on_unwritten` when the file cannot be written."""

    def page(after: int | None, so_far: bytes) -> None:
        query = {**filters, "format": "csv", "limit": EXPORT_PAGE, **({"after": after} if after else {})}

        def got(data: bytes) -> None:
            rows = csv_rows(data)
            body = data if not so_far else data.partition(b"\n")[2]  # one header row for the whole file
            if len(rows) - 1 == EXPORT_PAGE:
                page(int(rows[-1][0]), so_far + body)
                return
            background.run(lambda: _write(target, so_far + body), on_done=on_done, on_error=on_unwritten)

        api.get(f"{log}?{urlencode(query)}", accept="text/csv", on_done=got, on_error=on_refused)

    page(None, b"")
