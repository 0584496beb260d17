"""API keys (per workspace): each key with its prefix, scopes, holder, use and state (revoked and expired ones
marked); "New key" with its scopes, expiry, allowed addresses and per-minute limit, the key shown once; rotation
with the old secret's grace period; revocation."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from gui.client.errors import ApiError
from gui.models.table import Column, RecordsModel
from gui.views.page import Page
from gui.widgets.buttons import action_button
from gui.widgets.dialogs import DialogButtons, confirm, show_secret, titled_layout
from gui.widgets.formatting import ago, day, when
from gui.widgets.forms import FieldForm
from gui.widgets.tables import records_table, selected_record

# The scopes the API accepts (docs/openapi.json, ApiKey.scopes) and what each lets a key do (server/auth.py).
SCOPES = {
    "chat": "ask the agents",
    "agents:read": "read the agents",
    "agents:write": "create and change agents",
    "sources:read": "read the knowledge sources",
    "sources:write": "add and change sources",
    "conversations:read": "read conversations",
    "conversations:delete": "delete conversations",
    "leads:read": "read leads (personal data)",
    "leads:delete": "delete leads",
    "analytics:read": "read analytics",
    "export": "take data out in bulk (with the read scopes)",
}
DEFAULT_DAYS, DEFAULT_PER_MINUTE = 90, 120  # the API's defaults (settings, openapi.json)
REVOKED, EXPIRED = "#fdecea", "#fff4e5"
SHOWN_ONCE = "Store it now; it cannot be shown again: the appliance keeps only a hash of it."

READ_ONLY = ("This workspace is cancelled and read-only: its API keys are listed, but none can be created, "
             "rotated or revoked until the owner undoes the cancellation (Workspaces).")


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def key_state(key: dict, *, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    if key.get("revoked_at"):
        return "revoked"
    if key.get("expires_at") and _moment(key["expires_at"]) <= now:
        return "expired"
    if key.get("previous_valid_until") and _moment(key["previous_valid_until"]) > now:
        return f"rotating until\n{when(key['previous_valid_until'])}"
    return "active"


def _highlight(key: dict) -> str | None:
    state = key_state(key)
    return REVOKED if state == "revoked" else EXPIRED if state == "expired" else None


def grace_period(hours: int | None) -> str:
    """How long a rotated key's old secret keeps working (api_key_grace_hours, from /api/v1/me)."""
    if hours is None:
        return "the appliance's grace period (api_key_grace_hours)"
    if hours == 0:
        return "no time at all (this appliance gives rotated keys no grace period)"
    return f"{hours} hour{'s' if hours != 1 else ''}"


