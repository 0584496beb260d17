"""Agents (per workspace): the list of the workspace's agents, and the selected one's settings, which Save sends as
only what changed; its embed snippet to copy onto a site, its preview in the browser, and deleting it."""

from __future__ import annotations

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui.client.errors import ApiError
from gui.models.table import Column, RecordsModel
from gui.views.agent_dialogs import NewAgentDialog
from gui.views.agent_form import AgentForm, on_its_field
from gui.views.page import Page
from gui.widgets.buttons import action_button
from gui.widgets.dialogs import confirm
from gui.widgets.formatting import day, when
from gui.widgets.tables import records_table, select_record, selected_record

LEAD_CAPTURE = {"off": "off", "on_fallback": "on fallback", "always": "always"}
MUTED = "color:#5f6b7a;"

READ_ONLY = ("This workspace is cancelled and read-only: its agents can be read, but not made, changed or deleted "
             "until the owner undoes the cancellation (Workspaces).")


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("font-size:14px;font-weight:600;margin-top:10px;")
    return label


class AgentsPage(Page):
    title = "Agents"

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        self.create_dialog: NewAgentDialog | None = None
        self._wanted: str | None = None  # the agent to select once the list has loaded
        self._reverting = False
        self.add_intro("Each agent answers visitors from this workspace's training data through its chat widget. "
                       "Pick one to change how it answers, which sites may show it, and what it asks of leads.")
        self.add_read_only_notice(READ_ONLY)

        self.agents = RecordsModel([
            Column("name", "Name"),
            Column("lead_capture", "Leads", show=lambda a: LEAD_CAPTURE.get(a["lead_capture"], a["lead_capture"])),
            Column("updated_at", "Changed", show=lambda a: day(a["updated_at"]), sort=lambda a: a["updated_at"]),
        ], loader=self._load_agents)
        self.table = records_table(self.agents, name="agentsTable", stretch=0, sort=(0, Qt.SortOrder.AscendingOrder),
                                   owner=self, ignore_case=True)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 8, 0)
        actions = QHBoxLayout()
        self.new_button = action_button("New agent…", self.new_agent_action, name="newAgent", row=actions)
        actions.addStretch(1)
        column.addLayout(actions)
        self.empty = QLabel()
        self.empty.setObjectName("emptyState")
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet(MUTED)
        column.addWidget(self.empty)
        column.addWidget(self.table, 1)

        self.editor = QWidget()
        pane = QVBoxLayout(self.editor)
        pane.setContentsMargins(8, 0, 0, 0)
        self.agent_heading = QLabel()
        self.agent_heading.setObjectName("agentHeading")
        self.agent_heading.setStyleSheet("font-size:16px;font-weight:600;")
        pane.addWidget(self.agent_heading)
        self.agent_facts = QLabel()
        self.agent_facts.setStyleSheet(MUTED)
        self.agent_facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        pane.addWidget(self.agent_facts)
        inner = QWidget()
        inside = QVBoxLayout(inner)
        inside.setContentsMargins(0, 0, 12, 0)
        inside.addWidget(_heading("Embed"))
        snippet_note = QLabel("Paste this line into the pages of an allowed origin, before </body>. Preview shows "
                              "the widget on the appliance's own page, in your browser (sign in there if asked).")
        snippet_note.setWordWrap(True)
        snippet_note.setStyleSheet(MUTED)
        inside.addWidget(snippet_note)
        self.snippet = QPlainTextEdit()
        self.snippet.setObjectName("embedSnippet")
        self.snippet.setReadOnly(True)
        self.snippet.setFixedHeight(52)
        self.snippet.setStyleSheet("font-family:monospace;")
        inside.addWidget(self.snippet)
        embed_actions = QHBoxLayout()
        self.copy_button = action_button("Copy snippet", self.copy_snippet_action, name="copySnippet",
                                         row=embed_actions)
        self.preview_button = action_button("Preview", self.preview_action, name="previewAgent", row=embed_actions)
        self.copied = QLabel()
        self.copied.setStyleSheet("color:#1e6b34;")
        embed_actions.addWidget(self.copied)
        embed_actions.addStretch(1)
        inside.addLayout(embed_actions)
        self.form = AgentForm()
        self.form.edited.connect(self._update_buttons)
        inside.addWidget(self.form)
        inside.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setObjectName("agentSettings")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the form wraps instead
        self.scroll.setWidget(inner)
        pane.addWidget(self.scroll, 1)
        save_row = QHBoxLayout()
        self.unsaved = QLabel()
        self.unsaved.setStyleSheet("color:#663c00;")
        save_row.addWidget(self.unsaved)
        save_row.addStretch(1)
        self.delete_button = action_button("Delete agent…", self.delete_action, name="deleteAgent", row=save_row)
        self.delete_button.setStyleSheet("QPushButton:enabled{color:#b3261e;}")
        self.discard_button = action_button("Discard changes", self.discard_action, name="discardAgent",
                                            row=save_row)
        self.save_button = action_button("Save", self.save_action, name="saveAgent", row=save_row)
        self.save_button.setToolTip("Send the changed settings (Ctrl+S)")
        QShortcut(QKeySequence.StandardKey.Save, self, self.save_action)
        pane.addLayout(save_row)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.editor)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([320, 900])
        self.splitter.setChildrenCollapsible(False)
        self.body.addWidget(self.splitter, 1)
        self.agents.modelReset.connect(self._loaded)
        self._show_agent(None)

    # --- what the caller may do -------------------------------------------------------------------------------

    def may_write(self) -> bool:
        return not self.read_only and self.context.may(self.workspace_id, "agents.write")

    # --- loading ----------------------------------------------------------------------------------------------

    def refresh_action(self) -> None:
        self.clear_message()
        if self.read_only:
            self.update_read_only_notice()
        elif not self.may_write():
            self.read_only_notice.show_message(
                f"Your role, {self.role}, can read the agents' settings but not change them; an editor, admin or "
                "owner can.", kind="info")
        else:
            self.read_only_notice.hide()
        if self.form.agent is not None and self._wanted is None:
            self._wanted = self.form.agent["id"]
        self.agents.reload()

    def _load_agents(self, after, deliver) -> None:
        query = "?limit=100" + (f"&after={after}" if after else "")
        self.api.get(f"/api/v1/workspaces/{self.workspace_id}/agents{query}",
                     on_done=lambda a: deliver(a["agents"], a.get("next_after")),
                     on_error=lambda e: (self.agents.loading_failed(), self.show_error(e)))

    def _loaded(self) -> None:
        count = self.agents.rowCount()
        if count:
            self.empty.hide()
        else:
            self.empty.setText("No agents yet. Create the first with New agent…: give it a name, then choose the "
                               "sites it may appear on and copy its snippet onto them." if self.may_write() else
                               "No agents in this workspace yet.")
            self.empty.show()
        wanted, self._wanted = self._wanted, None
        self._reverting = True  # one look at the new selection, below, rather than one per step of making it
        if not (wanted and select_record(self.table, wanted)) and count:
            self.table.selectRow(0)
        self._reverting = False
        self._selection_changed()

    def selected_agent(self) -> dict | None:
        return selected_record(self.table)

    def _selection_changed(self) -> None:
        if self._reverting:
            return
        agent = self.selected_agent()
        shown = self.form.agent
        if shown is not None and (agent is None or agent["id"] != shown["id"]) and self.form.changes() and \
                any(a["id"] == shown["id"] for a in self.agents.records()):
            dialog = confirm(self, f"Discard your changes to {shown['name']}?",
                             f"You changed {self._changed_names()} of {shown['name']} without saving.", "Discard",
                             lambda: self._show_agent(self.selected_agent()), destructive=True)
            dialog.rejected.connect(lambda: self._reselect(shown["id"]))
            return
        if agent is None or shown is None or agent["id"] != shown["id"] or not self.form.changes():
            self._show_agent(agent)

    def _reselect(self, agent_id: str) -> None:
        self._reverting = True
        select_record(self.table, agent_id)
        self._reverting = False

    def _show_agent(self, agent: dict | None) -> None:
        self.editor.setVisible(agent is not None)
        self.copied.clear()
        if agent is None:
            self.form.agent = None
        else:
            self.form.load(agent)
            self.agent_heading.setText(agent["name"])
            self.agent_facts.setText(f"Widget id {agent['public_id']} · made {when(agent['created_at'])} · "
                                     f"changed {when(agent['updated_at'])}")
            self.snippet.setPlainText(agent["embed_snippet"])
        self.form.set_editable(self.may_write())
        self._update_buttons()

    def _changed_names(self) -> str:
        return ", ".join(self.form.labels[name].lower() for name in self.form.changes()) or "nothing"

    def _update_buttons(self) -> None:
        write = self.may_write()
        shown = self.form.agent is not None
        changed = bool(shown and self.form.changes())
        self.new_button.setEnabled(write)
        self.save_button.setEnabled(write and changed)
        self.discard_button.setEnabled(changed)
        self.delete_button.setEnabled(write and shown)
        self.copy_button.setEnabled(shown)
        self.preview_button.setEnabled(shown)
        self.unsaved.setText(f"Unsaved changes: {self._changed_names()}." if changed and write else "")

    # --- actions ----------------------------------------------------------------------------------------------

    def new_agent_action(self) -> None:
        self.create_dialog = NewAgentDialog(self)
        self.create_dialog.created.connect(self._created)
        self.create_dialog.open()

    def _created(self, agent: dict) -> None:
        self.show_notice(f"Agent {agent['name']} created. Add the sites it may appear on (Allowed origins), "
                         "then copy its snippet onto them.")
        self._wanted = agent["id"]
        self.agents.reload()

    def save_action(self) -> None:
        changes = self.form.changes()
        if not changes or not self.may_write():
            return
        problems = self.form.problems(changes)
        if problems:
            self.form.show_problems(problems)
            self._not_saved()
            return
        self.form.clear_errors()
        self.clear_message()
        self.save_button.setEnabled(False)
        agent = self.form.agent
        self.api.patch(f"/api/v1/workspaces/{self.workspace_id}/agents/{agent['id']}", changes,
                       on_done=lambda answer: self._saved(answer["agent"], changes),
                       on_error=self._refused)

    def _saved(self, agent: dict, changes: dict) -> None:
        self.show_notice(f"{agent['name']} saved; the widget uses the new settings from its next conversation.")
        self.form.load(agent)
        self._wanted = agent["id"]
        self.agents.reload()

    def _refused(self, error: ApiError) -> None:
        self._update_buttons()
        error = on_its_field(error, AgentForm.FIELDS)
        if error.field in AgentForm.FIELDS:
            self.form.show_error(error, role=self.role)
            self._not_saved()
            return
        self.show_error(error)
        if error.status == 403:
            self.reload_navigation.emit()  # the role changed meanwhile; the refreshed page follows the API

    def _not_saved(self) -> None:
        """Say so above, and bring the first field in red into view."""
        self.banner.show_message("Not saved: correct the field marked in red, then Save again.", kind="error")
        error = self.form.first_error()
        if error is not None:
            self.scroll.ensureWidgetVisible(error.parentWidget(), 0, 40)

    def discard_action(self) -> None:
        if self.form.agent is not None:
            self.form.load(self.form.agent)
            self.form.set_editable(self.may_write())
            self._update_buttons()

    def delete_action(self) -> None:
        agent = self.form.agent
        if agent is None or not self.may_write():
            return
        origins = ", ".join(agent["allowed_origins"]) or "no site yet"
        confirm(self, f"Delete {agent['name']}?",
                f"{agent['name']} is deleted with all its conversations and the leads they brought in. Its widget "
                f"stops answering at once wherever the snippet is pasted ({origins}). The workspace's training data "
                "stays. This cannot be undone.", "Delete agent", lambda: self._delete(agent), destructive=True)

    def _delete(self, agent: dict) -> None:
        self.api.delete(f"/api/v1/workspaces/{self.workspace_id}/agents/{agent['id']}",
                        on_done=lambda _: self._deleted(agent), on_error=self.show_error)

    def _deleted(self, agent: dict) -> None:
        self.show_notice(f"{agent['name']} was deleted, with its conversations and leads.")
        self.form.agent = None
        self.agents.reload()

    def copy_snippet_action(self) -> None:
        agent = self.form.agent
        if agent is not None:
            QGuiApplication.clipboard().setText(agent["embed_snippet"])
            self.copied.setText("Copied to the clipboard.")

    def preview_action(self) -> None:
        agent = self.form.agent
        if agent is not None and not QDesktopServices.openUrl(QUrl(agent["preview_url"])):
            self.banner.show_message(f"No browser opened the preview; open {agent['preview_url']} yourself.",
                                     kind="warning")
