"""The Conversations screen, end to end: a conversation a visitor has in headless Chromium through the agent's widget
shows up in the inbox with its lead; the filters narrow the inbox exactly as the API's own filtered list; the
transcript shows each reply's sources and marks one whose text changed since; deleting from the panel removes the
conversations (and, if ticked, their leads) from the API and shows the receipt; an editor reads but cannot delete,
and a viewer has no such screen; the page fits a 1280x800 window; a Workspaces list answered after its page was
deleted is dropped. The exports are in test_conversation_exports.py."""

from __future__ import annotations

import datetime as dt

import pytest
import shiboken6
from playwright.sync_api import sync_playwright
from PySide6.QtCore import QDate, QItemSelectionModel

from gui.views import conversations
from gui.views.conversation_deletion import DeleteConversationsDialog, ReceiptDialog
from gui.views.conversations import ConversationsPage
from gui.views.workspaces import WorkspacesPage
from gui.widgets.dates import ANY_DATE
from tests.gui.conversations_inbox import inbox, shown_ids
from tests.gui.driving import (
    PASSWORD,
    WAIT_MS,
    idle,
    join,
    new_workspace,
    open_dialog,
    open_page,
    select_row,
    signed_in_window,
    unique,
)
from tests.gui.widget_visitors import (
    FALLS_BACK,
    HANDBOOK,
    PARKING,
    answer_every_windows_calls,
    assert_fits_1280_by_800,
    exported,
    listed,
    ready,
    trained_site,
    visit,
    visitors_appliance,
    window_of_1280_by_800,
)
from tests.server.widget_browser import CHROMIUM, HostPages, host_page, open_chat, send, spki_pin


@pytest.fixture(scope="module")
def served(tmp_path_factory, relay):
    with visitors_appliance(tmp_path_factory, relay, "conversations") as found:
        yield found


@pytest.fixture(autouse=True)
def answered_before_the_windows_close(qtbot):
    yield
    answer_every_windows_calls(qtbot)


def select_ids(page: ConversationsPage, ids: list[str]) -> None:
    """Select these rows together, as Ctrl+click does."""
    proxy, selection = page.table.model(), page.table.selectionModel()
    selection.clearSelection()
    for row in range(proxy.rowCount()):
        record = page.conversations.record(proxy.mapToSource(proxy.index(row, 0)).row())
        if record["id"] in ids:
            selection.select(proxy.index(row, 0), QItemSelectionModel.SelectionFlag.Select |
                             QItemSelectionModel.SelectionFlag.Rows)


# --- the tests -----------------------------------------------------------------------------------------------------

def test_a_conversation_had_in_chromium_through_the_widget_shows_in_the_inbox_with_its_lead(qtbot, tmp_path, served):
    host = HostPages({})
    try:
        site = trained_site(qtbot, served, origins=(host.origin,))
        host.pages["/help.html"] = host_page(
            f'<script src="{served.url}/widget.js" data-agent="{site.agent["public_id"]}" defer></script>',
            title="Intranet help")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync", "--disable-quic",
                f"--ignore-certificate-errors-spki-list={spki_pin(served.running.data_dir / 'tls' / 'server.crt')}"])
            try:
                page = browser.new_page()
                open_chat(page, f"{host.origin}/help.html")
                send(page, PARKING)
                send(page, FALLS_BACK)
                form = page.locator("form.cs-lead")
                form.wait_for(state="visible")
                form.locator("[name=name]").fill("Chromium Visitor")
                form.locator("[name=email]").fill("chromium.visitor@example.com")
                form.locator("input[name=consent]").check()
                form.locator("button.cs-lead-submit").click()
                page.get_by_text("Thank you! Someone will get back to you soon.").wait_for()
            finally:
                browser.close()
    finally:
        host.shutdown()
        host.server_close()

    window = signed_in_window(qtbot, tmp_path, served)
    page = inbox(qtbot, window, site)
    [row] = page.conversations.records()
    assert (row["channel"], row["has_lead"], row["message_count"], row["first_question"]) == (
        "widget", True, 4, PARKING)
    assert row["fell_back_count"] == 1 and row["page_url"] == f"{host.origin}/help.html"
    shown = [page.conversations.data(page.conversations.index(0, column)) for column in range(8)]
    assert shown[1] == site.agent["name"] and shown[2] == PARKING and shown[3] == "4"
    assert shown[4:6] == ["fell back", "yes"] and shown[7] == "widget"
    select_row(page.table, lambda c: c["id"] == row["id"])
    qtbot.waitUntil(lambda: "Chromium Visitor" in page.transcript.toPlainText(), timeout=WAIT_MS)
    text = page.transcript.toPlainText()
    assert "chromium.visitor@example.com" in text and "B1" in text and "through the chat widget" in text
    status, leads = served.api("GET", f"{site.base}/leads")
    [lead] = leads["leads"]
    assert lead["conversation_id"] == row["id"] and lead["consent"]["text"] in text


