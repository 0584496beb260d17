"""The retention policy as a form: for each kind of data the API keeps a policy for (docs/openapi.json,
RetentionPolicy), either "keep while the workspace is active" or "delete after N days" (1 to 3650), and what happens
to visitors' addresses when their time comes (truncated or dropped)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from gui.widgets.forms import FieldForm

MIN_DAYS, MAX_DAYS = 1, 3650  # the API's bounds (RetentionPolicy: minimum, maximum)
# Each kind: the API's field, its label, what its days count from (the API's own descriptions), and a sensible first
# number of days when the admin ticks it.
KINDS = (
    ("conversations_days", "Conversations", "after a conversation's last message; its messages go with it", 365),
    ("leads_days", "Leads", "after the lead was left; leads are personal data", 365),
    ("analytics_events_days", "Analytics events", "after the event (answered, fell back, rated)", 730),
    ("visitor_addresses_days", "Visitors' IP addresses", "after the conversation started or the lead was left", 30),
    ("uploaded_originals_days", "Uploaded files", "after the upload; the source stays indexed and answering", 90),
)
ADDRESS_ACTIONS = (("truncate", "Truncate them (IPv4 to its /24, IPv6 to its /48)"), ("drop", "Remove them"))
KEEP = "Kept while the workspace is active"


def days_text(days: int | None) -> str:
    if days is None:
        return KEEP.lower()
    return f"{days} day{'s' if days != 1 else ''}"


class _Days(QWidget):
    """A kind's row: "Delete after" ticked or not, and the days."""

    changed = Signal()

    def __init__(self, name: str, suggested: int) -> None:
        super().__init__()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.limited = QCheckBox("Delete after")
        self.limited.setObjectName(f"limit_{name}")
        self.days = QSpinBox()
        self.days.setObjectName(f"days_{name}")
        self.days.setRange(MIN_DAYS, MAX_DAYS)
        self.days.setSuffix(" days")
        self.days.setValue(suggested)
        self.days.setMinimumWidth(110)
        self.kept = QLabel(KEEP)
        self.kept.setStyleSheet("color:#5f6b7a;")
        row.addWidget(self.limited)
        row.addWidget(self.days)
        row.addWidget(self.kept)
        row.addStretch(1)
        self.limited.toggled.connect(self._toggled)
        self.days.valueChanged.connect(self._counted)
        self._toggled(False)

    def _counted(self, days: int) -> None:
        self.days.setSuffix(" day" if days == 1 else " days")
        self.changed.emit()

    def _toggled(self, on: bool) -> None:
        self.days.setVisible(on)
        self.kept.setVisible(not on)
        self.changed.emit()

    def value(self) -> int | None:
        return self.days.value() if self.limited.isChecked() else None

    def set_value(self, days: int | None) -> None:
        self.limited.setChecked(days is not None)
        if days is not None:
            self.days.setValue(days)


class PolicyForm(FieldForm):
    """The policy's fields; `changed` whenever the admin changes one, `policy()` the body the API takes."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kinds: dict[str, _Days] = {}
        for name, label, counted, suggested in KINDS:
            row = self.add_field(name, label, _Days(name, suggested), hint=f"Counted {counted}.")
            row.changed.connect(self.changed)
            self.kinds[name] = row
        self.address_action = self.add_field("visitor_addresses_action", "When an address is due", QComboBox())
        for value, text in ADDRESS_ACTIONS:
            self.address_action.addItem(text, value)
        self.address_action.currentIndexChanged.connect(lambda _: self.changed.emit())
        self._editable = True

    def policy(self) -> dict:
        body: dict = {name: row.value() for name, row in self.kinds.items()}
        body["visitor_addresses_action"] = self.address_action.currentData()
        return body

    def show_policy(self, policy: dict) -> None:
        """Show the policy the API holds, without counting that as a change."""
        self.blockSignals(True)
        try:
            for name, row in self.kinds.items():
                row.set_value(policy.get(name))
            action = self.address_action.findData(policy.get("visitor_addresses_action", "truncate"))
            self.address_action.setCurrentIndex(max(action, 0))
        finally:
            self.blockSignals(False)

    def set_editable(self, editable: bool) -> None:
        self._editable = editable
        for row in self.kinds.values():
            row.limited.setEnabled(editable)
            row.days.setEnabled(editable)
        self.address_action.setEnabled(editable)

    @property
    def editable(self) -> bool:
        return self._editable


def describe_policy(policy: dict) -> str:
    """The policy in one sentence: what goes after how long, what is kept."""
    limited = [f"{label[:1].lower()}{label[1:]} after {days_text(policy[name])}" for name, label, _, _ in KINDS
               if policy.get(name) is not None]
    if not limited:
        return "Everything is kept while the workspace is active: no retention limit is set."
    return "Deleted: " + "; ".join(limited) + ". Everything else is kept while the workspace is active."
