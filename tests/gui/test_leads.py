"""The Leads screen, end to end: leads left through the widget's routes are listed and searched as the API searches
them; the detail shows the consent record (text, version, time, page) and the conversation; deleting a lead shows
its receipt and the lead is gone from the API; the CSV export written to the chosen file equals the API's, with one
audit row per export, and can be cancelled leaving no file; the screen fits a 1280x800 window; an editor has no such
screen."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from PySide6.QtWidgets import QFileDialog

from gui.views.conversation_deletion import ReceiptDialog
from gui.views.leads import LeadsPage
from gui.widgets.formatting import size
from tests.gui.driving import (
    PASSWORD,
    WAIT_MS,
    answer_confirmation,
    idle,
    join,
    new_workspace,
    open_dialog,
    open_page,
    select_row,
    signed_in_window,
)
from tests.gui.widget_visitors import (
    FALLS_BACK,
    PARKING,
    SITE,
    answer_every_windows_calls,
    assert_fits_1280_by_800,
    held_after_the_first_piece,
    trained_site,
    visit,
    visitors_appliance,
    window_of_1280_by_800,
)


@pytest.fixture(scope="module")
def served(tmp_path_factory, relay):
    with visitors_appliance(tmp_path_factory, relay, "leads") as found:
        yield found


@pytest.fixture(autouse=True)
def answered_before_the_windows_close(qtbot):
    yield
    answer_every_windows_calls(qtbot)


def leads_of(served, workspace: str, **query) -> list[dict]:
    status, body = served.api("GET", f"/api/v1/workspaces/{workspace}/leads?{urlencode(query)}")
    assert status == 200, body
    return body["leads"]


def export_rows(served, workspace: str) -> list[dict]:
    """The workspace's leads.export audit rows, oldest first."""
    status, body = served.api("GET", f"/api/v1/workspaces/{workspace}/audit?action=leads.export")
    assert status == 200, body
    return body["events"]


def shown(page: LeadsPage) -> list[str]:
    return [lead["id"] for lead in page.leads.records()]


def leads_page(qtbot, window, workspace: str) -> LeadsPage:
    return open_page(qtbot, window, f"leads:{workspace}")


def test_leads_are_searched_as_the_api_searches_and_the_detail_shows_the_consent_record(qtbot, tmp_path, served):
    site = trained_site(qtbot, served)
    visit(served, site, FALLS_BACK, lead={"name": "Jane Visitor", "email": "jane@example.com",
                                          "company": "Northwind"})
    visit(served, site, PARKING, FALLS_BACK, lead={"name": "Omar Field", "email": "omar@fabrikam.example"})
    window = signed_in_window(qtbot, tmp_path, served)
    page = leads_page(qtbot, window, site.workspace_id)
    assert shown(page) == [lead["id"] for lead in leads_of(served, site.workspace_id)] and len(shown(page)) == 2
    assert page.count.text() == "2 leads"

    page.search.setText("northwind")
    page.search.returnPressed.emit()
    [jane] = leads_of(served, site.workspace_id, q="northwind")
    qtbot.waitUntil(lambda: shown(page) == [jane["id"]], timeout=WAIT_MS)
    select_row(page.table, lambda lead: lead["id"] == jane["id"])
    qtbot.waitUntil(lambda: "Consent record" in page.detail.toPlainText(), timeout=WAIT_MS)
    detail = page.detail.toPlainText()
    assert "Jane Visitor (jane@example.com)" in detail and "Northwind" in detail
    consent = jane["consent"]
    assert consent["text"] in detail and f"Version\t{consent['version']}" in detail.replace("\n", "\t")
    assert consent["at"][:16].replace("T", " ") in detail and jane["page_url"] == f"{SITE}/hr" in detail
    assert FALLS_BACK in detail and site.agent["name"] in detail  # the conversation it came from

    page.search.setText("nobody-here")
    page.search.returnPressed.emit()
    qtbot.waitUntil(lambda: shown(page) == [] and page.empty.isVisible(), timeout=WAIT_MS)
    assert page.empty.text() == "No lead matches “nobody-here”."


def test_deleting_a_lead_shows_its_receipt_and_the_lead_is_gone(qtbot, tmp_path, served):
    site = trained_site(qtbot, served)
    conversation = visit(served, site, FALLS_BACK, lead={"name": "Jane Visitor", "email": "jane@example.com"})
    [lead] = leads_of(served, site.workspace_id)
    window = signed_in_window(qtbot, tmp_path, served)
    page = leads_page(qtbot, window, site.workspace_id)
    select_row(page.table, lambda found: found["id"] == lead["id"])
    assert page.delete_button.isEnabled()
    page.delete_action()
    said = answer_confirmation(qtbot, page)
    assert "consent record are deleted for good" in said and "conversation it came from stays" in said
    receipt = open_dialog(qtbot, page, ReceiptDialog)
    assert "Deleted the lead of Jane Visitor (jane@example.com) (1 lead)" in receipt.text.text()
    assert "by operator@example.com" in receipt.text.text() and " UTC " in receipt.text.text()
    qtbot.waitUntil(lambda: shown(page) == [] and page.empty.isVisible(), timeout=WAIT_MS)
    assert "No leads yet" in page.empty.text()
    assert served.api("GET", f"/api/v1/workspaces/{site.workspace_id}/leads/{lead['id']}")[0] == 404
    assert served.api("GET", f"/api/v1/workspaces/{site.workspace_id}/conversations/{conversation}")[0] == 200