def test_filters_narrow_the_inbox_exactly_as_the_apis_filtered_list(qtbot, tmp_path, served):
    site = trained_site(qtbot, served)
    word = unique("zeppelin").replace("-", "")
    answered = visit(served, site, PARKING, rating="up")
    fell_back = visit(served, site, FALLS_BACK, lead={"name": "Jane Visitor", "email": "jane@example.com"})
    searched = visit(served, site, f"Can a {word} park in the garage?", rating="down")
    window = signed_in_window(qtbot, tmp_path, served)
    page = inbox(qtbot, window, site)
    assert sorted(shown_ids(page)) == sorted([answered, fell_back, searched])
    assert page.empty.isHidden()
    bar = page.filters

    def narrowed(box, value: str, **api_filters) -> list[str]:
        box.setCurrentIndex(box.findData(value))
        expected = listed(served, site, **api_filters)
        qtbot.waitUntil(lambda: shown_ids(page) == expected, timeout=WAIT_MS)
        box.setCurrentIndex(0)
        qtbot.waitUntil(lambda: len(shown_ids(page)) == 3, timeout=WAIT_MS)
        return expected

    assert narrowed(bar.outcome, "fell_back", outcome="fell_back") == [fell_back]
    assert fell_back not in narrowed(bar.outcome, "answered", outcome="answered")
    assert narrowed(bar.has_lead, "true", has_lead="true") == [fell_back]
    assert sorted(narrowed(bar.has_lead, "false", has_lead="false")) == sorted([answered, searched])
    assert narrowed(bar.feedback, "up", feedback="up") == [answered]
    assert narrowed(bar.channel, "api", channel="api") == []
    qtbot.waitUntil(lambda: page.empty.isHidden(), timeout=WAIT_MS)

    bar.search.setText(word)
    bar.search.returnPressed.emit()
    qtbot.waitUntil(lambda: shown_ids(page) == listed(served, site, q=word) == [searched], timeout=WAIT_MS)
    bar.outcome.setCurrentIndex(bar.outcome.findData("fell_back"))
    qtbot.waitUntil(lambda: shown_ids(page) == [] and page.empty.isVisible(), timeout=WAIT_MS)
    assert "No conversation matches these filters" in page.empty.text() and word in page.empty.text()
    bar.clear_action()
    qtbot.waitUntil(lambda: len(shown_ids(page)) == 3, timeout=WAIT_MS)

    today = dt.datetime.now(dt.timezone.utc).date()
    bar.until.setDate(QDate(today.year, today.month, today.day).addDays(-1))  # "To" yesterday: nothing yet
    qtbot.waitUntil(lambda: shown_ids(page) == listed(served, site, until=f"{today}T00:00:00Z") == [],
                    timeout=WAIT_MS)
    bar.until.setDate(ANY_DATE)
    bar.since.setDate(QDate(today.year, today.month, today.day))  # "From" today: all of them
    qtbot.waitUntil(lambda: len(shown_ids(page)) == 3 == len(listed(served, site, since=f"{today}T00:00:00Z")),
                    timeout=WAIT_MS)
    bar.agent.setCurrentIndex(bar.agent.findData(site.agent["id"]))
    qtbot.waitUntil(lambda: sorted(shown_ids(page)) == sorted(listed(served, site, agent_id=site.agent["id"]))
                    and len(shown_ids(page)) == 3, timeout=WAIT_MS)
    assert "from " in bar.describe() and site.agent["name"] in bar.describe()


def test_the_transcript_shows_each_replys_sources_and_marks_one_whose_text_changed(qtbot, tmp_path, served):
    site = trained_site(qtbot, served)
    conversation = visit(served, site, PARKING, FALLS_BACK, lead={"name": "Ann Lee", "email": "ann@example.com",
                                                                 "company": "Northwind"})
    window = signed_in_window(qtbot, tmp_path, served)
    page = inbox(qtbot, window, site)
    [row] = page.conversations.records()
    assert (row["message_count"], row["has_lead"], row["first_question"]) == (4, True, PARKING)
    select_row(page.table, lambda c: c["id"] == conversation)
    qtbot.waitUntil(lambda: "B1" in page.transcript.toPlainText(), timeout=WAIT_MS)
    text = page.transcript.toPlainText()
    assert "Employee handbook" in text and "Parking" in text and "changed since" not in text
    assert "fell back" in text
    assert "Ann Lee" in text and "ann@example.com" in text and "Consent (version 1)" in text

    status, _ = served.api("PATCH", f"{site.base}/sources/{site.source_id}",
                           {"text": HANDBOOK.replace("level B1", "level C3")})
    assert status == 202
    ready(qtbot, served, site.base, site.source_id)
    page.refresh_action()
    idle(qtbot, window.context)
    select_row(page.table, lambda c: c["id"] == conversation)
    qtbot.waitUntil(lambda: "changed since" in page.transcript.toPlainText(), timeout=WAIT_MS)
    assert "B1" in page.transcript.toPlainText()  # the reply as it was given


