"""The lead form's fields as an agent asks for them: the built-in ones (name, email, phone, company) and the agent's
own, each with its label, its input type and whether the visitor must fill it in."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from gui.widgets.buttons import action_button

# The built-in fields and their fixed input types (appliance/agent/agents.py, BUILTIN_LEAD_FIELDS).
BUILTIN = {"name": "Name", "email": "Email", "phone": "Phone", "company": "Company"}  # with their default labels
BUILTIN_TYPES = {"name": "text", "email": "email", "phone": "tel", "company": "text"}
OWN_TYPES = {"text": "One line", "textarea": "Several lines"}
MAX_FIELDS = 12  # the API's limit
NAME, LABEL, KIND, REQUIRED = range(4)


class LeadFieldsEditor(QWidget):
    """A row per field: its name (the key in each lead), its label (what the visitor reads), its type and whether
    it is required. `fields()` gives them as the API takes them; `changed` is emitted on every edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, 4)
        self.table.setObjectName("leadFieldsTable")
        self.table.setHorizontalHeaderLabels(["Field", "Label", "Type", "Required"])
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        for column, width in ((NAME, 130), (KIND, 120), (REQUIRED, 76)):
            self.table.setColumnWidth(column, width)
        header.setSectionResizeMode(LABEL, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(32)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.table)
        row = QHBoxLayout()
        self.add_choice = QComboBox()
        self.add_choice.setObjectName("leadFieldChoice")
        row.addWidget(self.add_choice)
        self.add_button = action_button("Add field", self.add_action, name="addLeadField", row=row)
        self.remove_button = action_button("Remove", self.remove_action, name="removeLeadField", row=row)
        self.up_button = action_button("Up", lambda: self.move_action(-1), name="leadFieldUp", row=row)
        self.down_button = action_button("Down", lambda: self.move_action(1), name="leadFieldDown", row=row)
        row.addStretch(1)
        layout.addLayout(row)
        self._editable = True
        self._refill_choices()

    # --- reading and writing ----------------------------------------------------------------------------------

    def set_fields(self, fields: list[dict]) -> None:
        self.table.setRowCount(0)
        for field in fields:
            self._append(field)
        self._refill_choices()

    def _fit(self) -> None:
        """As tall as its rows (at least two, at most six before it scrolls)."""
        rows = min(6, max(2, self.table.rowCount()))
        self.table.setFixedHeight(self.table.horizontalHeader().sizeHint().height() + rows * 32 + 4)

    def fields(self) -> list[dict]:
        """The fields as the API takes them, in the order shown; names are sent as typed (the API judges them)."""
        out = []
        for row in range(self.table.rowCount()):
            name = self._name(row)
            field = {"name": name, "label": self.table.cellWidget(row, LABEL).text().strip(),
                     "type": self.table.cellWidget(row, KIND).currentData(),
                     "required": self.table.cellWidget(row, REQUIRED).findChild(QCheckBox).isChecked()}
            out.append(field)
        return out

    def required_box(self, name: str) -> QCheckBox:
        """The Required box of the field `name` (for a test, or a keyboard user's focus)."""
        row = next(r for r in range(self.table.rowCount()) if self._name(r) == name)
        return self.table.cellWidget(row, REQUIRED).findChild(QCheckBox)

    def set_editable(self, editable: bool) -> None:
        self._editable = editable
        for row in range(self.table.rowCount()):
            fixed = self._name(row) in BUILTIN  # a built-in field keeps its name and type
            for column in (NAME, LABEL, KIND, REQUIRED):
                self.table.cellWidget(row, column).setEnabled(editable and not (fixed and column in (NAME, KIND)))
        self._update_buttons()

    # --- actions ----------------------------------------------------------------------------------------------

    def add_action(self) -> None:
        name = self.add_choice.currentData()
        if name is None or self.table.rowCount() >= MAX_FIELDS:
            return
        if name:
            self._append({"name": name, "label": BUILTIN[name], "type": BUILTIN_TYPES[name], "required": False})
        else:
            self._append({"name": "", "label": "", "type": "text", "required": False})
            self.table.cellWidget(self.table.rowCount() - 1, NAME).setFocus()
        self.table.selectRow(self.table.rowCount() - 1)
        self._refill_choices()
        self.changed.emit()

    def remove_action(self) -> None:
        row = self._selected_row()
        if row is not None:
            self.table.removeRow(row)
            self._refill_choices()
            self.changed.emit()

    def move_action(self, step: int) -> None:
        row = self._selected_row()
        if row is None or not 0 <= row + step < self.table.rowCount():
            return
        fields = self.fields()
        fields.insert(row + step, fields.pop(row))
        self.set_fields(fields)
        self.set_editable(self._editable)
        self.table.selectRow(row + step)
        self.changed.emit()

    # --- rows -------------------------------------------------------------------------------------------------

    def _append(self, field: dict) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        builtin = field["name"] in BUILTIN
        name = QLineEdit(field["name"])
        name.setPlaceholderText("e.g. order_number")
        name.setMaxLength(40)
        name.setEnabled(self._editable and not builtin)
        name.setToolTip("The key each lead stores the answer under: lower-case letters, digits and _.")
        label = QLineEdit(field["label"])
        label.setPlaceholderText("What the visitor reads")
        label.setMaxLength(100)
        label.setEnabled(self._editable)
        kind = QComboBox()
        if builtin:
            kind.addItem({"text": "One line", "email": "Email", "tel": "Phone"}[BUILTIN_TYPES[field["name"]]],
                         BUILTIN_TYPES[field["name"]])
        else:
            for value, shown in OWN_TYPES.items():
                kind.addItem(shown, value)
            kind.setCurrentIndex(max(0, kind.findData(field.get("type", "text"))))
        kind.setEnabled(self._editable and not builtin)
        holder = QWidget()
        centre = QHBoxLayout(holder)
        centre.setContentsMargins(0, 0, 0, 0)
        centre.setAlignment(Qt.AlignmentFlag.AlignCenter)
        required = QCheckBox()
        required.setObjectName(f"required_{field['name'] or row}")
        required.setChecked(bool(field.get("required")))
        required.setToolTip("The visitor must fill this in to send the form.")
        centre.addWidget(required)
        holder.setEnabled(self._editable)
        self.table.setCellWidget(row, NAME, name)
        self.table.setCellWidget(row, LABEL, label)
        self.table.setCellWidget(row, KIND, kind)
        self.table.setCellWidget(row, REQUIRED, holder)
        for signal in (name.textEdited, label.textEdited):
            signal.connect(self.changed)
        name.editingFinished.connect(self._refill_choices)
        kind.currentIndexChanged.connect(self.changed)
        required.toggled.connect(self.changed)

    def _name(self, row: int) -> str:
        return self.table.cellWidget(row, NAME).text().strip()

    def _selected_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            return rows[0].row()
        # A click into a row's line edit focuses the widget without selecting the row.
        focused = self.focusWidget()
        for row in range(self.table.rowCount()):
            for column in (NAME, LABEL, KIND, REQUIRED):
                widget = self.table.cellWidget(row, column)
                if widget is not None and (widget is focused or widget.isAncestorOf(focused)):
                    return row
        return None

    def _refill_choices(self) -> None:
        self._fit()
        present = {self._name(row) for row in range(self.table.rowCount())}
        self.add_choice.clear()
        for name, label in BUILTIN.items():
            if name not in present:
                self.add_choice.addItem(label, name)
        self.add_choice.addItem("A field of your own", "")
        self._update_buttons()

    def _update_buttons(self) -> None:
        room = self.table.rowCount() < MAX_FIELDS
        selected = self._selected_row() is not None
        self.add_choice.setEnabled(self._editable and room)
        self.add_button.setEnabled(self._editable and room)
        self.remove_button.setEnabled(self._editable and selected and self.table.rowCount() > 1)
        self.up_button.setEnabled(self._editable and selected)
        self.down_button.setEnabled(self._editable and selected)
