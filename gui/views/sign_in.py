"""Signing in: email and password, then the second factor's code (or a recovery code) when the account has one, and
enrolment (a QR code, recovery codes shown once) when the appliance requires a second factor for the account; or
single sign-on in the system browser, when the appliance offers a provider."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QStackedWidget, QWidget

from gui.client.api import ApiClient
from gui.client.errors import ApiError
from gui.views.sign_in_sso import SsoButtons
from gui.widgets.dialogs import DialogButtons, titled_layout
from gui.widgets.forms import FieldForm
from gui.widgets.second_factor import Enrolment, RecoveryCodes


class SignInDialog(QDialog):
    """Signs in to the API client's appliance; on accept, the client holds the new session token."""

    def __init__(self, api: ApiClient, *, email: str = "", reason: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.api = api
        self.login_answer: dict | None = None
        self._device_token: str | None = None
        layout = titled_layout(self, "Sign in", width=460, heading=f"Sign in to {api.base_url}")
        self.reason = QLabel(reason)
        self.reason.setWordWrap(True)
        self.reason.setVisible(bool(reason))
        layout.addWidget(self.reason)
        # Above the password form: where the appliance offers single sign-on, most people use it.
        self.sso = SsoButtons(api, on_token=self._sso_signed_in, on_error=lambda error: self.form.show_error(error),
                              on_directory=self._directory_sign_in)
        layout.addWidget(self.sso)
        self.steps = QStackedWidget()
        layout.addWidget(self.steps)

        self.form = FieldForm()
        self.email = self.form.add_field("email", "Email", QLineEdit(email))
        self.password = self.form.add_password_field("password", "Password")
        self.code = QLineEdit()
        self.code.setPlaceholderText("6 digits from your authenticator app, or a recovery code")
        self.code_row = self.form.add_field("totp_code", "Code", self.code)
        self.form.layout_.setRowVisible(2, False)
        self.steps.addWidget(self.form)

        self.enrol = Enrolment("This appliance requires a second factor for your role. Scan the code with an "
                               "authenticator app (or type the key), then enter the 6-digit code it shows.")
        self.steps.addWidget(self.enrol)

        self.codes_page = RecoveryCodes()
        self.steps.addWidget(self.codes_page)

        buttons = DialogButtons(self, "Sign in", self.submit_action, name="signIn")
        self.cancel_button, self.submit = buttons.cancel, buttons.action
        layout.addLayout(buttons)
        (self.password if email else self.email).setFocus()

    def _directory_sign_in(self) -> None:
        """A directory signs people in: its people may type their user name there instead of an address."""
        self.form.set_label("email", "Email or user name")
        self.email.setPlaceholderText("you@example.com, or your directory user name")

    def submit_action(self) -> None:
        page = self.steps.currentWidget()
        if page is self.form:
            self._log_in()
        elif page is self.enrol:
            self._confirm_enrolment()
        else:
            self.accept()

    def _log_in(self) -> None:
        body = {"email": self.email.text().strip(), "password": self.password.text()}
        code = self.code.text().strip()
        if code:
            body["totp_code" if code.isdigit() else "recovery_code"] = code
        if self._device_token:
            body["device_token"] = self._device_token
        self.submit.setEnabled(False)
        self.form.clear_errors()
        self.api.post("/api/v1/auth/login", body, on_done=self._logged_in, on_error=self._refused)

    def _logged_in(self, answer: dict) -> None:
        self.submit.setEnabled(True)
        self.api.set_token(answer["token"])
        self._device_token = answer.get("device_token") or self._device_token
        self.login_answer = answer
        if answer.get("second_factor_enrolment_required"):
            self.api.post("/api/v1/me/second-factor", {"password": self.password.text()},
                          on_done=self._enrolling, on_error=self._refused)
            return
        self.accept()

    def _refused(self, error: ApiError) -> None:
        self.submit.setEnabled(True)
        if error.code == "second_factor_required":
            self.form.layout_.setRowVisible(2, True)
            self.form.banner.show_message("Enter the code from your authenticator app, or one of your recovery "
                                          "codes.", kind="info")
            self.code.setFocus()
            return
        if self.steps.currentWidget() is self.enrol:
            self.enrol.show_error(error)
        else:
            self.form.show_error(error)

    def _enrolling(self, answer: dict) -> None:
        self.steps.setCurrentWidget(self.enrol)
        self.enrol.show_pairing(answer)
        self.submit.setText("Turn on")
        self.enrol.code.setFocus()

    def _confirm_enrolment(self) -> None:
        self.submit.setEnabled(False)
        self.api.post("/api/v1/me/second-factor/confirm",
                      {"code": self.enrol.code.text().strip(), "password": self.password.text()},
                      on_done=self._enrolled, on_error=self._refused)

    def _enrolled(self, answer: dict) -> None:
        self.submit.setEnabled(True)
        self.password.clear()
        self.codes_page.show_codes(answer["recovery_codes"])
        self.steps.setCurrentWidget(self.codes_page)
        self.submit.setText("I have saved them")
        self.cancel_button.hide()

    def _sso_signed_in(self, token: str) -> None:
        self.api.set_token(token)
        self.api.get("/api/v1/me", on_done=self._sso_me, on_error=self.form.show_error)

    def _sso_me(self, me: dict) -> None:
        self.email.setText(me["user"]["email"])
        self.login_answer = {"user": me["user"], "single_sign_on": True}  # the token is the API client's now
        self.accept()

    def done(self, result: int) -> None:
        self.password.clear()  # never kept longer than the dialog
        self.sso.close_waiter()
        super().done(result)
