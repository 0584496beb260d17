"""The Conversations screen's exports, end to end: CSV and JSON written to the chosen file equal the API's export,
each one streamed request with one audit row; the window keeps ticking during an export, which can be cancelled
mid-transfer and leaves no file."""

from __future__ import annotations

import csv
import io
import json

import pytest
from PySide6.QtWidgets import QFileDialog

from gui.widgets.formatting import size
from tests.gui.conversations_inbox import inbox, shown_ids
from tests.gui.driving import (
    WAIT_MS,
    idle,
    signed_in_window,
)
from tests.gui.test_responsiveness import MAX_GAP_S, Ticks
from tests.gui.widget_visitors import (
    FALLS_BACK,
    PARKING,
    answer_every_windows_calls,
    export_rows,
    exported,
    held_after_the_first_piece,
    trained_site,
    visit,
    visitors_appliance,
)


@pytest.fixture(scope="module")
def served(tmp_path_factory, relay):
    with visitors_appliance(tmp_path_factory, relay, "conversation-exports") as found:
        yield found


@pytest.fixture(autouse=True)
def answered_before_the_windows_close(qtbot):
    yield
    answer_every_windows_calls(qtbot)


def test_csv_and_json_exports_written_to_the_chosen_file_equal_the_apis_export_each_in_one_audited_request(
        qtbot, tmp_path, served, monkeypatch):
    site = trained_site(qtbot, served)
    for n in range(5):
        visit(served, site, PARKING if n % 2 else FALLS_BACK, f"Question {n} about the help desk")
    window = signed_in_window(qtbot, tmp_path, served)
    page = inbox(qtbot, window, site)
    chosen = tmp_path / "inbox"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(chosen), "CSV files (*.csv)"))

    page.csv_button.click()
    assert page.progress.isVisible() and not page.csv_button.isEnabled()
    qtbot.waitUntil(lambda: not page.export.running, timeout=WAIT_MS)
    [row] = export_rows(served, site)  # one request, one audit row, however many conversations it holds
    assert row["details"] == {"format": "csv", "filters": {}, "count": 5} and row["outcome"] == "success"
    written = (tmp_path / "inbox.csv").read_bytes()
    assert written == exported(served, site, format="csv")
    rows = list(csv.reader(io.StringIO(written.decode())))
    assert rows[0][:4] == ["conversation_id", "agent_id", "started_at", "role"] and len(rows) == 1 + 5 * 4
    notice = page.banner.label.text()
    assert notice == f"Exported about 5 conversations ({size(len(written))}) to {tmp_path / 'inbox.csv'}."
    assert page.progress.isHidden() and not (tmp_path / "inbox.csv.part").exists()

    page.export_action("json", str(tmp_path / "inbox.json"))
    qtbot.waitUntil(lambda: not page.export.running, timeout=WAIT_MS)
    assert len(export_rows(served, site)) == 3  # the panel's two and the test's own one
    written = (tmp_path / "inbox.json").read_bytes()
    assert written == exported(served, site, format="json")
    assert len(json.loads(written)) == 5

    # With a filter, the same filter: only what the inbox shows goes.
    page.filters.outcome.setCurrentIndex(page.filters.outcome.findData("fell_back"))
    idle(qtbot, window.context)
    page.export_action("json", str(tmp_path / "fell-back.json"))
    qtbot.waitUntil(lambda: not page.export.running, timeout=WAIT_MS)
    newest = export_rows(served, site)[-1]
    assert newest["details"] == {"format": "json", "filters": {"outcome": "fell_back"}, "count": 3}
    written = (tmp_path / "fell-back.json").read_bytes()
    assert written == exported(served, site, format="json", outcome="fell_back")
    assert sorted(t["id"] for t in json.loads(written)) == sorted(shown_ids(page)) and len(shown_ids(page)) == 3

    # A folder that is not there: said in the banner, and nothing was asked of the appliance.
    before = len(export_rows(served, site))
    page.export_action("csv", str(tmp_path / "gone" / "inbox.csv"))
    qtbot.waitUntil(lambda: not page.export.running, timeout=WAIT_MS)
    assert page.banner.kind == "error" and "could not be written" in page.banner.label.text()
    assert len(export_rows(served, site)) == before and not (tmp_path / "gone").exists()
    assert page.csv_button.isEnabled() and page.progress.isHidden()


def test_an_export_keeps_the_window_responsive_and_can_be_cancelled(qtbot, tmp_path, served, monkeypatch):
    site = trained_site(qtbot, served)
    for n in range(6):
        visit(served, site, PARKING, f"Follow-up {n}: where is the help desk?")
    window = signed_in_window(qtbot, tmp_path, served)
    page = inbox(qtbot, window, site)

    with Ticks() as ticks:
        page.export_action("csv", str(tmp_path / "all.csv"))
        qtbot.waitUntil(lambda: not page.export.running, timeout=WAIT_MS)
    assert (tmp_path / "all.csv").read_bytes() == exported(served, site, format="csv")
    assert ticks.longest_gap <= MAX_GAP_S, f"the UI thread stalled for {ticks.longest_gap * 1000:.0f} ms"

    released = held_after_the_first_piece(monkeypatch)
    target = tmp_path / "cancelled.csv"
    page.export_action("csv", str(target))
    qtbot.waitUntil(lambda: page.progress_label.text().startswith("Received"), timeout=WAIT_MS)
    assert page.progress_label.text().endswith(" of the export (about 6 conversations)…")
    assert page.progress.isVisible() and page.cancel_button.isEnabled()
    page.cancel_button.click()
    released.set()
    qtbot.waitUntil(lambda: not page.export.running, timeout=WAIT_MS)
    assert "Export cancelled" in page.banner.label.text()
    assert not target.exists() and not target.with_name("cancelled.csv.part").exists()
    assert page.csv_button.isEnabled() and page.progress.isHidden()
