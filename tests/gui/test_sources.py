"""The Training data screen, end to end against a real appliance: files dropped on the page upload with a progress
bar and become ready (checked through the API), the window ticking all the while; pasted text and Q&A pairs
(imported from CSV and Excel) are added and edited; a delete says what goes; a broken PDF shows its reason; a file
over the upload limit the appliance states is refused before it is sent while the rest of the queue goes on (and, from
an appliance that does not state it, with the appliance's own reason); the web page form says crawling is off (one
that names the hosts it may crawl: test_source_web_pages.py); a viewer cannot change anything."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from gui.views.source_dialogs import CRAWL_OFF
from gui.views.source_qa import QaDialog
from gui.views.sources import SourcesPage
from tests.gui.driving import (
    PASSWORD,
    WAIT_MS,
    answer_confirmation,
    join,
    new_workspace,
    open_dialog,
    select_row,
    signed_in_window,
    start_served,
)
from tests.gui.fixtures.training_files import (
    corrupt_pdf,
    docx_file,
    large_text,
    markdown_file,
    pdf_file,
    qa_csv,
    qa_xlsx,
)
from tests.gui.sources_driving import INDEXED_MS, listed_sources, settled_sources, sources_page, status_shown
from tests.gui.test_responsiveness import MAX_GAP_S, Ticks

UPLOAD_LIMIT = 2_000_000  # this module's appliance takes files up to 2 MB, so "too large" is quick to send


@pytest.fixture(scope="module")
def served(tmp_path_factory, relay):
    served = start_served(tmp_path_factory.mktemp("sources-appliance"), relay,
                          env={"CHATSPARK_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)})
    yield served
    served.running.stop()


def _original(served, workspace: str, source_id: str) -> bytes:
    status, _, body = served.running.get(f"/api/v1/workspaces/{workspace}/sources/{source_id}/original",
                                         headers={"Authorization": f"Bearer {served.token()}"})
    assert status == 200, body
    return body


def _drop(page: SourcesPage, paths) -> QDropEvent:
    """Drop the files on the page as a file manager does; the drop event, accepted or not."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    dropped = QDropEvent(QPointF(40, 40), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.NoModifier)
    dropped.ignore()
    page.dropEvent(dropped)
    return dropped


def _new_qa_source(served, workspace: str, pairs: list[tuple[str, str]], title: str = "Billing FAQ") -> dict:
    status, body = served.api("POST", f"/api/v1/workspaces/{workspace}/sources", {
        "kind": "qa", "title": title, "pairs": [{"question": q, "answer": a} for q, a in pairs]})
    assert status == 202, body
    return body["source"]


