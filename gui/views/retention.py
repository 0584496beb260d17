"""Retention & requests (per workspace): the workspace's state (active, or cancelled with its purge date and how long
the cancellation can be undone; the legal hold), its retention policy per kind of data with what a change would
delete shown before it is applied, and people's requests: erasing everything about an email address, exporting it,
and the encrypted export of the whole workspace."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QSizePolicy, QVBoxLayout, QWidget

from gui.client.errors import ApiError
from gui.views.page import Page
from gui.views.retention_export import ExportDialog
from gui.views.retention_history import EMPTY as HISTORY_EMPTY
from gui.views.retention_history import RetentionHistory
from gui.views.retention_policy import PolicyForm, describe_policy
from gui.views.retention_requests import ErasureDialog, counts_text
from gui.views.retention_state import GREY, WorkspaceState
from gui.views.retention_state import label as _label
from gui.widgets.buttons import action_button
from gui.widgets.dialogs import confirm

PREVIEW_AFTER_MS = 400  # the preview is asked for once the admin pauses, not at every click of a spin box
POLICY_WIDTH, SIDE_WIDTH = 560, 420
PREVIEW_STYLE = {"deletes": "background:#fff4e5;color:#663c00;border:1px solid #ffd8a8;border-radius:4px;",
                 "nothing": "background:#e8f4fd;color:#0d3c61;border:1px solid #b6dcf7;border-radius:4px;",
                 "none": ""}

READ_ONLY = ("This workspace is cancelled and read-only: its policy is shown but cannot be changed. The legal hold, "
             "exports and erasure requests still work, and the owner can undo the cancellation.")


class RetentionPage(Page):
    title = "Retention & requests"

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        self.retention: dict | None = None
        self.preview: dict | None = None
        self.applied: dict | None = None  # the preview quoted when the policy in force was applied here
        self.erasure_dialog: ErasureDialog | None = None
        self.export_dialog: ExportDialog | None = None
        self.add_intro("How long this workspace keeps each kind of data, whether it is on legal hold or cancelled, "
                       "and the requests people make about their data: erase it, or have a copy.")
        self.add_read_only_notice(READ_ONLY)
        columns = QHBoxLayout()
        columns.setSpacing(16)
        main = QVBoxLayout()
        main.addWidget(self._policy_box())
        main.addWidget(self._history_box(), 1)
        columns.addLayout(main, 3)
        side = QWidget()
        side.setMaximumWidth(SIDE_WIDTH)
        stacked = QVBoxLayout(side)
        stacked.setContentsMargins(0, 0, 0, 0)
        self.workspace_state = WorkspaceState(self)
        stacked.addWidget(self.workspace_state)
        stacked.addWidget(self._requests_box())
        stacked.addStretch(1)
        columns.addWidget(side, 2)
        self.body.addLayout(columns, 1)
        self._previewing = QTimer(self, singleShot=True, interval=PREVIEW_AFTER_MS)
        self._previewing.timeout.connect(self.preview_action)
        self.policy.changed.connect(self._edited)
        self._update_actions()

    def _policy_box(self) -> QGroupBox:
        box = QGroupBox("Retention policy")
        box.setMinimumWidth(POLICY_WIDTH)  # room for each kind's hint on one line
        # Never squeezed below what it needs (a clipped hint): the history under it gives up the room instead.
        box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        layout = QVBoxLayout(box)
        self.current = _label("currentPolicy", style=GREY)
        layout.addWidget(self.current)
        self.policy_note = _label("policyNote", style=GREY + "font-size:11px;")
        layout.addWidget(self.policy_note)
        self.policy = PolicyForm()
        layout.addWidget(self.policy)
        self.preview_line = _label("previewSummary")
        self.preview_line.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.preview_line)
        row = QHBoxLayout()
        self.preview_button = action_button("Preview", self.preview_action, name="previewPolicy", row=row)
        self.apply_button = action_button("Apply…", self.apply_action, name="applyPolicy", row=row)
        self.revert_button = action_button("Revert", self.revert_action, name="revertPolicy", row=row)
        row.addStretch(1)
        layout.addLayout(row)
        return box

    def _history_box(self) -> QGroupBox:
        box = QGroupBox("What happened to this workspace's data")
        layout = QVBoxLayout(box)
        self.history = RetentionHistory(self.api, self.workspace_id, owner=self)
        self.history_note = _label("historyNote", style=GREY)
        layout.addWidget(self.history_note)
        layout.addWidget(self.history.table, 1)
        layout.addStretch(0)  # takes the room only while the table is hidden
        self.history.model.modelReset.connect(self._history_loaded)
        return box

    def _history_loaded(self) -> None:
        empty = self.history.model.rowCount() == 0
        self.history_note.setText(HISTORY_EMPTY if empty else "Newest first, from the workspace's audit trail.")
        self.history.table.setVisible(not empty)

    def _requests_box(self) -> QGroupBox:
        box = QGroupBox("People's requests and exports")
        layout = QVBoxLayout(box)
        note = _label("requestsNote", style=GREY)
        note.setText("A person may ask what you hold about them, or that it be erased: both cover every workspace "
                     "you own or administer. Exports are encrypted to a passphrase you choose.")
        layout.addWidget(note)
        for text, action, name in (("Erase a person's data…", self.erase_action, "eraseRequest"),
                                   ("Export a person's data…", self.subject_export_action, "subjectExport"),
                                   ("Export this workspace…", self.workspace_export_action, "workspaceExport")):
            row = QHBoxLayout()
            setattr(self, f"{name}_button", action_button(text, action, name=name, row=row))
            row.addStretch(1)
            layout.addLayout(row)
        return box

    # --- what the caller may do -----------------------------------------------------------------------------------

    def may(self, permission: str) -> bool:
        """Whether the role allows it here; only the legal hold, exports and undoing stay open while cancelled."""
        open_while_cancelled = permission in ("retention.hold", "workspace.export", "workspace.cancel")
        return (open_while_cancelled or not self.read_only) and self.context.may(self.workspace_id, permission)

    def _update_actions(self) -> None:
        loaded = self.retention is not None
        manage = loaded and self.may("retention.manage")
        changed = loaded and self.policy.policy() != self.retention["policy"]
        self.policy.set_editable(manage)
        self.preview_button.setEnabled(manage)
        self.apply_button.setEnabled(manage and changed)
        self.revert_button.setEnabled(manage and changed)
        self.workspace_state.show_state(self.retention)
        export = self.context.may(self.workspace_id, "workspace.export")
        self.workspaceExport_button.setEnabled(export)
        self.subjectExport_button.setEnabled(export)
        self.eraseRequest_button.setEnabled(export)  # erasure covers the workspaces the caller administers
        self.policy_note.setVisible(loaded and not self.may("retention.manage"))
        self.policy_note.setText("The policy is shown read-only: the workspace is cancelled." if self.read_only else
                                 f"Your role, {self.role}, cannot change the policy.")

    def refused(self, error: ApiError) -> None:
        self.show_error(error)
        if error.status in (403, 409):
            # The role or the workspace's state changed meanwhile: the window reads /me again and refreshes this
            # page, whose controls then follow; that refresh keeps this explanation on screen.
            self.reload_keeping_message()

    # --- loading ----------------------------------------------------------------------------------------------

    def refresh_action(self) -> None:
        self.clear_message_unless_kept()
        self.update_read_only_notice()
        self.api.get(f"/api/v1/workspaces/{self.workspace_id}/retention", on_done=self._loaded,
                     on_error=lambda e: (self.show_error(e), self._update_actions()))
        self._load_history()

    def _load_history(self) -> None:
        if not self.context.may(self.workspace_id, "audit.read"):
            self.history_note.setText(f"Your role, {self.role}, cannot read the workspace's audit trail.")
            self.history.table.hide()
            return
        self.api.get(f"/api/v1/workspaces/{self.workspace_id}/members?limit=500", on_done=self._got_members,
                     on_error=lambda e: None)  # without names the history shows ids; it still loads
        self.history.load(on_error=lambda e: self.history_note.setText(
            f"The history could not be read: {e.explain(role=self.role)}"))

    def _got_members(self, answer: dict) -> None:
        self.history.names = {m["user_id"]: m["display_name"] or m["email"] for m in answer["members"]}
        self.history.model.layoutChanged.emit()

    def _loaded(self, retention: dict) -> None:
        self.retention = retention
        self.policy.show_policy(retention["policy"])
        first = " Tick Delete after for a kind to set a limit." if self.may("retention.manage") else ""
        self.current.setText(f"In force: {describe_policy(retention['policy'])}"
                             + (first if all(retention["policy"].get(name) is None for name in self.policy.kinds)
                                else ""))
        self.preview = None
        self.preview_line.setStyleSheet(PREVIEW_STYLE["none"])
        self.preview_line.setText("Change a kind's days to see what the change would delete before you apply it."
                                  if self.may("retention.manage") else "")
        self._update_actions()

    # --- the policy ---------------------------------------------------------------------------------------------

    def _edited(self) -> None:
        self.preview = None
        self._update_actions()
        if self.policy.editable and self.retention is not None:
            self.preview_line.setStyleSheet(PREVIEW_STYLE["none"])
            self.preview_line.setText("Counting what this policy would delete…")
            self._previewing.start()

    def preview_action(self, then=None) -> None:
        """Ask the appliance what the policy in the form would delete now, and show its sentence."""
        self._previewing.stop()
        proposed = self.policy.policy()
        self.api.post(f"/api/v1/workspaces/{self.workspace_id}/retention/preview", {"policy": proposed},
                      on_done=lambda answer: self._previewed(proposed, answer, then), on_error=self._not_previewed)

    def _previewed(self, proposed: dict, answer: dict, then) -> None:
        if proposed != self.policy.policy():
            return  # the form changed meanwhile; its own preview is on its way
        self.preview = answer
        self.policy.clear_errors()
        self.preview_line.setText(f"If applied now: {answer['summary']}")
        deletes = any(answer["would_delete"].values())
        self.preview_line.setStyleSheet(PREVIEW_STYLE["deletes" if deletes else "nothing"])
        if then is not None:
            then(answer)

    def _not_previewed(self, error: ApiError) -> None:
        self.preview_line.setStyleSheet(PREVIEW_STYLE["none"])
        self.preview_line.setText("")
        self.policy.show_error(error, role=self.role)

    def apply_action(self) -> None:
        """Preview the form's policy afresh, then confirm, quoting what it deletes, then apply it."""
        self.preview_action(then=self._confirm_apply)

    def _confirm_apply(self, preview: dict) -> None:
        deletes = any(preview["would_delete"].values())
        confirm(self, "Apply this retention policy?",
                f"{preview['summary']} {describe_policy(preview['policy'])} The retention sweep deletes what is due "
                "at its next run, and from then on whatever becomes due. Deleted data cannot be brought back.",
                "Apply policy", lambda: self._apply(preview), destructive=deletes)

    def _apply(self, preview: dict) -> None:
        self.api.put(f"/api/v1/workspaces/{self.workspace_id}/retention", {"policy": preview["policy"]},
                     on_done=lambda answer: self._applied(preview), on_error=self.refused)

    def _applied(self, preview: dict) -> None:
        self.applied = preview
        summary = preview["summary"].replace("will be deleted", "will be deleted at the next retention sweep")
        self.show_notice(f"The retention policy is applied. {summary}")
        self.refresh_keeping_message()

    def revert_action(self) -> None:
        if self.retention is not None:
            self._loaded(self.retention)

    # --- requests and exports -----------------------------------------------------------------------------------

    def erase_action(self) -> None:
        self.erasure_dialog = ErasureDialog(self)
        self.erasure_dialog.erased.connect(self._erased)
        self.erasure_dialog.open()

    def _erased(self, receipt: dict) -> None:
        self.show_notice(f"Erasure {receipt['erasure_id']} done: {counts_text(receipt['deleted'])} erased. Keep its "
                         "receipt (Save receipt… in the dialog): it is the record that the request was met.")

    def subject_export_action(self) -> None:
        self._export(subject=True)

    def workspace_export_action(self) -> None:
        self._export(subject=False)

    def _export(self, *, subject: bool) -> None:
        self.export_dialog = ExportDialog(self, subject=subject)
        self.export_dialog.exported.connect(
            lambda path: self.show_notice(f"The encrypted export was saved to {path}. Open it with "
                                          "chatspark export decrypt, giving its passphrase."))
        self.export_dialog.open()
