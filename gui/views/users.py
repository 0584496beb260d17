"""Users (operators): every account with its status and second factor; creating another operator (with a password
shown once when the appliance makes it), disabling and enabling an account, and ending its sessions."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QDialog, QHBoxLayout, QLabel, QLineEdit

from gui.client.errors import ApiError
from gui.models.table import Column, RecordsModel
from gui.views.page import Page
from gui.views.user_directory import HandToDirectoryDialog
from gui.widgets.buttons import action_button
from gui.widgets.dialogs import DialogButtons, confirm, show_secret, titled_layout
from gui.widgets.formatting import ago, when
from gui.widgets.forms import FieldForm
from gui.widgets.tables import records_table, select_record, selected_record

DISABLED = "#eceff1"
GREY = "#6b7580"


def _on_field(error: ApiError) -> ApiError:
    if error.field:
        return error
    if error.code == "weak_password" or (error.status == 400 and "'generate_password'" in error.message):
        return error.on_field("password")
    if error.status == 400 and error.message.startswith("a display name"):
        return error.on_field("display_name")
    if error.status == 409 and error.message.startswith("an account for"):
        return error.on_field("email")
    return error


def _device(session: dict) -> str:
    agent = session.get("user_agent") or "unknown client"
    return f"{agent} (this panel)" if session.get("current") else agent


class NewOperatorDialog(QDialog):
    """Email, name and password of another operator; `created` carries the API's answer (with a generated
    password, when one was asked for)."""

    created = Signal(dict)

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.api = page.api
        layout = titled_layout(self, "New operator", width=500)
        note = QLabel("Operators run the appliance: workspaces, users, backups, jobs and the audit log. They see no "
                      "workspace's content unless they are members of it.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.form = FieldForm()
        self.email = self.form.add_field("email", "Email", QLineEdit())
        self.display_name = self.form.add_field("display_name", "Display name", QLineEdit(), hint="Optional.")
        self.generate = self.form.add_field("generate_password", "",
                                            QCheckBox("Generate a password (shown to you once, to pass on)"))
        self.password = self.form.add_password_field(
            "password", "Password", hint="At least a few unrelated words; the appliance refuses weak ones.")
        self.generate.toggled.connect(lambda on: self.password.setEnabled(not on))
        layout.addWidget(self.form)
        buttons = DialogButtons(self, "Create operator", self.submit_action)
        self.create_button = buttons.action
        layout.addLayout(buttons)

    def submit_action(self) -> None:
        body = {"email": self.email.text().strip(), "display_name": self.display_name.text().strip()}
        if self.generate.isChecked():
            body["generate_password"] = True
        else:
            body["password"] = self.password.text()
        self.form.clear_errors()
        self.create_button.setEnabled(False)
        self.api.post("/api/v1/users", body, on_done=self._created, on_error=self._refused)

    def _created(self, answer: dict) -> None:
        self.created.emit(answer)
        self.accept()

    def _refused(self, error: ApiError) -> None:
        self.create_button.setEnabled(True)
        self.form.show_error(_on_field(error))


class UsersPage(Page):
    title = "Users"

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        self.add_intro("Every account on this appliance: operators, and the members workspaces invited. A disabled "
                       "account cannot sign in; its sessions ended and its API keys were revoked when it was disabled.")
        self.users = RecordsModel([
            Column("email", "Email", show=self._email),
            Column("display_name", "Display name"),
            Column("is_operator", "Operator", show=lambda u: "yes" if u["is_operator"] else "no"),
            Column("status", "Status"),
            Column("second_factor", "Second factor", show=lambda u: "on" if u["second_factor"] else "off"),
            Column("created_at", "Created", show=lambda u: when(u["created_at"]), sort=lambda u: u["created_at"]),
        ], loader=self._load_users, highlight=lambda u: DISABLED if u["status"] == "disabled" else None)
        self.table = records_table(self.users, name="usersTable", widths={0: 280, 1: 220, 2: 80, 3: 90, 4: 110},
                                   stretch=5, sort=(0, Qt.SortOrder.AscendingOrder), owner=self, ignore_case=True)
        self.table.selectionModel().selectionChanged.connect(self._user_selected)
        actions = QHBoxLayout()
        self.new_button = action_button("New operator", self.new_operator_action, row=actions)
        self.new_button.setVisible(context.operator_may("users.create"))
        self.disable_button = action_button("Disable", self.disable_action, row=actions)
        self.enable_button = action_button("Enable", self.enable_action, row=actions)
        self.directory_button = action_button("Hand to directory…", self.hand_to_directory_action,
                                              name="handToDirectory", row=actions)
        self.directory_button.setVisible(context.operator_may("sso.manage"))
        self.directory_dialog: HandToDirectoryDialog | None = None
        self.selection_note = QLabel()
        self.selection_note.setObjectName("selectionNote")
        self.selection_note.setStyleSheet(f"color:{GREY};")
        actions.addWidget(self.selection_note, 1)
        self.sessions_heading = QLabel("Sessions of the selected account")
        self.sessions_heading.setStyleSheet(f"color:{GREY};")
        self.sessions = RecordsModel([
            Column("created_at", "Signed in", show=lambda s: when(s["created_at"])),
            Column("last_seen_at", "Last active", show=lambda s: ago(s["last_seen_at"])),
            Column("expires_at", "Expires", show=lambda s: when(s["expires_at"])),
            Column("client_address", "Address"),
            Column("user_agent", "Client", show=_device),
        ], loader=self._load_sessions)
        self.sessions_table = records_table(self.sessions, name="sessionsTable",
                                            widths={0: 160, 1: 110, 2: 160, 3: 130}, stretch=4)
        self.sessions_table.selectionModel().selectionChanged.connect(self._update_actions)
        self.sessions_empty = QLabel()
        self.sessions_empty.setStyleSheet(f"color:{GREY};")
        session_actions = QHBoxLayout()
        self.end_session_button = action_button("End session", self.end_session_action, row=session_actions)
        self.end_all_button = action_button("End all sessions", self.end_all_sessions_action, row=session_actions)
        session_actions.addWidget(self.sessions_empty, 1)
        self.body.addWidget(self.table, 3)
        self.body.addLayout(actions)
        self.body.addWidget(self.sessions_heading)
        self.body.addWidget(self.sessions_table, 2)
        self.body.addLayout(session_actions)
        self.create_dialog: NewOperatorDialog | None = None
        self._update_actions()

    def _email(self, user: dict) -> str:
        return f"{user['email']} (you)" if self._is_me(user) else user["email"]

    def _is_me(self, user: dict) -> bool:
        return user["id"] == self.context.user.get("id")

    # --- reading ---------------------------------------------------------------------------------------------------

    def selected(self) -> dict | None:
        return selected_record(self.table)

    def selected_session(self) -> dict | None:
        return selected_record(self.sessions_table)

    def select(self, user_id: str) -> bool:
        """Select the account's row; False if it is not (yet) in the table."""
        return select_record(self.table, user_id)

    def refresh_action(self) -> None:
        if self.banner.kind == "error":
            self.clear_message()  # what failed before is asked again; a notice of what was done stays
        self.users.reload()

    def _load_users(self, after: str | None, deliver) -> None:
        selected = (self.selected() or {}).get("id")
        query = "?limit=100" + (f"&after={after}" if after else "")

        def got(answer: dict) -> None:
            deliver(answer["users"], answer["next_after"])
            if selected is None or not self.select(selected):
                self._user_selected()

        self.api.get(f"/api/v1/users{query}", on_done=got,
                     on_error=lambda e: (self.users.loading_failed(), self.show_error(e)))

    def _user_selected(self) -> None:
        user = self.selected()
        self.sessions_heading.setText(f"Sessions of {user['email']}" if user else "Select an account to see its "
                                      "sessions")
        if user is None:
            self.sessions.set_records([])
        else:
            self.sessions.reload()
        self._update_actions()

    def _load_sessions(self, after: str | None, deliver) -> None:
        user = self.selected()
        if user is None:
            deliver([], None)
            return
        query = "?limit=100" + (f"&after={after}" if after else "")

        def got(answer: dict) -> None:
            if (self.selected() or {}).get("id") != user["id"]:
                self.sessions.loading_failed()  # another account was selected meanwhile; its own answer counts
                return
            deliver(answer["sessions"], answer["next_after"])
            self._update_actions()

        self.api.get(f"/api/v1/users/{user['id']}/sessions{query}", on_done=got,
                     on_error=lambda e: (self.sessions.loading_failed(), self.show_error(e)))

    def _update_actions(self) -> None:
        user = self.selected()
        may_disable = user is not None and self.context.operator_may("users.disable")
        self.disable_button.setEnabled(may_disable and user["status"] != "disabled" and not self._is_me(user))
        self.enable_button.setEnabled(may_disable and user["status"] == "disabled")
        # An operator's account keeps its own password (the appliance must be runnable without the directory).
        self.directory_button.setEnabled(user is not None and not user["is_operator"])
        may_end = user is not None and self.context.operator_may("users.sessions")
        others = [s for s in self.sessions.records() if not s["current"]]
        self.end_session_button.setEnabled(may_end and bool(self.selected_session())
                                           and not self.selected_session()["current"])
        self.end_all_button.setEnabled(may_end and bool(others))
        if user is not None and self._is_me(user):
            self.selection_note.setText("This is your account: you cannot disable it, and your sessions here end "
                                        "the others, never this one (see also My account).")
        else:
            self.selection_note.setText("")
        count = len(self.sessions.records())
        self.sessions_empty.setText("" if user is None else
                                    "No open sessions: this account is not signed in anywhere." if count == 0 else "")

    # --- acting ----------------------------------------------------------------------------------------------------

    def new_operator_action(self) -> None:
        self.create_dialog = NewOperatorDialog(self)
        self.create_dialog.created.connect(self._created)
        self.create_dialog.open()

    def _created(self, answer: dict) -> None:
        user = answer["user"]
        self.show_notice(f"{user['email']} is an operator now and can sign in.")
        if "password" in answer:
            show_secret(self, f"Password for {user['email']}", answer["password"],
                        "The appliance made this password and shows it only this once. Pass it on securely (in "
                        "person or through a password manager, never in plain mail or chat), and ask the new "
                        "operator to change it after signing in (My account, Change password).")
        self.users.reload()

    def disable_action(self) -> None:
        user = self.selected()
        if user is None:
            return
        confirm(self, f"Disable {user['email']}?",
                f"{user['email']} can no longer sign in, and every session of theirs ends now. The API keys they "
                "created stop working at once: the appliance revokes them, and they stay revoked if the account is "
                "enabled again. Their memberships and what they made in workspaces stay.",
                "Disable account", lambda: self._disable(user), destructive=True)

    def _disable(self, user: dict) -> None:
        self.api.post(f"/api/v1/users/{user['id']}/disable", on_done=self._disabled,
                      on_error=lambda e: self.show_error(e, role="operator"))

    def _disabled(self, answer: dict) -> None:
        keys = answer["api_keys"]
        revoked = [k["name"] for k in keys if k["outcome"] == "revoked"]
        handed = [f"{k['name']} (to {k['to']})" for k in keys if k["outcome"] == "handed_over"]
        what = (f" API keys revoked: {', '.join(revoked)}." if revoked else " They held no API keys.") + (
            f" Handed over: {', '.join(handed)}." if handed else "")
        self.show_notice(f"{answer['user']['email']} is disabled: their sessions ended.{what}")
        self.users.reload()

    def enable_action(self) -> None:
        user = self.selected()
        if user is None:
            return
        self.api.post(f"/api/v1/users/{user['id']}/enable", on_done=self._enabled,
                      on_error=lambda e: self.show_error(e, role="operator"))

    def _enabled(self, answer: dict) -> None:
        self.show_notice(f"{answer['user']['email']} can sign in again. API keys revoked when the account was "
                         "disabled stay revoked; they can create new ones.")
        self.users.reload()

    def hand_to_directory_action(self) -> None:
        user = self.selected()
        if user is None:
            return

        def got(providers: list[dict]) -> None:
            directories = [p for p in providers if p["kind"] == "ldap"]
            if not directories:
                self.banner.show_message("No directory is set up to hand the account to: add one under Sign-in "
                                         "providers first.", kind="warning")
                return
            self.directory_dialog = HandToDirectoryDialog(self, user, directories)
            self.directory_dialog.handed.connect(self._handed)
            self.directory_dialog.open()

        self.api.get("/api/v1/sso/providers", on_done=lambda answer: got(answer["providers"]),
                     on_error=lambda e: self.show_error(e, role="operator"))

    def _handed(self, answer: dict) -> None:
        self.show_notice(f"{answer['user']['email']} now signs in with their directory password; their own password "
                         "here was removed.")
        self.users.reload()

    def end_session_action(self) -> None:
        user, session = self.selected(), self.selected_session()
        if user is None or session is None:
            return
        self.api.delete(f"/api/v1/users/{user['id']}/sessions/{session['id']}",
                        on_done=lambda _: self._ended(user, 1),
                        on_error=lambda e: self.show_error(e, role="operator"))

    def end_all_sessions_action(self) -> None:
        user = self.selected()
        if user is None:
            return
        mine = " except the one this panel uses" if self._is_me(user) else ""
        confirm(self, f"End the sessions of {user['email']}?",
                f"Every session of {user['email']}{mine} ends now: they must sign in again wherever they were signed "
                "in. Their password and API keys are not changed.",
                "End all sessions", lambda: self._end_all(user), destructive=True)

    def _end_all(self, user: dict) -> None:
        """Every session of the account but the caller's own, ended one by one."""
        self.api.get_all(f"/api/v1/users/{user['id']}/sessions", "sessions",
                         on_done=lambda sessions: self._end_each(user, [s["id"] for s in sessions if not s["current"]]),
                         on_error=lambda e: self.show_error(e, role="operator"))

    def _end_each(self, user: dict, session_ids: list[str]) -> None:
        if not session_ids:
            self._ended(user, 0)
            return
        left, ended, failures = set(session_ids), [], []

        def settled(session_id: str, error: ApiError | None) -> None:
            left.discard(session_id)
            # A session that ended meanwhile (404) is as good as ended here.
            (failures if error is not None and error.status != 404 else ended).append(session_id)
            if not left:
                self._ended(user, len(ended), failures=len(failures))

        for session_id in session_ids:
            self.api.delete(f"/api/v1/users/{user['id']}/sessions/{session_id}",
                            on_done=lambda _, s=session_id: settled(s, None),
                            on_error=lambda e, s=session_id: settled(s, e))

    def _ended(self, user: dict, count: int, *, failures: int = 0) -> None:
        sessions = f"{count} session{'s' if count != 1 else ''}"
        if failures:
            self.banner.show_message(f"Ended {sessions} of {user['email']}; {failures} could not be ended. Try "
                                     "again.", kind="error")
        else:
            self.show_notice(f"Ended {sessions} of {user['email']}: they must sign in again." if count else
                             f"{user['email']} had no other sessions to end.")
        self.sessions.reload()

