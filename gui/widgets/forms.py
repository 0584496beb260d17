"""Forms whose fields show the appliance's error under the field that caused it ("email: is not an email address"
under the email box), and everything else in the form's own message line."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from gui.client.errors import ApiError
from gui.widgets.banner import Banner


class FieldForm(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.banner = Banner(self)
        outer.addWidget(self.banner)
        self.layout_ = QFormLayout()
        self.layout_.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        outer.addLayout(self.layout_)
        self._errors: dict[str, QLabel] = {}
        self._fields: dict[str, QWidget] = {}

    def add_field(self, name: str, label: str, widget: QWidget, *, hint: str = "") -> QWidget:
        """Add `widget` for the API field `name`; its error line stays hidden until the API names the field."""
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(widget)
        if hint:
            note = QLabel(hint)
            note.setWordWrap(True)
            note.setStyleSheet("color:#5f6b7a;font-size:11px;")
            column.addWidget(note)
        error = QLabel()
        error.setObjectName(f"error_{name}")
        error.setWordWrap(True)
        error.setStyleSheet("color:#b3261e;font-size:11px;")
        error.hide()
        column.addWidget(error)
        self.layout_.addRow(label, holder)
        self._errors[name] = error
        self._fields[name] = widget
        widget.setObjectName(f"field_{name}")
        return widget

    def add_password_field(self, name: str, label: str, *, hint: str = "") -> QLineEdit:
        """A line whose typing is shown as dots, for a password."""
        field = self.add_field(name, label, QLineEdit(), hint=hint)
        field.setEchoMode(QLineEdit.EchoMode.Password)
        return field

    def set_label(self, name: str, label: str) -> None:
        """Say something else beside the field `name` (what it asks for depends on the appliance's answer)."""
        self.layout_.labelForField(self._fields[name].parentWidget()).setText(label)

    def label(self, name: str) -> str:
        return self.layout_.labelForField(self._fields[name].parentWidget()).text()

    def field_error(self, name: str) -> str:
        label = self._errors.get(name)
        return label.text() if label is not None and not label.isHidden() else ""

    def show_error(self, error: ApiError, *, role: str | None = None) -> None:
        """Under its field if the API named one this form has, else in the form's message line."""
        self.clear_errors()
        field = error.field
        if field in self._errors:
            self._errors[field].setText(error.explain(role=role))
            self._errors[field].show()
            self._fields[field].setFocus()
        else:
            self.banner.show_message(error.explain(role=role), kind="error")

    def clear_errors(self) -> None:
        self.banner.hide()
        for label in self._errors.values():
            label.hide()
