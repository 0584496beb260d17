"""Files being added to the training data: each file read off the UI thread, sent as multipart/form-data with a
progress bar, then followed through indexing (queued, indexing with how far it got, ready or failed) until the
appliance is done with it. Files go one at a time, in the order they were given; one refused (too large, unreadable)
is marked with the reason and the others go on. A file over the limit the appliance states (/me's max_upload_bytes) is
refused before any of it is sent; with an appliance too old to state it, the appliance's own refusal is shown."""

from __future__ import annotations

import mimetypes
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from gui.client.errors import ApiError
from gui.context import PanelContext
from gui.widgets.buttons import action_button
from gui.widgets.formatting import size

BIG = 4 * 1024 * 1024  # a body this large may meet the appliance's size limit
ERROR, DONE, MUTED = "color:#b3261e;", "color:#1e6b34;", "color:#5f6b7a;"


def multipart(path: Path) -> tuple[bytes, str]:
    """The upload's body (the file in a field named "file") and its Content-Type; read on a worker thread."""
    data = path.read_bytes()
    boundary = uuid.uuid4().hex
    # The name is the uploader's: quotes and line breaks would end the header early.
    name = path.name.replace('"', "%22").replace("\r", "").replace("\n", "")
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: {kind}\r\n\r\n").encode("utf-8")
    return head + data + f"\r\n--{boundary}--\r\n".encode("ascii"), f"multipart/form-data; boundary={boundary}"


def _megabytes(count: int) -> str:
    """A limit as an operator sets it: 25 MiB, not 25.0 MiB."""
    return size(count).replace(".0 ", " ")


def too_large(name: str, found: int, limit: int) -> str:
    """Why a file is not sent: its size against the appliance's limit, in words that never read as equal."""
    shown, most = size(found), _megabytes(limit)
    if _megabytes(found) == most:  # 25.04 MiB against 25 MiB: rounded, both would read "25"
        shown, most = f"{found:,} bytes", f"{limit:,} bytes"
    return (f"{name} is {shown}; this appliance accepts training files up to {most}. Split it into smaller files, "
            "or ask an appliance operator to raise max_upload_bytes and max_request_body_bytes.")


def _refusal(error: ApiError, name: str, sent: int) -> str:
    """Why the appliance did not take a file. One over the appliance's request limit is answered (413) and the
    connection closed before the body is sent, which a client still sending sees as a broken connection."""
    if error.code == "unreachable" and sent > BIG:
        return (f"the appliance closed the connection while this {size(sent)} file was being sent, most likely "
                "because it is larger than the appliance accepts (25 MiB a file, unless an operator changed "
                "max_upload_bytes and max_request_body_bytes). Split it into smaller files, or ask an operator to "
                "raise the limit.")
    # "guide.PDF is 30 MB; ...": a file's name is shown as it is spelled, never capitalised.
    return error.message if error.message.startswith(name) else error.explain()


@dataclass(eq=False)
class Upload:
    """One file of the queue and how far it got: waiting, reading, sending, then its source's status."""

    path: Path
    state: str = "waiting"        # waiting, reading, sending, added (a source now follows), refused
    reason: str = ""
    source: dict | None = None
    sent: tuple[int, int] = (0, 0)
    row: UploadRow | None = field(default=None, repr=False)
    listed_from: int = 0          # the first listing of the workspace's sources asked after its source was made

    @property
    def finished(self) -> bool:
        return self.state == "refused" or (self.source is not None and self.source["status"] in ("ready", "failed"))


class UploadRow(QFrame):
    """A file's line in the queue: its name and size, a progress bar, and what is happening to it in words."""

    def __init__(self, upload: Upload) -> None:
        super().__init__()
        self.setObjectName("uploadRow")
        grid = QGridLayout(self)
        grid.setContentsMargins(8, 4, 8, 4)
        self.name = QLabel(upload.path.name)
        self.name.setToolTip(str(upload.path))
        self.name.setMinimumWidth(220)
        grid.addWidget(self.name, 0, 0)
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.bar.setMaximumWidth(260)
        grid.addWidget(self.bar, 0, 1)
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid.addWidget(self.state, 0, 2)
        grid.setColumnStretch(2, 1)

    def show_state(self, upload: Upload) -> None:
        source = upload.source
        if upload.state == "refused":
            self._set(0, 100, 0, "not added", f"Not added: {upload.reason}", ERROR)
        elif source is not None:
            self._show_source(source)
        elif upload.state == "sending":
            sent, total = upload.sent
            percent = 100 * sent // total if total else 0
            self._set(0, 100, percent, "sending %p%", f"Uploading: {size(sent)} of {size(total)}", "")
        else:
            self._set(0, 100, 0, upload.state, "Reading the file…" if upload.state == "reading" else
                      "Waiting for the files before it", MUTED)

    def _show_source(self, source: dict) -> None:
        status = source["status"]
        if status == "ready":
            self._set(0, 100, 100, "ready", f"Ready: {source['chunk_count']} passages", DONE)
        elif status == "failed":
            self._set(0, 100, 0, "failed", f"Failed: {source.get('error') or 'no reason was given'}", ERROR)
        elif status == "indexing" and source.get("progress") and source["progress"].get("total"):
            progress = source["progress"]
            self._set(0, progress["total"], progress["done"], "indexing %p%",
                      f"Indexing: {progress['done']} of {progress['total']} passages embedded", "")
        else:
            # Queued or just started: how long it will take is not known yet, so the bar only says it is working.
            self._set(0, 0, 0, status, "Uploaded; waiting to be indexed" if status == "queued" else "Indexing", "")

    def _set(self, low: int, high: int, value: int, bar_text: str, text: str, style: str) -> None:
        self.bar.setRange(low, high)
        self.bar.setValue(value)
        self.bar.setFormat(bar_text)
        self.state.setText(text)
        self.state.setStyleSheet(style)


