"""The Backups screen against a real appliance: Back up now runs the backup job and shows its outcome, the new
backup is listed verified and highlighted, a backup is verified from the panel (a damaged one is named as such),
pruning asks first and deletes what backup_keep allows; with no verified backup the screen warns."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from gui.views.backups import FAILING, VERIFIED, BackupsPage
from tests.gui.driving import WAIT_MS, answer_confirmation, idle, open_page, signed_in_window, start_served

KEEP = 2  # backup_keep for this module's appliance, so a few backups are enough to prune


@pytest.fixture(scope="module")
def served(tmp_path_factory, relay):
    served = start_served(tmp_path_factory.mktemp("backups-appliance"), relay, env={"CHATSPARK_BACKUP_KEEP": str(KEEP)})
    yield served
    served.running.stop()


def _backups(served) -> list[dict]:
    status, body = served.api("GET", "/api/v1/backups")
    assert status == 200, body
    return body["backups"]


def _made(served) -> dict:
    status, body = served.api("POST", "/api/v1/backups")
    assert status == 201, body
    return body["backup"]


def _backups_page(qtbot, tmp_path, served) -> BackupsPage:
    window = signed_in_window(qtbot, tmp_path, served)
    page = open_page(qtbot, window, "backups", ready=lambda p: p.newest_line.text())
    page.poll_ms = 100
    return page


def _row_colour(page: BackupsPage, backup_id: str) -> str | None:
    row = next(i for i, b in enumerate(page.backups.records()) if b["id"] == backup_id)
    brush = page.backups.data(page.backups.index(row, 0), Qt.ItemDataRole.BackgroundRole)
    return brush.color().name() if brush is not None else None


def test_back_up_now_shows_progress_then_the_new_backup_verified_and_highlighted(qtbot, tmp_path, served):
    page = _backups_page(qtbot, tmp_path, served)
    before = {b["id"] for b in _backups(served)}

    page.backup_button.click()
    qtbot.waitUntil(lambda: "Backing up… started" in page.progress.text(), timeout=WAIT_MS)
    assert not page.busy.isHidden() and not page.backup_button.isEnabled()
    qtbot.waitUntil(lambda: page.busy.isHidden(), timeout=WAIT_MS)
    idle(qtbot, page.context)

    assert page.progress.text().startswith("Backup made") and "verified ok" in page.progress.text()
    assert re.search(r"; \d+ old backups? pruned\.$", page.progress.text()), page.progress.text()
    [new] = [b for b in _backups(served) if b["id"] not in before]
    assert new["status"] == "complete" and new["verification_status"] == "passed"
    assert new["id"] in {b["id"] for b in page.backups.records()}
    assert page.highlighted() == [new["id"]]
    assert _row_colour(page, new["id"]) == QColor(VERIFIED).name()
    assert page.newest_line.text().startswith("Newest verified backup:") and "just now" in page.newest_line.text()
    assert page.banner.isHidden() and page.freshness.isHidden()


def test_a_backup_is_verified_from_the_panel_and_its_state_comes_from_the_api(qtbot, tmp_path, served):
    backup = _made(served)
    assert backup["verification_status"] is None
    page = _backups_page(qtbot, tmp_path, served)
    row = next(b for b in page.backups.records() if b["id"] == backup["id"])
    assert page.backups.data(page.backups.index(page.backups.records().index(row), 4)) == "never verified"

    page.select(backup["id"])
    assert page.verify_button.isEnabled()
    page.verify_button.click()
    assert "Verifying the backup" in page.progress.text() and not page.busy.isHidden()
    qtbot.waitUntil(lambda: page.busy.isHidden(), timeout=WAIT_MS)
    idle(qtbot, page.context)

    [verified] = [b for b in _backups(served) if b["id"] == backup["id"]]
    assert verified["verification_status"] == "passed" and verified["verified_at"]
    assert "verified ok" in page.progress.text()
    shown = next(b for b in page.backups.records() if b["id"] == backup["id"])
    assert page.backups.data(page.backups.index(page.backups.records().index(shown), 4)).startswith("verified ok at")
    assert page.highlighted() == [backup["id"]]  # now the newest verified one


def test_a_damaged_backup_fails_its_verification_and_the_panel_names_the_problem(qtbot, tmp_path, served):
    backup = _made(served)
    file = served.running.data_dir / "backups" / backup["file_name"]
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    file.write_bytes(bytes(data))
    page = _backups_page(qtbot, tmp_path, served)

    page.select(backup["id"])
    page.verify_action()
    qtbot.waitUntil(lambda: page.busy.isHidden(), timeout=WAIT_MS)
    idle(qtbot, page.context)

    [checked] = [b for b in _backups(served) if b["id"] == backup["id"]]
    assert checked["verification_status"] == "failed"
    assert page.banner.kind == "error" and "failed its verification" in page.banner.label.text()
    assert "changed after it was written" in page.banner.label.text()
    assert _row_colour(page, backup["id"]) == QColor(FAILING).name()
    assert backup["id"] not in page.highlighted()


def test_prune_asks_first_then_deletes_beyond_backup_keep_and_keeps_the_newest_verified(qtbot, tmp_path, served):
    for _ in range(KEEP + 1):
        _made(served)
    before = _backups(served)
    complete = [b for b in before if b["status"] == "complete"]
    verified = next((b["id"] for b in complete if b["verification_status"] == "passed"), None)
    expected = {b["id"] for b in complete[:KEEP]} | ({verified} if verified else set())
    page = _backups_page(qtbot, tmp_path, served)

    page.prune_button.click()
    said = answer_confirmation(qtbot, page, accept=False)
    assert "newest verified backup is never deleted" in said and f"keeps the {KEEP} newest" in said
    idle(qtbot, page.context)
    assert len(_backups(served)) == len(before)

    page.prune_button.click()
    answer_confirmation(qtbot, page)
    qtbot.waitUntil(lambda: page.progress.text().startswith("Pruned"), timeout=WAIT_MS)
    idle(qtbot, page.context)

    after = _backups(served)
    assert {b["id"] for b in after} == expected
    deleted = len(before) - len(after)
    assert deleted >= 1
    assert page.progress.text().startswith(f"Pruned: {deleted} backup{'' if deleted == 1 else 's'} deleted")
    assert {b["id"] for b in page.backups.records()} == expected


def test_with_no_verified_backup_the_screen_warns_and_says_how_to_make_one_and_how_to_restore(qtbot, tmp_path,
                                                                                             relay):
    (tmp_path / "fresh").mkdir()
    fresh = start_served(tmp_path / "fresh", relay)
    try:
        page = _backups_page(qtbot, tmp_path, fresh)

        assert page.newest_line.text().startswith("No backups yet. Make one with Back up now")
        assert page.freshness.kind == "warning" and "no verified backup" in page.freshness.label.text()
        assert not page.freshness.isHidden() and page.banner.isHidden()
        assert not page.verify_button.isEnabled() and page.backup_button.isEnabled()
        note = page.findChild(type(page.newest_line), "restoreNote").text()
        assert "chatspark backup restore" in note
    finally:
        fresh.running.stop()