class NewKeyDialog(QDialog):
    """Name, scopes, expiry, allowed addresses, per-minute limit; `created` carries the API's answer, whose key the
    page shows once."""

    created = Signal(dict)

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.page = page
        layout = titled_layout(self, "New API key", width=620)
        note = QLabel("A key answers to you: it works only while you may manage keys in this workspace, and only "
                      "for the scopes you tick.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.form = FieldForm()
        self.name = self.form.add_field("name", "Name", QLineEdit())
        self.name.setPlaceholderText("What uses it, e.g. Website chat")
        boxes = QWidget()
        grid = QGridLayout(boxes)
        grid.setContentsMargins(0, 0, 0, 0)
        self.scopes: dict[str, QCheckBox] = {}
        for n, (scope, what) in enumerate(SCOPES.items()):
            box = QCheckBox(scope)
            box.setToolTip(what)
            box.setObjectName(f"scope_{scope}")
            self.scopes[scope] = box
            grid.addWidget(box, n // 3, n % 3)
        self.form.add_field("scopes", "Scopes", boxes, hint="Tick what the key may do; anything else is refused. "
                                                            "Hover a scope to see what it allows.")
        self.expires = self.form.add_field("expires_in_days", "Expires after", QLineEdit(), hint=(
            f"Days, 1 to 3650. Empty: {DEFAULT_DAYS} days. Type never for a key that does not expire."))
        self.expires.setPlaceholderText(f"{DEFAULT_DAYS}")
        self.addresses = self.form.add_field("allowed_addresses", "Allowed addresses", QPlainTextEdit(), hint=(
            "One address or network (CIDR) per line, like 192.0.2.0/24. Empty: any address."))
        self.addresses.setFixedHeight(72)
        self.per_minute = self.form.add_field("rate_limit_per_minute", "Requests a minute", QLineEdit(), hint=(
            f"1 to 10000. Empty: {DEFAULT_PER_MINUTE}."))
        self.per_minute.setPlaceholderText(f"{DEFAULT_PER_MINUTE}")
        layout.addWidget(self.form)
        buttons = DialogButtons(self, "Create key", self.submit_action, name="createKey")
        self.submit = buttons.action
        layout.addLayout(buttons)

    def request(self) -> dict:
        """The request body: what was left empty is left to the API's default; what does not parse is sent as
        typed, so that the API's message lands under the field."""
        body: dict = {"name": self.name.text().strip(),
                      "scopes": [scope for scope, box in self.scopes.items() if box.isChecked()]}
        for name, field in (("expires_in_days", self.expires), ("rate_limit_per_minute", self.per_minute)):
            value = field.text().strip()
            if value:
                body[name] = int(value) if value.isdigit() else value
        addresses = [line.strip() for line in self.addresses.toPlainText().splitlines() if line.strip()]
        if addresses:
            body["allowed_addresses"] = addresses
        return body

    def submit_action(self) -> None:
        self.submit.setEnabled(False)
        self.form.clear_errors()
        self.page.api.post(f"/api/v1/workspaces/{self.page.workspace_id}/api-keys", self.request(),
                           on_done=self._created, on_error=self._refused)

    def _created(self, answer: dict) -> None:
        self.submit.setEnabled(True)
        self.accept()
        self.created.emit(answer)

    def _refused(self, error: ApiError) -> None:
        self.submit.setEnabled(True)
        self.form.show_error(error, role=self.page.role)


class ApiKeysPage(Page):
    title = "API keys"

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        self.create_dialog: NewKeyDialog | None = None
        self.secret_dialog = None
        self._holders: dict[str, str] = {}
        self.add_intro("Keys let other systems use this workspace's agents and data through the API, each only for "
                       "its scopes. Send a key as 'Authorization: Bearer csk_…'.")
        self.add_read_only_notice(READ_ONLY)
        self.keys = RecordsModel([
            Column("name", "Name"),
            Column("prefix", "Prefix"),
            Column("scopes", "Scopes", show=lambda k: ", ".join(k["scopes"])),
            Column("created_by", "Created by", show=lambda k: self._holders.get(k["created_by"] or "",
                                                                                k["created_by"] or "")),
            Column("created_at", "Created", show=lambda k: day(k["created_at"]), sort=lambda k: k["created_at"]),
            Column("last_used_at", "Last used", show=lambda k: ago(k["last_used_at"]),
                   sort=lambda k: k["last_used_at"] or ""),
            Column("expires_at", "Expires", show=lambda k: day(k["expires_at"]) or "never",
                   sort=lambda k: k["expires_at"] or "9999"),
            Column("state", "State", show=key_state),
        ], loader=self._load_keys, highlight=_highlight)
        self.table = records_table(self.keys, name="apiKeysTable", stretch=2, sort=(4, Qt.SortOrder.DescendingOrder),
                                   owner=self)
        # Rows grow to show every scope: a key's scopes are what it may do, never to be cut off.
        self.table.setWordWrap(True)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.empty = QLabel()
        self.empty.setObjectName("emptyState")
        self.empty.setStyleSheet("color:#5f6b7a;")
        self.details = QLabel()
        self.details.setObjectName("keyDetails")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        actions = QHBoxLayout()
        self.new_button = action_button("New key…", self.new_key_action, name="newKey", row=actions)
        self.rotate_button = action_button("Rotate…", self.rotate_action, name="rotateKey", row=actions)
        self.revoke_button = action_button("Revoke…", self.revoke_action, name="revokeKey", row=actions)
        actions.addStretch(1)
        self.body.addLayout(actions)
        self.body.addWidget(self.empty)
        self.body.addWidget(self.table, 1)
        self.body.addWidget(self.details)
        self.body.addStretch(0)  # takes the room only while the table is hidden
        self.keys.modelReset.connect(self._loaded)
        self._update_buttons()

    # --- loading ----------------------------------------------------------------------------------------------

    def may_manage(self) -> bool:
        return not self.read_only and self.context.may(self.workspace_id, "api_keys.manage")

    def refresh_action(self) -> None:
        self.clear_message()
        self.update_read_only_notice()
        self.api.get(f"/api/v1/workspaces/{self.workspace_id}/members?limit=500", on_done=self._got_members,
                     on_error=lambda e: None)  # without names the holders show as ids; the keys still load
        self.keys.reload()

    def _got_members(self, answer: dict) -> None:
        self._holders = {m["user_id"]: m["display_name"] or m["email"] for m in answer["members"]}
        if self.keys.rowCount():
            column = next(n for n, c in enumerate(self.keys.columns) if c.key == "created_by")
            self.keys.dataChanged.emit(self.keys.index(0, column), self.keys.index(self.keys.rowCount() - 1, column))

    def _load_keys(self, after, deliver) -> None:
        query = "?limit=100" + (f"&after={after}" if after else "")
        self.api.get(f"/api/v1/workspaces/{self.workspace_id}/api-keys{query}",
                     on_done=lambda a: deliver(a["api_keys"], a.get("next_after")),
                     on_error=lambda e: (self.keys.loading_failed(), self.show_error(e), self._update_buttons()))

    def _loaded(self) -> None:
        records = self.keys.records()
        if records:
            self.empty.hide()
        else:
            self.empty.setText("No API keys yet. Create one with New key…" if self.may_manage() else
                               "No API keys to show.")
            self.empty.show()
        self._selection_changed()

    def selected_key(self) -> dict | None:
        return selected_record(self.table)

    def _selection_changed(self) -> None:
        key = self.selected_key()
        if key is None:
            self.details.setText("Select a key to see where it may be used from and its limit." if
                                 self.keys.rowCount() else "")
        else:
            allowed = ", ".join(key["allowed_addresses"]) or "any address"
            rotated = f"; rotated {when(key['rotated_at'])}" if key.get("rotated_at") else ""
            revoked = f"; revoked {when(key['revoked_at'])}" if key.get("revoked_at") else ""
            self.details.setText(f"<b>{key['name']}</b> ({key['prefix']}…): {', '.join(key['scopes'])}. "
                                 f"Allowed from {allowed}; at most {key['rate_limit_per_minute']} requests a minute; "
                                 f"expires {when(key['expires_at']) or 'never'}{rotated}{revoked}.")
        self._update_buttons()

    def _update_buttons(self) -> None:
        manage = self.may_manage()
        key = self.selected_key()
        live = key is not None and key_state(key) not in ("revoked", "expired")
        self.new_button.setEnabled(manage)
        self.rotate_button.setEnabled(manage and live)
        self.revoke_button.setEnabled(manage and key is not None and not key.get("revoked_at"))

    # --- actions ----------------------------------------------------------------------------------------------

    def new_key_action(self) -> None:
        self.create_dialog = NewKeyDialog(self)
        self.create_dialog.created.connect(self.created)
        self.create_dialog.open()

    def created(self, answer: dict) -> None:
        record = answer["api_key"]
        self.secret_dialog = show_secret(
            self, f"API key {record['name']}", answer["key"],
            f"{SHOWN_ONCE} It may {', '.join(record['scopes'])}, and expires "
            f"{when(record['expires_at']) or 'never'}.")
        self.secret_dialog.copy_button.setText("Copy the key")
        self.show_notice(f"Key {record['name']} ({record['prefix']}…) created.")
        self.keys.reload()

    def rotate_action(self) -> None:
        key = self.selected_key()
        if key is None:
            return
        grace = grace_period(self.context.me.get("appliance", {}).get("api_key_grace_hours"))
        confirm(self, f"Rotate {key['name']}?",
                f"A new secret is made for {key['name']} and shown once; its scopes and limits stay. The old secret "
                f"keeps working for {grace}, so you can move your integrations to the new one; then only the new "
                "one works.", "Rotate", lambda: self._rotate(key))

    def _rotate(self, key: dict) -> None:
        self.api.post(f"/api/v1/workspaces/{self.workspace_id}/api-keys/{key['id']}/rotate",
                      on_done=self._rotated, on_error=self.show_error)

    def _rotated(self, answer: dict) -> None:
        record = answer["api_key"]
        self.secret_dialog = show_secret(
            self, f"New secret for {record['name']}", answer["key"],
            f"{SHOWN_ONCE} The old secret works until {when(record['previous_valid_until'])}; after that only this "
            "one does.")
        self.secret_dialog.copy_button.setText("Copy the key")
        self.show_notice(f"{record['name']} rotated: the old secret works until "
                         f"{when(record['previous_valid_until'])}.")
        self.keys.reload()

    def revoke_action(self) -> None:
        key = self.selected_key()
        if key is None:
            return
        confirm(self, f"Revoke {key['name']}?",
                f"Every request with {key['prefix']}… is refused from now on (401), the old secret of a rotation "
                "too. This cannot be undone: make a new key if something still needs one.", "Revoke",
                lambda: self.api.delete(f"/api/v1/workspaces/{self.workspace_id}/api-keys/{key['id']}",
                                        on_done=lambda _: (self.show_notice(f"{key['name']} was revoked."),
                                                           self.keys.reload()),
                                        on_error=self.show_error), destructive=True)