def test_deleting_from_the_panel_removes_the_conversations_and_their_leads_and_shows_the_receipt(
        qtbot, tmp_path, served):
    site = trained_site(qtbot, served)
    kept = visit(served, site, PARKING)
    with_lead = visit(served, site, FALLS_BACK, lead={"name": "Jane Visitor", "email": "jane@example.com"})
    other = visit(served, site, PARKING, PARKING)
    status, leads = served.api("GET", f"{site.base}/leads")
    [lead] = leads["leads"]
    window = signed_in_window(qtbot, tmp_path, served)
    page = inbox(qtbot, window, site)

    select_ids(page, [with_lead, other])
    assert page.delete_button.isEnabled()
    page.delete_action()
    dialog = open_dialog(qtbot, page, DeleteConversationsDialog)
    assert "2 conversations and 6 messages" in dialog.text.text()
    assert "1 of them collected a lead" in dialog.text.text()
    assert dialog.with_leads.isVisible()
    dialog.with_leads.setChecked(True)
    dialog.action_button.click()
    receipt = open_dialog(qtbot, page, ReceiptDialog)
    assert "Deleted 2 conversations and 6 messages" in receipt.text.text()
    assert "1 lead they collected was deleted too" in receipt.text.text()
    assert "operator@example.com" in receipt.text.text()
    qtbot.waitUntil(lambda: shown_ids(page) == [kept], timeout=WAIT_MS)
    for gone in (with_lead, other):
        assert served.api("GET", f"{site.base}/conversations/{gone}")[0] == 404
    assert served.api("GET", f"{site.base}/leads/{lead['id']}")[0] == 404
    assert served.api("GET", f"{site.base}/conversations/{kept}")[0] == 200
    receipt.accept()

    # One conversation, its lead kept: the lead stays, unlinked.
    with_lead = visit(served, site, FALLS_BACK, lead={"name": "Joe Kept", "email": "joe@example.com"})
    page.refresh_action()
    qtbot.waitUntil(lambda: with_lead in shown_ids(page), timeout=WAIT_MS)
    select_row(page.table, lambda c: c["id"] == with_lead)
    page.delete_action()
    dialog = open_dialog(qtbot, page, DeleteConversationsDialog)
    said = dialog.text.text()
    assert said.startswith("1 conversation and 2 messages") and "It collected a lead" in said
    dialog.action_button.click()
    receipt = open_dialog(qtbot, page, ReceiptDialog)
    assert "1 lead they collected stays, unlinked, in Leads" in receipt.text.text()
    assert served.api("GET", f"{site.base}/conversations/{with_lead}")[0] == 404
    [kept_lead] = served.api("GET", f"{site.base}/leads?q=joe@example.com")[1]["leads"]
    assert kept_lead["conversation_id"] is None


def test_an_editor_reads_conversations_but_cannot_delete_them(qtbot, tmp_path, served):
    site = trained_site(qtbot, served)
    conversation = visit(served, site, FALLS_BACK, lead={"name": "Jane Visitor", "email": "jane@example.com"})
    editor, _ = join(qtbot, served, site.workspace_id, "editor")
    window = signed_in_window(qtbot, tmp_path, served, editor, PASSWORD)
    page = inbox(qtbot, window, site)
    select_row(page.table, lambda c: c["id"] == conversation)
    qtbot.waitUntil(lambda: FALLS_BACK in page.transcript.toPlainText(), timeout=WAIT_MS)
    assert not page.delete_button.isEnabled()
    assert "Only admins and owners" in page.delete_button.toolTip()
    assert "your role may not read leads" in page.transcript.toPlainText()  # personal data stays out
    assert "jane@example.com" not in page.transcript.toPlainText()
    page.delete_action()
    assert not page.findChildren(DeleteConversationsDialog)
    assert served.api("GET", f"{site.base}/conversations/{conversation}")[0] == 200
    assert f"leads:{site.workspace_id}" not in window.destinations()


