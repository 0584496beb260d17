"""Steps the Training data screen's tests share: the sources as the API lists them, and the screen itself."""

from __future__ import annotations

from gui.views.source_table import STATUS_COLUMN
from gui.views.sources import SourcesPage
from tests.gui.driving import open_page

INDEXED_MS = 90_000  # the embedding model shares two cores with the other tests


def listed_sources(served, workspace: str) -> list[dict]:
    status, body = served.api("GET", f"/api/v1/workspaces/{workspace}/sources")
    assert status == 200, body
    return body["sources"]


def settled_sources(served, workspace: str, count: int) -> list[dict]:
    """The workspace's sources once `count` of them exist and none is queued or indexing any more."""
    sources = listed_sources(served, workspace)
    return sources if len(sources) == count and all(s["status"] in ("ready", "failed") for s in sources) else []


def sources_page(qtbot, window, workspace: str) -> SourcesPage:
    return open_page(qtbot, window, f"sources:{workspace}")


def status_shown(page: SourcesPage, title: str) -> str:
    row = next(n for n, s in enumerate(page.sources.records()) if s["title"] == title)
    return page.sources.data(page.sources.index(row, STATUS_COLUMN))