def test_the_csv_export_written_to_the_chosen_file_equals_the_apis(qtbot, tmp_path, served, monkeypatch):
    site = trained_site(qtbot, served)
    for name in ("Ann", "Bob", "=Cmd"):  # a name a spreadsheet would run as a formula goes out defused
        visit(served, site, FALLS_BACK, lead={"name": name, "email": f"{name.strip('=').lower()}@example.com"})
    window = signed_in_window(qtbot, tmp_path, served)
    page = leads_page(qtbot, window, site.workspace_id)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "leads"), "CSV"))
    page.export_button.click()
    qtbot.waitUntil(lambda: not page.exporting, timeout=WAIT_MS)
    status, _, expected = served.running.get(f"/api/v1/workspaces/{site.workspace_id}/leads/export",
                                             headers={"Authorization": f"Bearer {served.token()}"})
    assert status == 200
    written = (tmp_path / "leads.csv").read_bytes()
    assert written == expected and b"'=Cmd" in written
    assert page.banner.label.text() == f"3 leads exported to {tmp_path / 'leads.csv'} ({size(len(written))})."
    first, _ = export_rows(served, site.workspace_id)  # the panel's, then the test's own
    assert first["details"] == {"format": "csv", "filters": {}, "count": 3}

    page.search.setText("bob@")
    page.search.returnPressed.emit()
    idle(qtbot, window.context)
    page.export_action(str(tmp_path / "bob.csv"))
    qtbot.waitUntil(lambda: not page.exporting, timeout=WAIT_MS)
    _, _, expected = served.running.get(f"/api/v1/workspaces/{site.workspace_id}/leads/export?q=bob%40",
                                        headers={"Authorization": f"Bearer {served.token()}"})
    assert (tmp_path / "bob.csv").read_bytes() == expected and b"bob@example.com" in expected
    assert b"ann@example.com" not in expected
    assert export_rows(served, site.workspace_id)[2]["details"] == {"format": "csv", "filters": {"q": True},
                                                                    "count": 1}


def test_a_leads_export_can_be_cancelled_and_leaves_no_file(qtbot, tmp_path, served, monkeypatch):
    site = trained_site(qtbot, served)
    visit(served, site, FALLS_BACK, lead={"name": "Ann", "email": "ann@example.com"})
    window = signed_in_window(qtbot, tmp_path, served)
    page = leads_page(qtbot, window, site.workspace_id)
    assert page.cancel_export_button.isHidden()
    released = held_after_the_first_piece(monkeypatch)
    target = tmp_path / "leads.csv"
    page.export_action(str(target))
    qtbot.waitUntil(lambda: "so far" in page.banner.label.text(), timeout=WAIT_MS)
    assert page.cancel_export_button.isVisible() and not page.export_button.isEnabled()
    page.cancel_export_button.click()
    released.set()
    qtbot.waitUntil(lambda: not page.exporting, timeout=WAIT_MS)
    assert page.banner.label.text() == "Export cancelled; no file was left behind."
    assert not target.exists() and not target.with_name("leads.csv.part").exists()
    assert page.export_button.isEnabled() and page.cancel_export_button.isHidden()


def test_the_leads_screen_fits_a_1280_by_800_window(qtbot, tmp_path, served):
    site = trained_site(qtbot, served)
    visit(served, site, FALLS_BACK, lead={"name": "Jane Visitor", "email": "jane.visitor@northwind.example",
                                          "company": "Northwind Traders"})
    window = window_of_1280_by_800(qtbot, tmp_path, served)
    page = leads_page(qtbot, window, site.workspace_id)
    select_row(page.table, lambda lead: True)
    qtbot.waitUntil(lambda: "Consent record" in page.detail.toPlainText(), timeout=WAIT_MS)
    assert_fits_1280_by_800(window, page)


def test_leads_are_for_admins_an_editor_has_no_such_screen(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Private")["id"]
    editor, _ = join(qtbot, served, workspace, "editor")
    window = signed_in_window(qtbot, tmp_path, served, editor, PASSWORD)
    assert f"leads:{workspace}" not in window.destinations()
    assert f"conversations:{workspace}" in window.destinations()
    status, _ = served.api("GET", f"/api/v1/workspaces/{workspace}/leads", token=served.token(editor, PASSWORD))
    assert status == 403


def test_an_empty_leads_screen_says_how_leads_arrive(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Quiet")["id"]
    window = signed_in_window(qtbot, tmp_path, served)
    page = leads_page(qtbot, window, workspace)
    assert page.empty.isVisible() and "No leads yet" in page.empty.text()
    assert not page.delete_button.isEnabled() and not page.export_button.isEnabled() and page.detail.isHidden()