def test_a_viewer_has_neither_conversations_nor_leads_to_open(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Viewed")["id"]
    viewer, _ = join(qtbot, served, workspace, "viewer")
    window = signed_in_window(qtbot, tmp_path, served, viewer, PASSWORD)
    keys = window.destinations()
    assert f"conversations:{workspace}" not in keys and f"leads:{workspace}" not in keys
    assert f"team:{workspace}" in keys  # the workspace is there, only these screens are not
    status, _ = served.api("GET", f"/api/v1/workspaces/{workspace}/conversations",
                           token=served.token(viewer, PASSWORD))
    assert status == 403  # nor could the panel show them: the API refuses a viewer


def test_a_cancelled_workspace_keeps_its_conversations_readable_and_exportable_but_not_deletable(
        qtbot, tmp_path, served):
    site = trained_site(qtbot, served)
    conversation = visit(served, site, PARKING)
    assert served.api("POST", f"{site.base}/cancel")[0] == 200
    window = signed_in_window(qtbot, tmp_path, served)
    page = inbox(qtbot, window, site)
    assert page.read_only_notice.isVisible() and "cancelled and read-only" in page.read_only_notice.label.text()
    select_row(page.table, lambda c: c["id"] == conversation)
    qtbot.waitUntil(lambda: "B1" in page.transcript.toPlainText(), timeout=WAIT_MS)
    assert not page.delete_button.isEnabled()
    page.export_action("csv", str(tmp_path / "kept.csv"))
    qtbot.waitUntil(lambda: not page.export.running, timeout=WAIT_MS)
    assert (tmp_path / "kept.csv").read_bytes() == exported(served, site, format="csv")


def test_an_empty_inbox_says_what_it_holds_and_how_conversations_arrive(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Quiet")["id"]
    window = signed_in_window(qtbot, tmp_path, served)
    page = open_page(qtbot, window, f"conversations:{workspace}")
    assert page.empty.isVisible() and "No conversations yet" in page.empty.text()
    assert not page.delete_button.isEnabled() and not page.csv_button.isEnabled() and page.transcript.isHidden()


def test_older_conversations_load_a_page_at_a_time_until_all_are_shown(qtbot, tmp_path, served, monkeypatch):
    site = trained_site(qtbot, served)
    for _ in range(5):
        visit(served, site, PARKING)
    pages = []
    monkeypatch.setattr(conversations, "PAGE_SIZE", 2)
    window = signed_in_window(qtbot, tmp_path, served)
    get = window.context.api.get
    monkeypatch.setattr(window.context.api, "get", lambda path, **kw: (
        pages.append(path) if "/conversations?" in path else None, get(path, **kw))[1])
    page = inbox(qtbot, window, site)

    def all_shown() -> bool:
        if page.more_button.isVisible():
            page.more_button.click()  # the table also asks for more by itself while it has room to show them
        return len(shown_ids(page)) == 5

    qtbot.waitUntil(all_shown, timeout=WAIT_MS)
    assert shown_ids(page) == listed(served, site)  # in the API's order, none twice, none missed
    assert len(pages) == 3 and all("limit=2" in path for path in pages)
    assert page.more_button.isHidden() and page.count.text() == "5 conversations"



def test_the_inbox_fits_a_1280_by_800_window(qtbot, tmp_path, served):
    site = trained_site(qtbot, served)
    visit(served, site, PARKING, FALLS_BACK, lead={"name": "Ann Lee", "email": "ann@example.com"})
    window = window_of_1280_by_800(qtbot, tmp_path, served)
    page = inbox(qtbot, window, site)
    select_row(page.table, lambda c: True)
    qtbot.waitUntil(lambda: "B1" in page.transcript.toPlainText(), timeout=WAIT_MS)
    assert_fits_1280_by_800(window, page)
    assert page.filters.search.y() < page.filters.agent.y()  # the filters take two rows
    folder = tmp_path / ("a-folder-with-a-rather-long-name-" * 3)
    folder.mkdir()
    page.export_action("csv", str(folder / "inbox.csv"))
    qtbot.waitUntil(lambda: not page.export.running, timeout=WAIT_MS)
    assert page.banner.label.text().startswith("Exported about 1 conversation (")
    assert_fits_1280_by_800(window, page)  # a notice naming a long path wraps rather than widens


def test_a_workspaces_list_answered_after_its_page_was_deleted_is_dropped(qtbot, tmp_path, served):
    """A member's window opens on Workspaces; when that page goes (its window closed and deleted) while its list
    is still being asked for, the late answer finds no widgets and is let go."""
    workspace = new_workspace(served, "Closing")["id"]
    editor, _ = join(qtbot, served, workspace, "editor")
    window = signed_in_window(qtbot, tmp_path, served, editor, PASSWORD)
    page = window.current_page()
    assert isinstance(page, WorkspacesPage)
    idle(qtbot, window.context)
    page.refresh_action()
    assert window.context.background.pending
    shiboken6.delete(page)
    idle(qtbot, window.context)  # an answer that touched the deleted widgets would fail the test here
    assert not shiboken6.isValid(page) and window.context.background.pending == 0