class UploadQueue(QWidget):
    """The files the admin dropped or picked, sent one after another. `added(source)` says a source was made."""

    added = Signal(dict)

    def __init__(self, context: PanelContext, workspace_id: str) -> None:
        super().__init__()
        self.setObjectName("uploadQueue")
        self._context, self._workspace_id = context, workspace_id
        self._api, self._background = context.api, context.background
        self.uploads: list[Upload] = []
        self._current: Upload | None = None
        self._listings = 0
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        header = QHBoxLayout()
        self.summary = QLabel()
        self.summary.setStyleSheet("font-weight:600;")
        header.addWidget(self.summary, 1)
        self.clear_button = action_button("Clear finished", self.clear_finished_action, name="clearUploads",
                                          row=header)
        outer.addLayout(header)
        holder = QWidget()
        self._rows = QVBoxLayout(holder)
        self._rows.setContentsMargins(0, 0, 0, 0)
        self._rows.setSpacing(2)
        self._rows.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(holder)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.StyledPanel)
        scroll.setMaximumHeight(150)
        outer.addWidget(scroll)
        self.hide()

    @property
    def busy(self) -> bool:
        """Whether a file is still waiting, being sent, or being indexed."""
        return any(not upload.finished for upload in self.uploads)

    def add(self, paths: list[Path]) -> None:
        for path in paths:
            upload = Upload(path)
            upload.row = UploadRow(upload)
            self._rows.insertWidget(self._rows.count() - 1, upload.row)
            self.uploads.append(upload)
            reason = self._over_limit(path)
            if reason:
                upload.state, upload.reason = "refused", reason
            self._show(upload)
        self.show()
        self._next()

    def listing(self) -> int:
        """Called as the workspace's sources are asked for; what it returns goes to `track` with the answer."""
        self._listings += 1
        return self._listings

    def track(self, sources: list[dict], listing: int) -> None:
        """The workspace's sources as listed: the rows of uploaded files follow their source's status. A source
        missing from a listing asked before it was made is only not listed yet; missing from a later one, it was
        deleted."""
        by_id = {source["id"]: source for source in sources}
        for upload in self.uploads:
            if upload.source is None or upload.finished:
                continue
            if upload.source["id"] in by_id:
                upload.source = by_id[upload.source["id"]]
            elif listing >= upload.listed_from:
                upload.source = {**upload.source, "status": "failed", "error": "the source was deleted"}
            self._show(upload)

    def clear_finished_action(self) -> None:
        for upload in [u for u in self.uploads if u.finished]:
            self.uploads.remove(upload)
            upload.row.deleteLater()
        self._summarise()
        self.setVisible(bool(self.uploads))

    def _over_limit(self, path: Path) -> str:
        """Why the file is refused before it is read, if the appliance said how large a file may be and it is
        larger; a file that cannot even be looked at is left to the reading, which says why."""
        limit = self._context.appliance.get("max_upload_bytes")
        try:
            found = path.stat().st_size
        except OSError:
            return ""
        return too_large(path.name, found, limit) if limit is not None and found > limit else ""

    def _next(self) -> None:
        if self._current is not None:
            return
        upload = next((u for u in self.uploads if u.state == "waiting"), None)
        if upload is None:
            return
        self._current = upload
        upload.state = "reading"
        self._show(upload)
        self._background.run(lambda: multipart(upload.path), on_done=lambda body: self._send(upload, *body),
                             on_error=lambda exc: self._refuse(upload, f"the file cannot be read: {exc}"))

    def _send(self, upload: Upload, body: bytes, content_type: str) -> None:
        upload.state, upload.sent = "sending", (0, len(body))
        self._show(upload)

        def moved(sent: int, total: int) -> None:
            upload.sent = (sent, total)
            self._show(upload)

        self._api.post(f"/api/v1/workspaces/{self._workspace_id}/sources/upload", raw=body,
                       content_type=content_type, on_progress=moved, timeout=300,
                       on_done=lambda answer: self._sent(upload, answer["source"]),
                       on_error=lambda error: self._refuse(upload, _refusal(error, upload.path.name, len(body))))

    def _sent(self, upload: Upload, source: dict) -> None:
        upload.state, upload.source, upload.listed_from = "added", source, self._listings + 1
        self._done_with(upload)
        self.added.emit(source)

    def _refuse(self, upload: Upload, reason: str) -> None:
        upload.state, upload.reason = "refused", reason
        self._done_with(upload)

    def _done_with(self, upload: Upload) -> None:
        self._current = None
        self._show(upload)
        self._next()

    def _show(self, upload: Upload) -> None:
        upload.row.show_state(upload)
        self._summarise()

    def _summarise(self) -> None:
        ready = sum(1 for u in self.uploads if u.source is not None and u.source["status"] == "ready")
        problems = sum(1 for u in self.uploads if u.state == "refused" or
                       (u.source is not None and u.source["status"] == "failed"))
        working = len(self.uploads) - ready - problems
        parts = [f"{working} in progress"] if working else []
        parts += [f"{ready} ready"] if ready else []
        parts += [f"{problems} with a problem"] if problems else []
        self.summary.setText(f"Adding {len(self.uploads)} file{'s' if len(self.uploads) != 1 else ''}: "
                             + ", ".join(parts) if self.uploads else "")
        self.clear_button.setEnabled(any(u.finished for u in self.uploads))
