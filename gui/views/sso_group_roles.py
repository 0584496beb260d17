"""A sign-in provider's group-to-role mapping: which role a group of the provider gives in which workspace. The
appliance applies it at each member's sign-in, so a person who leaves the group loses the role at their next one."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
)

from gui.client.errors import ApiError
from gui.widgets.banner import Banner
from gui.widgets.buttons import action_button
from gui.widgets.dialogs import DialogButtons, titled_layout

ROLES = {"viewer": "Viewer", "editor": "Editor", "admin": "Admin"}  # ownership is never given by a provider
GROUP, WORKSPACE, ROLE = range(3)


class GroupRolesDialog(QDialog):
    """A row per mapping (group, workspace, role); Save replaces the provider's table with the rows shown.
    `saved` carries the mappings the API kept."""

    saved = Signal(list)

    def __init__(self, page, provider: dict, mappings: list[dict], workspaces: list[dict]) -> None:
        super().__init__(page)
        self.api = page.api
        self.provider = provider
        self.workspaces = sorted((w for w in workspaces if w.get("status") != "purged"),
                                 key=lambda w: w["name"].lower())
        layout = titled_layout(self, f"Group roles for {provider['name']}", width=680)
        where = "the ID token's groups claim" if provider["kind"] == "oidc" else "the groups the directory lists"
        note = QLabel(f"A person in a group (from {where}) gets its role in the workspace at each sign-in; when they "
                      "are no longer in any mapped group, the role goes at their next sign-in. Owners are never "
                      "made this way.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.banner = Banner(self)
        layout.addWidget(self.banner)
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("groupRolesTable")
        self.table.setHorizontalHeaderLabels(["Group", "Workspace", "Role"])
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(GROUP, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(WORKSPACE, 240)
        self.table.setColumnWidth(ROLE, 110)
        self.table.verticalHeader().setDefaultSectionSize(32)
        self.table.setMinimumHeight(220)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.table, 1)
        row = QHBoxLayout()
        self.add_button = action_button("Add mapping", lambda: self.add_row(), name="addGroupRole", row=row)
        self.remove_button = action_button("Remove", self.remove_action, name="removeGroupRole", row=row)
        row.addStretch(1)
        layout.addLayout(row)
        if not self.workspaces:
            self.banner.show_message("There is no workspace yet to give a role in: create one first (Workspaces).",
                                     kind="warning")
        for mapping in mappings:
            self.add_row(mapping)
        buttons = DialogButtons(self, "Save", self.submit_action, name="saveGroupRoles")
        self.submit = buttons.action
        layout.addLayout(buttons)
        self._update_buttons()

    def add_row(self, mapping: dict | None = None) -> None:
        mapping = mapping or {}
        n = self.table.rowCount()
        self.table.insertRow(n)
        group = QLineEdit(mapping.get("group", ""))
        group.setPlaceholderText("e.g. support, or cn=support,ou=groups,dc=example,dc=com")
        self.table.setCellWidget(n, GROUP, group)
        workspace = QComboBox()
        for w in self.workspaces:
            workspace.addItem(w["name"], w["id"])
        if mapping.get("workspace_id"):
            found = workspace.findData(mapping["workspace_id"])
            if found < 0:  # a workspace this operator's list does not hold: keep it rather than drop the mapping
                workspace.addItem(mapping["workspace_id"], mapping["workspace_id"])
                found = workspace.count() - 1
            workspace.setCurrentIndex(found)
        self.table.setCellWidget(n, WORKSPACE, workspace)
        role = QComboBox()
        for key, label in ROLES.items():
            role.addItem(label, key)
        role.setCurrentIndex(max(0, role.findData(mapping.get("role", "viewer"))))
        self.table.setCellWidget(n, ROLE, role)
        if not mapping:
            self.table.selectRow(n)
            group.setFocus()
        self._update_buttons()

    def mappings(self) -> list[dict]:
        """The rows as the API takes them; a row with no group typed is left out."""
        out = []
        for n in range(self.table.rowCount()):
            group = self.table.cellWidget(n, GROUP).text().strip()
            if group:
                out.append({"group": group, "workspace_id": self.table.cellWidget(n, WORKSPACE).currentData(),
                            "role": self.table.cellWidget(n, ROLE).currentData()})
        return out

    def remove_action(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.table.removeRow(rows[0].row())
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.add_button.setEnabled(bool(self.workspaces))
        self.remove_button.setEnabled(bool(self.table.selectionModel().selectedRows()))

    def submit_action(self) -> None:
        self.banner.hide()
        self.submit.setEnabled(False)
        self.api.put(f"/api/v1/sso/providers/{self.provider['id']}/group-roles", {"group_roles": self.mappings()},
                     on_done=self._saved, on_error=self._refused)

    def _saved(self, answer: dict) -> None:
        self.submit.setEnabled(True)
        self.accept()
        self.saved.emit(answer["group_roles"])

    def _refused(self, error: ApiError) -> None:
        self.submit.setEnabled(True)
        self.banner.show_message(error.explain(), kind="error")
