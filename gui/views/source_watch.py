"""Watching one training source until it is indexed again from what was just saved: the Playground says when an
answer written there is live."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from gui.client.errors import ApiError
from gui.views.page import Page

POLL_MS = 1000  # how often the panel asks whether the Q&A source is indexed again (it takes a few seconds)


class IndexingWatch(QObject):
    """Asks for one source every POLL_MS until it is indexed from what was saved at `since` (its `updated_at` then):
    `live(source)` when it is ready, `failed(source)` when indexing failed, `lost(error)` when the API refused."""

    live = Signal(dict)
    failed = Signal(dict)
    lost = Signal(object)  # an ApiError

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.page = page
        self.source_id: str | None = None
        self.since = ""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.check)
        self._asking = False

    @property
    def watching(self) -> bool:
        return self.source_id is not None

    def watch(self, source: dict) -> None:
        self.source_id, self.since = source["id"], source["updated_at"]
        self._timer.start()

    def check(self) -> None:
        if self.source_id is None or self._asking:
            return
        self._asking = True
        self.page.api.get(f"/api/v1/workspaces/{self.page.workspace_id}/sources/{self.source_id}",
                          on_done=self._got, on_error=self._lost)

    def _got(self, answer: dict) -> None:
        self._asking = False
        source = answer["source"]
        if source["id"] != self.source_id:
            return
        # An answer to a request sent before the last save may still say "ready" from the run before it.
        if source["status"] == "ready" and (source.get("refreshed_at") or "") >= self.since:
            self.source_id = None
            self.live.emit(source)
        elif source["status"] == "failed":
            self.source_id = None
            self.failed.emit(source)
        else:
            self._timer.start()

    def _lost(self, error: ApiError) -> None:
        self._asking = False
        self.lost.emit(error)  # the watch stays: Refresh checks again
