"""Training data (per workspace): every source the agents answer from, with its live status (polled while any is
queued or indexing), size, passages and last refresh; files added by drag and drop or a file dialog, each with its
upload and indexing progress; a web page or sitemap, pasted text, and Q&A pairs (typed or imported from CSV or
Excel); editing text and Q&A sources, indexing one again, downloading its original, and deleting it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QHeaderView, QLabel

from gui.client.errors import ApiError
from gui.views.page import Page
from gui.views.source_dialogs import TextDialog, UrlDialog
from gui.views.source_qa import QaDialog, pairs_of
from gui.views.source_table import KINDS, STATUS_COLUMN, is_busy, sources_model, status_text
from gui.views.source_uploads import UploadQueue
from gui.widgets.banner import Banner
from gui.widgets.buttons import action_button
from gui.widgets.dialogs import confirm
from gui.widgets.formatting import size, when
from gui.widgets.tables import records_table, select_record, selected_record

POLL_MS = 1500  # how often the list is asked again while a source is queued or indexing
FILE_TYPES = "Training files (*.pdf *.docx *.md *.txt *.html *.htm *.csv *.xlsx);;All files (*)"
DROP_HINT = ("Drop PDF, Word (.docx), Markdown, text, HTML, CSV or Excel files anywhere on this page to add them; "
             "each is indexed on the appliance, and the agents answer from it once it is ready.")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _original_name(source: dict) -> str:
    """The name the download proposes: the uploaded file's, or the title with what the original holds."""
    return source.get("filename") or f"{source['title']}.{'json' if source['kind'] == 'qa' else 'md'}"


