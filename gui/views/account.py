"""My account: who is signed in, their sessions (end one, or all but this one), their password, and their second
factor (turn on with a QR code and recovery codes shown once, or off). Every change asks for the current password,
as the API does: a session token alone may not change how the account signs in."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QGroupBox, QHBoxLayout, QLabel, QStackedWidget, QVBoxLayout

from gui.client.errors import ApiError
from gui.models.table import Column, RecordsModel
from gui.views.page import Page
from gui.widgets.buttons import action_button
from gui.widgets.dialogs import DialogButtons, confirm
from gui.widgets.formatting import ago, when
from gui.widgets.forms import FieldForm
from gui.widgets.second_factor import Enrolment, RecoveryCodes
from gui.widgets.tables import records_table, selected_record

THIS_SESSION = "#e8f4fd"


class AccountPage(Page):
    title = "My account"

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        self.password_dialog: PasswordDialog | None = None
        self.second_factor_dialog: SecondFactorDialog | None = None
        profile = QGroupBox("Account")
        profile_layout = QHBoxLayout(profile)
        self.profile = QLabel()
        self.profile.setObjectName("profile")
        self.profile.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        profile_layout.addWidget(self.profile, 1)
        buttons = QVBoxLayout()
        self.password_button = action_button("Change password…", self.change_password_action, name="changePassword",
                                             row=buttons)
        self.factor_button = action_button("", self.second_factor_action, name="secondFactor", row=buttons)
        buttons.addStretch(1)
        profile_layout.addLayout(buttons)
        self.body.addWidget(profile)

        sessions = QGroupBox("Where you are signed in")
        sessions_layout = QVBoxLayout(sessions)
        self.sessions = RecordsModel([
            Column("current", "", show=lambda s: "this panel" if s["current"] else ""),
            Column("user_agent", "Client", show=lambda s: s.get("user_agent") or "unknown client"),
            Column("client_address", "From"),
            Column("created_at", "Signed in", show=lambda s: when(s["created_at"])),
            Column("last_seen_at", "Last active", show=lambda s: ago(s.get("last_seen_at"))),
            Column("expires_at", "Ends at the latest", show=lambda s: when(s["expires_at"])),
        ], loader=self._load_sessions, highlight=lambda s: THIS_SESSION if s["current"] else None)
        self.sessions_table = records_table(self.sessions, name="sessionsTable",
                                            widths={0: 90, 2: 130, 3: 170, 4: 110, 5: 170}, stretch=1)
        self.sessions_table.selectionModel().selectionChanged.connect(self._session_selected)
        sessions_layout.addWidget(self.sessions_table)
        row = QHBoxLayout()
        self.end_button = action_button("End the selected session", self.end_session_action, name="endSession",
                                        row=row)
        self.end_button.setEnabled(False)
        self.end_others_button = action_button("End all other sessions", self.end_other_sessions_action,
                                               name="endOtherSessions", row=row)
        row.addStretch(1)
        sessions_layout.addLayout(row)
        self.body.addWidget(sessions, 1)

    # --- loading -------------------------------------------------------------------------------------------------

    def refresh_action(self) -> None:
        self.api.get("/api/v1/me", on_done=self._got_me, on_error=self.show_error)
        self.sessions.reload()

    def _got_me(self, me: dict) -> None:
        self.context.me = me
        user = me["user"]
        factor = "on" if user.get("second_factor") else "off"
        role = "appliance operator" if user.get("is_operator") else "workspace member"
        name = user.get("display_name") or ""
        self.profile.setText(f"<b>{name or user['email']}</b><br>{user['email'] if name else ''}"
                             f"{'<br>' if name else ''}{role}<br>Second factor: <b>{factor}</b>"
                             f"<br>Account since {when(user.get('created_at'))}")
        self.factor_button.setText("Turn off the second factor…" if user.get("second_factor")
                                   else "Turn on a second factor…")

    def _load_sessions(self, after, deliver) -> None:
        query = "?limit=100" + (f"&after={after}" if after else "")
        self.api.get(f"/api/v1/me/sessions{query}", on_done=lambda a: deliver(a["sessions"], a.get("next_after")),
                     on_error=lambda e: (self.sessions.loading_failed(), self.show_error(e)))

    def selected_session(self) -> dict | None:
        return selected_record(self.sessions_table)

    def _session_selected(self) -> None:
        chosen = self.selected_session()
        self.end_button.setEnabled(chosen is not None and not chosen["current"])

    # --- sessions ------------------------------------------------------------------------------------------------

    def end_session_action(self) -> None:
        chosen = self.selected_session()
        if chosen is None or chosen["current"]:
            return
        client = chosen.get("user_agent") or "an unknown client"
        address = chosen.get("client_address") or "an unknown address"
        confirm(self, "End this session?", f"The session of {client} from {address} ends now; it must sign in "
                "again.", "End session",
                lambda: self._end([chosen["id"]]))

    def end_other_sessions_action(self) -> None:
        others = [s["id"] for s in self.sessions.records() if not s["current"]]
        if not others:
            self.show_notice("You are signed in only here: there is no other session to end.")
            return
        confirm(self, "End all other sessions?", f"{len(others)} other session{'s' if len(others) != 1 else ''} "
                "end now (other panels, browsers and devices must sign in again). This panel stays signed in.",
                "End them", lambda: self._end(others), destructive=True)

    def _end(self, ids: list[str]) -> None:
        remaining = list(ids)

        def ended(_=None) -> None:
            remaining.pop()
            if not remaining:
                self.show_notice(f"Ended {len(ids)} session{'s' if len(ids) != 1 else ''}.")
                self.sessions.reload()

        for session_id in ids:
            self.api.delete(f"/api/v1/me/sessions/{session_id}", on_done=ended, on_error=self.show_error)

    # --- password and second factor ------------------------------------------------------------------------------

    def change_password_action(self) -> None:
        self.password_dialog = PasswordDialog(self)
        self.password_dialog.changed.connect(self.changed)
        self.password_dialog.open()

    def second_factor_action(self) -> None:
        self.second_factor_dialog = SecondFactorDialog(self, turning_on=not self.context.user.get("second_factor"))
        self.second_factor_dialog.changed.connect(self.changed)
        self.second_factor_dialog.open()

    def changed(self, text: str) -> None:
        """A dialog changed the account: say so and show it as it now is."""
        self.show_notice(text)
        self.refresh_action()


class PasswordDialog(QDialog):
    """The current password and the new one, twice; `changed` says what changing it did."""

    changed = Signal(str)

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.page = page
        self.setWindowTitle("Change password")
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        note = QLabel("Your other sessions end when the password changes; this panel stays signed in.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.form = FieldForm()
        self.current = self.form.add_password_field("current_password", "Current password")
        self.new = self.form.add_password_field(
            "new_password", "New password", hint="A long passphrase of several words is easiest to remember; the "
                                                 "appliance refuses ones found in breaches or easy to guess.")
        self.repeat = self.form.add_password_field("repeat", "New password again")
        layout.addWidget(self.form)
        buttons = DialogButtons(self, "Change password", self.submit_action)
        self.submit = buttons.action
        layout.addLayout(buttons)

    def submit_action(self) -> None:
        self.form.clear_errors()
        if self.new.text() != self.repeat.text():
            self.form.show_error(ApiError(400, "invalid_request", "the two new passwords are not the same",
                                          named_field="repeat"))
            return
        self.submit.setEnabled(False)
        self.page.api.post("/api/v1/me/password", {"current_password": self.current.text(),
                                                   "new_password": self.new.text()},
                           on_done=self._changed, on_error=self._refused)

    def _changed(self, answer: dict) -> None:
        ended = answer.get("sessions_ended", 0)
        self.accept()
        self.changed.emit(f"Password changed. {ended} other session{'s' if ended != 1 else ''} ended.")

    def _refused(self, error: ApiError) -> None:
        self.submit.setEnabled(True)
        if error.status == 401 and error.code != "signed_out":
            error = error.on_field("current_password")
        self.form.show_error(error)

    def done(self, result: int) -> None:
        for field in (self.current, self.new, self.repeat):
            field.clear()  # never kept longer than the dialog
        super().done(result)


class SecondFactorDialog(QDialog):
    """Turning the second factor on (password, then the QR code and a code from the app, then the recovery codes)
    or off (password); `changed` says what was done."""

    changed = Signal(str)

    def __init__(self, page: Page, *, turning_on: bool) -> None:
        super().__init__(page)
        self.page, self.turning_on = page, turning_on
        self.setWindowTitle("Turn on a second factor" if turning_on else "Turn off the second factor")
        self.setMinimumWidth(500)
        layout = QVBoxLayout(self)
        self.steps = QStackedWidget()
        layout.addWidget(self.steps)

        self.ask = FieldForm()
        explain = QLabel("Enter your password to start: the appliance then shows a code for your authenticator app."
                         if turning_on else "Without a second factor, your password alone signs you in. Enter your "
                         "password to turn it off.")
        explain.setWordWrap(True)
        self.ask.layout_.addRow(explain)
        self.password = self.ask.add_password_field("password", "Password")
        self.steps.addWidget(self.ask)

        self.scan = Enrolment("Scan this with an authenticator app (or type the key), then enter the 6-digit code it "
                              "shows.")
        self.steps.addWidget(self.scan)

        self.codes = RecoveryCodes()
        self.steps.addWidget(self.codes)

        buttons = DialogButtons(self, "Continue" if turning_on else "Turn off", self.submit_action)
        self.cancel_button, self.submit = buttons.cancel, buttons.action
        layout.addLayout(buttons)

    def submit_action(self) -> None:
        step = self.steps.currentWidget()
        api = self.page.api
        if step is self.codes:
            self.accept()
            return
        self.submit.setEnabled(False)
        if step is self.ask and not self.turning_on:
            api.post("/api/v1/me/second-factor/disable", {"password": self.password.text()},
                     on_done=self._turned_off, on_error=self._refused)
        elif step is self.ask:
            api.post("/api/v1/me/second-factor", {"password": self.password.text()}, on_done=self._scanning,
                     on_error=self._refused)
        else:
            api.post("/api/v1/me/second-factor/confirm", {"code": self.scan.code.text().strip(),
                                                          "password": self.password.text()},
                     on_done=self._turned_on, on_error=self._refused)

    def _scanning(self, answer: dict) -> None:
        self.submit.setEnabled(True)
        self.scan.show_pairing(answer)
        self.steps.setCurrentWidget(self.scan)
        self.submit.setText("Turn on")
        self.scan.code.setFocus()

    def _turned_on(self, answer: dict) -> None:
        self.submit.setEnabled(True)
        self.password.clear()
        self.codes.show_codes(answer["recovery_codes"])
        self.steps.setCurrentWidget(self.codes)
        self.submit.setText("I have saved them")
        self.cancel_button.hide()
        self.changed.emit("Second factor on: signing in now asks for a code from your app.")

    def _turned_off(self, _=None) -> None:
        self.accept()
        self.changed.emit("Second factor off: your password alone signs you in.")

    def _refused(self, error: ApiError) -> None:
        self.submit.setEnabled(True)
        form = self.scan if self.steps.currentWidget() is self.scan else self.ask
        if error.status == 401 and error.code != "signed_out":
            error = error.on_field("code" if form is self.scan else "password")
        elif form is self.scan and error.status == 400:
            error = error.on_field("code")
        form.show_error(error)

    def done(self, result: int) -> None:
        self.password.clear()
        super().done(result)