def test_dropped_markdown_pdf_and_word_files_upload_and_become_ready(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Files")["id"]
    files = [markdown_file(tmp_path), pdf_file(tmp_path), docx_file(tmp_path)]
    window = signed_in_window(qtbot, tmp_path, served)
    page = sources_page(qtbot, window, workspace)
    assert page.empty.isVisible() and page.empty.text().startswith("No training data yet. Add files")
    assert page.drop_hint.isVisible() and not page.polling

    accepted = _drop(page, files)
    qtbot.waitUntil(lambda: bool(settled_sources(served, workspace, 3)), timeout=INDEXED_MS)
    qtbot.waitUntil(lambda: not page.uploads.busy and not page.polling, timeout=WAIT_MS)

    assert accepted.isAccepted()
    sources = settled_sources(served, workspace, 3)
    assert sorted(s["filename"] for s in sources) == ["returns.md", "shipping.docx", "warranty.pdf"]
    assert all(s["status"] == "ready" and s["chunk_count"] >= 2 and s["refreshed_at"] for s in sources), sources
    rows = {u.path.name: u.row for u in page.uploads.uploads}
    assert all(row.bar.value() == row.bar.maximum() == 100 for row in rows.values())
    assert rows["warranty.pdf"].state.text() == f"Ready: {_by(sources, 'warranty.pdf')['chunk_count']} passages"
    assert page.uploads.summary.text() == "Adding 3 files: 3 ready"
    assert {s["title"]: s["status"] for s in page.sources.records()} == {s["title"]: "ready" for s in sources}
    assert not page.empty.isVisible()

    target = tmp_path / "saved" / "copy.pdf"
    target.parent.mkdir()
    select_row(page.table, lambda s: s["filename"] == "warranty.pdf")
    page.download_action()
    assert page.dialog.selectedFiles()[0].endswith("warranty.pdf")
    page.dialog.selectFile(str(target))
    page.dialog.accept()
    qtbot.waitUntil(lambda: page.banner.label.text().startswith("Saved the original"), timeout=WAIT_MS)
    assert target.read_bytes() == files[1].read_bytes()
    page.uploads.clear_finished_action()
    assert page.uploads.uploads == [] and page.uploads.isHidden()


def _by(sources: list[dict], filename: str) -> dict:
    return next(s for s in sources if s["filename"] == filename)


def test_the_window_keeps_ticking_while_a_file_uploads_with_its_progress_shown(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Ticking")["id"]
    # Broken, so that the appliance fails it at once rather than spend minutes indexing what only had to be sent.
    big = corrupt_pdf(tmp_path, "scan.pdf", padding=UPLOAD_LIMIT - 100_000)
    window = signed_in_window(qtbot, tmp_path, served)
    page = sources_page(qtbot, window, workspace)
    seen = []

    with Ticks() as ticks:
        page.add_files([big])
        upload = page.uploads.uploads[0]
        upload.row.bar.valueChanged.connect(lambda value: seen.append((upload.state, value)))
        qtbot.waitUntil(lambda: upload.source is not None, timeout=WAIT_MS)

    sending = [value for state, value in seen if state == "sending"]
    assert len(sending) >= 3 and sending == sorted(sending) and sending[-1] == 100, seen
    assert ticks.longest_gap <= MAX_GAP_S, f"the UI thread stalled for {ticks.longest_gap * 1000:.0f} ms"
    assert listed_sources(served, workspace)[0]["size_bytes"] == big.stat().st_size


def test_pasted_text_is_added_and_its_edit_is_indexed_again(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Text")["id"]
    window = signed_in_window(qtbot, tmp_path, served)
    page = sources_page(qtbot, window, workspace)

    page.paste_text_action()
    dialog = page.dialog
    dialog.submit.click()  # nothing typed: the appliance's reason lands under a field
    qtbot.waitUntil(lambda: bool(dialog.form.field_error("title") or dialog.form.field_error("text")),
                    timeout=WAIT_MS)
    dialog.title.setText("Opening hours")
    dialog.text.setPlainText("# Opening hours\n\nThe shop opens at nine and closes at six, Monday to Saturday.")
    dialog.submit.click()
    qtbot.waitUntil(lambda: bool(settled_sources(served, workspace, 1)), timeout=INDEXED_MS)
    [source] = settled_sources(served, workspace, 1)
    assert (source["kind"], source["title"], source["status"]) == ("text", "Opening hours", "ready")
    qtbot.waitUntil(lambda: [s["status"] for s in page.sources.records()] == ["ready"], timeout=WAIT_MS)

    select_row(page.table, lambda s: s["id"] == source["id"])
    page.edit_action()
    editing = open_dialog(qtbot, page, type(dialog))
    assert editing.text.toPlainText().startswith("# Opening hours") and editing.title.text() == "Opening hours"
    editing.text.setPlainText("# Opening hours\n\nOn Sundays the shop opens at ten and closes at four.")
    editing.submit.click()
    qtbot.waitUntil(lambda: b"Sundays" in _original(served, workspace, source["id"]), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: listed_sources(served, workspace)[0]["status"] == "ready", timeout=INDEXED_MS)
    qtbot.waitUntil(lambda: not page.polling, timeout=WAIT_MS)
    assert status_shown(page, "Opening hours") == "ready"

    page.reindex_action()
    qtbot.waitUntil(lambda: page.banner.label.text() == "Opening hours is being indexed again.", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: bool(settled_sources(served, workspace, 1)) and not page.polling, timeout=INDEXED_MS)
    [again] = settled_sources(served, workspace, 1)
    assert again["status"] == "ready" and again["chunk_count"] == 1 and status_shown(page, "Opening hours") == "ready"


def test_qa_pairs_imported_from_csv_and_excel_are_saved_and_a_pair_is_edited(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Pairs")["id"]
    from_csv = [("How long does shipping take?", "Five working days."), ("Do you ship abroad?", "Yes, tracked.")]
    from_excel = [("Is there a warranty?", "Two years on every lantern."), ("Can I pay later?", "Yes, in 30 days.")]
    window = signed_in_window(qtbot, tmp_path, served)
    page = sources_page(qtbot, window, workspace)

    page.new_qa_action()
    dialog = page.dialog
    dialog.title.setText("Store FAQ")
    dialog.import_action(str(qa_csv(tmp_path, from_csv)))
    qtbot.waitUntil(lambda: dialog.pairs() == from_csv, timeout=WAIT_MS)
    dialog.import_action(str(qa_xlsx(tmp_path, from_excel)))
    qtbot.waitUntil(lambda: len(dialog.pairs()) == 4, timeout=WAIT_MS)
    assert dialog.count.text() == "4 pairs" and dialog.problem.label.text().startswith("Imported 2 pairs")
    dialog.submit.click()
    qtbot.waitUntil(lambda: bool(settled_sources(served, workspace, 1)), timeout=INDEXED_MS)

    [source] = settled_sources(served, workspace, 1)
    assert (source["kind"], source["title"], source["status"]) == ("qa", "Store FAQ", "ready")
    assert [tuple(p) for p in json.loads(_original(served, workspace, source["id"]))] == from_csv + from_excel
    qtbot.waitUntil(lambda: [s["status"] for s in page.sources.records()] == ["ready"], timeout=WAIT_MS)

    select_row(page.table, lambda s: s["id"] == source["id"])
    page.edit_action()
    editing = open_dialog(qtbot, page, QaDialog)
    assert editing.pairs() == from_csv + from_excel
    editing.table.item(1, 1).setText("Yes, to 40 countries, tracked all the way.")
    editing.table.selectRow(3)
    editing.remove_rows_action()
    editing.add_row_action("Blank answer?", "")
    editing.submit.click()  # a question without its answer is caught before anything is sent
    assert editing.problem.label.text() == "Pair 4 has no answer: complete it or remove the row."
    editing.table.item(3, 1).setText("Never: every question gets one.")
    editing.submit.click()
    expected = [from_csv[0], ("Do you ship abroad?", "Yes, to 40 countries, tracked all the way."), from_excel[0],
                ("Blank answer?", "Never: every question gets one.")]
    qtbot.waitUntil(lambda: [tuple(p) for p in json.loads(_original(served, workspace, source["id"]))] == expected,
                    timeout=WAIT_MS)


def test_delete_says_what_is_removed_and_the_source_is_gone(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Delete")["id"]
    doomed = _new_qa_source(served, workspace, [("Do you deliver?", "Yes."), ("On Sundays?", "No.")])
    kept = _new_qa_source(served, workspace, [("Gift wrap?", "For two euros.")], title="Extras")
    qtbot.waitUntil(lambda: bool(settled_sources(served, workspace, 2)), timeout=INDEXED_MS)
    window = signed_in_window(qtbot, tmp_path, served)
    page = sources_page(qtbot, window, workspace)
    select_row(page.table, lambda s: s["id"] == doomed["id"])

    page.delete_action()
    said = answer_confirmation(qtbot, page)
    qtbot.waitUntil(lambda: [s["id"] for s in listed_sources(served, workspace)] == [kept["id"]], timeout=WAIT_MS)

    assert said.startswith("This removes Billing FAQ with its 2 question and answer pairs and 2 indexed passages.")
    assert "cannot be undone" in said
    qtbot.waitUntil(lambda: [s["id"] for s in page.sources.records()] == [kept["id"]], timeout=WAIT_MS)
    assert page.banner.label.text() == "Billing FAQ was deleted."


def test_a_broken_pdf_is_marked_failed_with_the_reason(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Broken")["id"]
    window = signed_in_window(qtbot, tmp_path, served)
    page = sources_page(qtbot, window, workspace)

    _drop(page, [corrupt_pdf(tmp_path)])
    qtbot.waitUntil(lambda: bool(settled_sources(served, workspace, 1)), timeout=INDEXED_MS)
    qtbot.waitUntil(lambda: not page.uploads.busy, timeout=WAIT_MS)

    [source] = settled_sources(served, workspace, 1)
    assert source["status"] == "failed" and "damaged or incomplete" in source["error"]
    assert status_shown(page, source["title"]) == f"failed: {source['error'].rstrip('.')}"
    [upload] = page.uploads.uploads
    assert upload.row.state.text() == f"Failed: {source['error']}"
    assert page.uploads.summary.text() == "Adding 1 file: 1 with a problem"


def test_a_listing_asked_before_a_file_was_added_does_not_take_its_source_for_deleted(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Listing")["id"]
    window = signed_in_window(qtbot, tmp_path, served)
    page = sources_page(qtbot, window, workspace)
    # A listing asked as the file is sent and answered after the appliance made its source: it cannot hold it.
    asked_before, listed_before = page.uploads.listing(), listed_sources(served, workspace)

    _drop(page, [markdown_file(tmp_path)])
    [upload] = page.uploads.uploads
    qtbot.waitUntil(lambda: upload.source is not None, timeout=WAIT_MS)
    page.uploads.track(listed_before, asked_before)
    assert upload.source["status"] != "failed" and not upload.row.state.text().startswith("Failed")
    qtbot.waitUntil(lambda: upload.row.state.text().startswith("Ready:"), timeout=INDEXED_MS)

    # Missing from a listing asked after it was made, a source still indexing was deleted meanwhile.
    upload.source = {**upload.source, "status": "indexing"}
    page.uploads.track(listed_before, page.uploads.listing())
    assert upload.row.state.text() == "Failed: the source was deleted"


def test_a_file_over_the_stated_limit_is_refused_before_it_is_sent_and_the_others_are_added(qtbot, tmp_path,
                                                                                          served):
    workspace = new_workspace(served, "Limit")["id"]
    huge = large_text(tmp_path, UPLOAD_LIMIT + 500_000)
    window = signed_in_window(qtbot, tmp_path, served)
    page = sources_page(qtbot, window, workspace)
    assert window.context.appliance["max_upload_bytes"] == UPLOAD_LIMIT

    _drop(page, [markdown_file(tmp_path), huge, docx_file(tmp_path)])
    uploads = {u.path.name: u for u in page.uploads.uploads}
    # Refused as it was dropped, before the event loop ran once: never read, not a byte sent.
    assert (uploads["huge.md"].state, uploads["huge.md"].sent) == ("refused", (0, 0))
    assert uploads["huge.md"].row.state.text() == (
        "Not added: huge.md is 2.4 MiB; this appliance accepts training files up to 1.9 MiB. Split it into smaller "
        "files, or ask an appliance operator to raise max_upload_bytes and max_request_body_bytes.")
    qtbot.waitUntil(lambda: bool(settled_sources(served, workspace, 2)), timeout=INDEXED_MS)
    qtbot.waitUntil(lambda: not page.uploads.busy, timeout=WAIT_MS)

    assert sorted(s["filename"] for s in listed_sources(served, workspace)) == ["returns.md", "shipping.docx"]
    assert all(s["status"] == "ready" for s in listed_sources(served, workspace))
    assert uploads["returns.md"].row.state.text().startswith("Ready:")
    assert uploads["shipping.docx"].row.state.text().startswith("Ready:")
    assert page.uploads.summary.text() == "Adding 3 files: 2 ready, 1 with a problem"


def test_an_appliance_that_states_no_limit_still_refuses_the_file_with_its_own_reason(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Older")["id"]
    window = signed_in_window(qtbot, tmp_path, served)
    me = window.context.me  # as an appliance from before max_upload_bytes answers /me
    window.context.me = {**me, "appliance": {k: v for k, v in me["appliance"].items() if k != "max_upload_bytes"}}
    page = sources_page(qtbot, window, workspace)

    _drop(page, [large_text(tmp_path, UPLOAD_LIMIT + 500_000), markdown_file(tmp_path)])
    qtbot.waitUntil(lambda: bool(settled_sources(served, workspace, 1)), timeout=INDEXED_MS)
    qtbot.waitUntil(lambda: not page.uploads.busy, timeout=WAIT_MS)

    assert [s["filename"] for s in listed_sources(served, workspace)] == ["returns.md"]
    huge, returns = page.uploads.uploads
    assert huge.sent[1] > UPLOAD_LIMIT  # this time it was sent, and the appliance said no
    assert huge.row.state.text() == "Not added: huge.md is 2.5 MB; the limit is 2 MB per file"
    assert returns.row.state.text().startswith("Ready:")


def test_the_web_page_form_says_crawling_is_off_and_the_refusal_lands_on_its_field(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Crawl")["id"]
    window = signed_in_window(qtbot, tmp_path, served)
    page = sources_page(qtbot, window, workspace)

    page.add_url_action()
    dialog = page.dialog
    assert dialog.allowed.text() == CRAWL_OFF
    dialog.url.setText("https://www.example.com/help")
    assert dialog.warning.isVisibleTo(dialog) and dialog.warning.text().startswith("Crawling is off")
    dialog.submit.click()
    qtbot.waitUntil(lambda: bool(dialog.form.field_error("url")), timeout=WAIT_MS)

    assert "no sites are allowed for crawling" in dialog.form.field_error("url").lower()
    assert not dialog.warning.isVisibleTo(dialog)  # the appliance's reason, not the panel's guess, is shown
    assert dialog.isVisible() and listed_sources(served, workspace) == []


def test_a_viewer_sees_the_sources_but_cannot_add_change_or_delete_them(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Viewer")["id"]
    source = _new_qa_source(served, workspace, [("Where are you?", "In Lyon.")])
    email, _ = join(qtbot, served, workspace, "viewer")
    window = signed_in_window(qtbot, tmp_path, served, email, PASSWORD)
    page = sources_page(qtbot, window, workspace)
    qtbot.waitUntil(lambda: page.sources.rowCount() == 1, timeout=WAIT_MS)
    select_row(page.table, lambda s: s["id"] == source["id"])

    entering = _drop(page, [markdown_file(tmp_path)])
    page.add_files([markdown_file(tmp_path, "again.md")])

    assert not entering.isAccepted() and page.uploads.uploads == []
    for button in (page.files_button, page.url_button, page.text_button, page.qa_button, page.edit_button,
                   page.reindex_button, page.delete_button):
        assert not button.isEnabled(), button.objectName()
    assert page.download_button.isEnabled()
    assert page.read_only_notice.label.text().startswith("Your role, viewer, can read the training data")
    assert [s["id"] for s in listed_sources(served, workspace)] == [source["id"]]


def test_a_cancelled_workspace_lists_its_sources_read_only(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Cancelled")["id"]
    source = _new_qa_source(served, workspace, [("Open on Mondays?", "Yes.")])
    qtbot.waitUntil(lambda: bool(settled_sources(served, workspace, 1)), timeout=INDEXED_MS)
    assert served.api("POST", f"/api/v1/workspaces/{workspace}/cancel")[0] == 200
    window = signed_in_window(qtbot, tmp_path, served)
    page = sources_page(qtbot, window, workspace)
    qtbot.waitUntil(lambda: page.sources.rowCount() == 1, timeout=WAIT_MS)
    select_row(page.table, lambda s: s["id"] == source["id"])

    dropped = _drop(page, [markdown_file(tmp_path)])

    assert not dropped.isAccepted() and page.uploads.uploads == []
    assert page.read_only_notice.label.text().startswith("This workspace is cancelled and read-only")
    assert not any(b.isEnabled() for b in (page.files_button, page.qa_button, page.edit_button, page.delete_button))
    assert page.download_button.isEnabled() and not page.drop_hint.isVisible()