class SourcesPage(Page):
    title = "Training data"

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        self.dialog = None            # the form or file dialog open over the page, for the tests to answer
        self._loading = self._again = False
        self._wanted: str | None = None  # the source to select once the list shows it (one just added)
        self.add_intro("What this workspace's agents know: files, web pages, pasted text and question and answer "
                       "pairs. Each is split into passages the agents quote from when they answer.")
        self.read_only_notice = Banner(self)
        self.body.addWidget(self.read_only_notice)
        adding = QHBoxLayout()
        self.files_button = action_button("Add files…", lambda: self.add_files_action(), name="addFiles",
                                          row=adding)
        self.url_button = action_button("Add web page…", self.add_url_action, name="addUrl", row=adding)
        self.text_button = action_button("Paste text…", self.paste_text_action, name="pasteText", row=adding)
        self.qa_button = action_button("New Q&&A pairs…", self.new_qa_action, name="newQa", row=adding)
        adding.addStretch(1)
        self.body.addLayout(adding)
        self.drop_hint = QLabel(DROP_HINT)
        self.drop_hint.setObjectName("dropHint")
        self.drop_hint.setWordWrap(True)
        self.drop_hint.setStyleSheet("color:#5f6b7a;border:1px dashed #9aa5b1;border-radius:4px;padding:8px;")
        self.body.addWidget(self.drop_hint)
        self.empty = QLabel()
        self.empty.setObjectName("emptyState")
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color:#5f6b7a;")
        self.body.addWidget(self.empty)
        self.sources = sources_model(self)
        self.table = records_table(self.sources, name="sourcesTable", stretch=STATUS_COLUMN,
                                   widths={0: 280, 1: 90, 3: 80, 4: 75, 5: 100, 6: 95},
                                   sort=(6, Qt.SortOrder.DescendingOrder), owner=self)
        # A failed source's reason is what the admin acts on: rows grow to show all of it, never cut short.
        self.table.setWordWrap(True)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.body.addWidget(self.table, 1)
        selected = QHBoxLayout()
        self.edit_button = action_button("Edit…", self.edit_action, name="editSource", row=selected)
        self.reindex_button = action_button("Index again", self.reindex_action, name="reindexSource", row=selected)
        self.download_button = action_button("Download original…", lambda: self.download_action(),
                                             name="downloadSource", row=selected)
        self.delete_button = action_button("Delete…", self.delete_action, name="deleteSource", row=selected)
        selected.addStretch(1)
        self.body.addLayout(selected)
        self.details = QLabel()
        self.details.setObjectName("sourceDetails")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body.addWidget(self.details)
        self.uploads = UploadQueue(context, self.workspace_id)
        self.uploads.added.connect(lambda _source: self._load())
        self.body.addWidget(self.uploads)
        self.body.addStretch(0)  # takes the room only while the table is hidden
        self._poll = QTimer(self)
        self._poll.setSingleShot(True)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._load)
        self.setAcceptDrops(True)
        self._update_buttons()

    # --- what the caller may do -------------------------------------------------------------------------------

    def may_change(self) -> bool:
        return not self.read_only and self.context.may(self.workspace_id, "sources.write")

    def _why_not(self) -> str:
        if self.read_only:
            return ("This workspace is cancelled and read-only: its training data is listed, but nothing can be "
                    "added, changed or deleted until the owner undoes the cancellation (Workspaces).")
        return (f"Your role, {self.role}, can read the training data and download originals; editors, admins and "
                "owners add, change and delete sources.")

    # --- loading and polling ----------------------------------------------------------------------------------

    def refresh_action(self) -> None:
        self.clear_message()
        if self.may_change():
            self.read_only_notice.hide()
        else:
            self.read_only_notice.show_message(self._why_not(), kind="warning")
        self._update_buttons()
        self._load()

    def _load(self) -> None:
        if self._loading:
            self._again = True
            return
        self._loading = True
        self._poll.stop()
        listing = self.uploads.listing()
        self.api.get_all(f"/api/v1/workspaces/{self.workspace_id}/sources", "sources",
                         on_done=lambda records: self._got(records, listing), on_error=self._not_got)

    def _got(self, records: list[dict], listing: int) -> None:
        self._loading = False
        chosen = self.selected_source()
        self.sources.set_records(records)
        if self._wanted and select_record(self.table, self._wanted):
            self._wanted = None
        elif chosen is not None:
            select_record(self.table, chosen["id"])
        self.uploads.track(records, listing)
        if records:
            self.empty.hide()
        else:
            self.empty.setText("No training data yet. Add files (or drop them here), a web page, pasted text or "
                               "question and answer pairs with the buttons above." if self.may_change() else
                               "No training data yet: an editor, admin or owner of this workspace adds it.")
            self.empty.show()
        self.table.setVisible(bool(records))
        self._selection_changed()
        self._keep_polling()

    def _not_got(self, error: ApiError) -> None:
        self._loading = False
        self.show_error(error)
        if error.status == 0:  # the network, not a refusal: the next poll may get through
            self._keep_polling()

    def _keep_polling(self) -> None:
        if self._again:
            self._again = False
            self._load()
        elif self.polling_needed() and not self.isHidden():
            self._poll.start()

    def polling_needed(self) -> bool:
        """Whether a source is queued or indexing, or a file is still on its way: the list is asked again soon."""
        return self.uploads.busy or any(is_busy(s) for s in self.sources.records())

    @property
    def polling(self) -> bool:
        return self._poll.isActive() or self._loading

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.polling_needed() and not self.polling:
            self._load()

    # --- the selected source ----------------------------------------------------------------------------------

    def selected_source(self) -> dict | None:
        return selected_record(self.table)

    def _selection_changed(self) -> None:
        source = self.selected_source()
        if source is None:
            self.details.setText("Select a source to see where it came from and to edit, index again, download or "
                                 "delete it." if self.sources.rowCount() else "")
        else:
            origin = source.get("filename") or source.get("url") or "typed in the panel or sent through the API"
            refreshed = when(source["refreshed_at"]) or "not yet"
            self.details.setText(
                f"<b>{source['title']}</b> ({KINDS.get(source['kind'], source['kind'])}, from {origin}): "
                f"{status_text(source)}. {size(source['size_bytes'])}, {_plural(source['chunk_count'], 'passage')};"
                f" added {when(source['created_at'])}, last indexed {refreshed}.")
        self._update_buttons()

    def _update_buttons(self) -> None:
        change = self.may_change()
        source = self.selected_source()
        for button in (self.files_button, self.url_button, self.text_button, self.qa_button):
            button.setEnabled(change)
        self.drop_hint.setVisible(change)
        self.edit_button.setEnabled(change and source is not None and source["kind"] in ("text", "qa"))
        self.edit_button.setToolTip("Pasted text and Q&A pairs can be edited; upload a changed file as a new source."
                                    if source is not None and source["kind"] not in ("text", "qa") else "")
        self.reindex_button.setEnabled(change and source is not None and not is_busy(source))
        self.download_button.setEnabled(source is not None and source["kind"] not in ("url", "sitemap"))
        self.delete_button.setEnabled(change and source is not None)

    # --- adding -----------------------------------------------------------------------------------------------

    def accepts_drop(self, mime) -> bool:
        """Whether a drag carries files this page takes: local files, dragged by someone who may add sources."""
        return self.may_change() and bool(self._dropped_files(mime))

    def dragEnterEvent(self, event) -> None:
        if self.accepts_drop(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        if not self.accepts_drop(event.mimeData()):
            event.ignore()
            return
        event.acceptProposedAction()
        self.add_files(self._dropped_files(event.mimeData()))

    @staticmethod
    def _dropped_files(mime) -> list[Path]:
        return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile() and
                Path(url.toLocalFile()).is_file()] if mime.hasUrls() else []

    def add_files(self, paths: list[Path]) -> None:
        """Queue files for upload (the drop handler and the file dialog both end here)."""
        if paths and self.may_change():
            self.uploads.add([Path(p) for p in paths])

    def add_files_action(self, paths: list[str] | None = None) -> None:
        if paths is None:
            dialog = QFileDialog(self, "Add training files")
            dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
            dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
            dialog.setNameFilter(FILE_TYPES)
            dialog.filesSelected.connect(self.add_files_action)
            self.dialog = dialog
            dialog.open()
            return
        self.add_files([Path(p) for p in paths])

    def _open_form(self, dialog) -> None:
        dialog.saved.connect(self._added)
        self.dialog = dialog
        dialog.open()

    def add_url_action(self) -> None:
        self._open_form(UrlDialog(self))

    def paste_text_action(self) -> None:
        self._open_form(TextDialog(self))

    def new_qa_action(self) -> None:
        self._open_form(QaDialog(self))

    def _added(self, source: dict) -> None:
        self.show_notice(f"{source['title']} saved; it is being indexed, and its status below shows when it is "
                         "ready.")
        self._wanted = source["id"]
        self._load()

    # --- acting on the selected source ------------------------------------------------------------------------

    def _original(self, source: dict, then) -> None:
        self.api.get(f"/api/v1/workspaces/{self.workspace_id}/sources/{source['id']}/original",
                     accept="application/octet-stream", on_done=then, on_error=self.show_error)

    def edit_action(self) -> None:
        source = self.selected_source()
        if source is None or source["kind"] not in ("text", "qa"):
            return
        if source["kind"] == "text":
            self._original(source, lambda data: self._open_form(
                TextDialog(self, source=source, text=(data or b"").decode("utf-8"))))
        else:
            self._original(source, lambda data: self._open_form(QaDialog(self, source=source, pairs=pairs_of(data))))

    def reindex_action(self) -> None:
        source = self.selected_source()
        if source is None:
            return
        self.api.post(f"/api/v1/workspaces/{self.workspace_id}/sources/{source['id']}/refresh",
                      on_done=lambda answer: (self.show_notice(f"{source['title']} is being indexed again."),
                                              self._load()), on_error=self.show_error)

    def download_action(self, path: str | None = None) -> None:
        source = self.selected_source()
        if source is None:
            return
        if path is None:
            dialog = QFileDialog(self, f"Save the original of {source['title']}")
            dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
            dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
            dialog.selectFile(_original_name(source))
            dialog.fileSelected.connect(self.download_action)
            self.dialog = dialog
            dialog.open()
            return
        target = Path(path)
        self._original(source, lambda data: self.context.background.run(
            lambda: target.write_bytes(data or b""),
            on_done=lambda written: self.show_notice(f"Saved the original of {source['title']} ({size(written)}) "
                                                     f"to {target}."),
            on_error=lambda exc: self.banner.show_message(f"The original could not be written to {target}: {exc}",
                                                          kind="error")))

    def delete_action(self) -> None:
        source = self.selected_source()
        if source is None:
            return
        if source["kind"] == "qa":
            self._original(source, lambda data: self._confirm_delete(source, pairs=len(pairs_of(data))))
        else:
            self._confirm_delete(source)

    def _confirm_delete(self, source: dict, *, pairs: int | None = None) -> None:
        held = [_plural(pairs, "question and answer pair")] if pairs is not None else []
        crawled = f" crawled from {source['url']}" if source["kind"] in ("url", "sitemap") else ""
        held.append(_plural(source["chunk_count"], "indexed passage") + crawled)
        if source["kind"] == "file":
            held.append(f"the uploaded file {source['filename']}")
        listed = held[0] if len(held) == 1 else f"{', '.join(held[:-1])} and {held[-1]}"
        self.dialog = confirm(
            self, f"Delete {source['title']}?",
            f"This removes {source['title']} with its {listed}. The agents stop answering from it at once. This "
            "cannot be undone.", "Delete",
            lambda: self.api.delete(f"/api/v1/workspaces/{self.workspace_id}/sources/{source['id']}",
                                    on_done=lambda _: (self.show_notice(f"{source['title']} was deleted."),
                                                       self._load()), on_error=self.show_error),
            destructive=True)
