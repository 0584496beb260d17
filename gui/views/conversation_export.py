"""Exporting the conversations the filters select, as CSV (a row per message) or JSON (a transcript each), to a file
the admin chose: one streamed request for the API's own export (so one audit row), written off the UI thread as it
arrives to a `.part` file that becomes the chosen file only once whole. Progress is told in bytes received; Cancel
cuts the download off and leaves no file. The file holds exactly what the API's export of the same filters holds."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from PySide6.QtCore import QObject, Signal

from appliance.keys.pinning import Transfer
from gui.client.api import ApiClient
from gui.client.errors import ApiError

TIMEOUT = 120  # seconds the appliance may take to start a large export (the filters are applied first)


class ConversationExport(QObject):
    """One export under way. `progressed(bytes received)` as it arrives; then `finished(bytes in the file)`,
    `failed(ApiError)` or, after `cancel()`, `cancelled()`."""

    progressed = Signal(int)
    finished = Signal(int)
    failed = Signal(object)
    cancelled = Signal()

    def __init__(self, api: ApiClient, workspace_id: str, filters: dict[str, str], format: str, target: Path, *,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._api = api
        self._path = f"/api/v1/workspaces/{workspace_id}/conversations/export"
        self._query = {"format": format, **filters}
        self.format, self.target = format, target
        self.received = 0
        self.running = False
        self._transfer: Transfer | None = None

    def start(self) -> None:
        self.running = True
        self._transfer = self._api.download("GET", f"{self._path}?{urlencode(self._query)}", target=self.target,
                                            on_progress=self._received, on_done=self._saved,
                                            on_error=self._refused, timeout=TIMEOUT)

    def cancel(self) -> None:
        """Cut the download off; the partial file is removed."""
        if self.running and self._transfer is not None:
            self._transfer.cut_off()

    def _received(self, received: int, _total: int) -> None:
        self.received = received  # the export is streamed as it is made: its length is not known beforehand
        self.progressed.emit(received)

    def _saved(self, _headers: dict[str, str]) -> None:
        self.running = False
        self.finished.emit(self.received)

    def _refused(self, error: ApiError) -> None:
        self.running = False
        if error.code == "cancelled":
            self.cancelled.emit()
        else:
            self.failed.emit(error)
