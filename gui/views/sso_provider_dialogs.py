"""Adding and editing a sign-in provider: an OpenID Connect provider (issuer, client, the groups claim) or an LDAP /
Active Directory directory (LDAPS or StartTLS, the service account, where people and groups are found). One dialog
for both, built from each kind's fields; an edit sends only what changed, and a secret left empty is kept."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QDialog, QFrame, QLabel, QLineEdit, QScrollArea, QWidget

from gui.client.errors import ApiError
from gui.widgets.dialogs import DialogButtons, titled_layout
from gui.widgets.forms import FieldForm

KIND_NAMES = {"oidc": "OpenID Connect provider", "ldap": "LDAP directory"}


@dataclass(frozen=True)
class Setting:
    key: str           # the API's name for it
    label: str
    shape: str = "text"  # text, secret, list (comma-separated), check, optional (empty: none)
    hint: str = ""
    placeholder: str = ""
    has_default: bool = False  # emptied, it keeps what the appliance has (the API refuses an empty one)


_ACCOUNTS = [
    Setting("allowed_domains", "Accounts for domains", "list", placeholder="example.com, corp.example.com",
            hint="Someone without an account gets one at their first sign-in if their address is in one of these "
                 "domains. Empty: only people who already have an account (or an invitation)."),
    Setting("allowed_groups", "Or for groups", "list", placeholder="chat-admins, support",
            hint="The same for members of these groups, whatever their domain."),
]
_CA = Setting("ca_file", "CA certificate", "optional", placeholder="/etc/chatspark/idp-ca.pem",
              hint="A PEM file on the appliance, for a provider whose certificate an internal CA signed. Empty: "
                   "the system's trusted CAs.")
SETTINGS = {
    "oidc": [
        Setting("name", "Name", hint="Shown on the sign-in button: Sign in with <name>."),
        Setting("issuer", "Issuer", placeholder="https://login.example.com/realms/staff",
                hint="The provider's issuer URL (HTTPS); its discovery document is read from there."),
        Setting("client_id", "Client ID"),
        Setting("client_secret", "Client secret", "secret"),
        Setting("groups_claim", "Groups claim", placeholder="groups", has_default=True,
                hint="The ID token claim that lists the person's groups. Empty: groups."),
        _CA,
        *_ACCOUNTS,
        Setting("password_login", "Allow its people to sign in with a password too", "check",
                hint="Off: someone who signed in through this provider can no longer use an appliance password."),
    ],
    "ldap": [
        Setting("name", "Name", hint="For you and the audit log; people sign in at the usual sign-in screen."),
        Setting("url", "Server", placeholder="ldaps://dc1.corp.example.com",
                hint="ldaps://host[:port], or ldap://host[:port] with StartTLS on. A password is never sent "
                     "unencrypted."),
        Setting("start_tls", "Use StartTLS on ldap://", "check"),
        _CA,
        Setting("bind_dn", "Service account", "optional", placeholder="cn=chatspark,ou=services,dc=example,dc=com",
                hint="The DN the appliance binds as to find people. Empty: it searches anonymously."),
        Setting("bind_password", "Its password", "secret"),
        Setting("user_base", "People under", placeholder="ou=people,dc=example,dc=com"),
        Setting("user_filter", "Find a person by", placeholder="(mail={login})", has_default=True,
                hint="An LDAP filter; {login} is what they type at sign-in, e.g. (|(mail={login})(uid={login})) "
                     "or (sAMAccountName={login}) on Active Directory. Empty: (mail={login})."),
        Setting("group_base", "Groups under", "optional", placeholder="ou=groups,dc=example,dc=com",
                hint="Empty: groups are not read, and no group maps to a role."),
        Setting("group_filter", "A person's groups", placeholder="(|(member={dn})(uniqueMember={dn}))",
                has_default=True, hint="An LDAP filter; {dn} is the person's DN. Empty: the one shown."),
        Setting("email_attribute", "Mail attribute", placeholder="mail", has_default=True),
        Setting("name_attribute", "Name attribute", placeholder="cn", has_default=True),
        *_ACCOUNTS,
    ],
}


def _on_field(error: ApiError) -> ApiError:
    """Under Name when the appliance's words are about the name ("a provider's name is required")."""
    if not error.field and error.status == 400 and "provider's name" in error.message:
        return error.on_field("name")
    return error


def _shown(setting: Setting, value) -> str:
    if setting.shape == "list":
        return ", ".join(value or [])
    return value or ""


class ProviderDialog(QDialog):
    """A provider's settings; `saved` carries the API's answer ({provider, callback_url})."""

    saved = Signal(dict)

    def __init__(self, page, kind: str, provider: dict | None = None) -> None:
        super().__init__(page)
        self.api = page.api
        self.kind = kind
        self.provider = provider
        title = f"Edit {provider['name']}" if provider else f"Add an {KIND_NAMES[kind]}"
        layout = titled_layout(self, title, width=640)
        if provider is None:
            note = QLabel("Register the appliance with the provider first (as a confidential web client); its "
                          "callback address is shown once the provider is added." if kind == "oidc" else
                          "People then sign in at the usual sign-in screen with their directory name and password, "
                          "which the appliance checks by binding to the directory and never keeps.")
            note.setWordWrap(True)
            layout.addWidget(note)
        self.form = FieldForm()
        self.fields: dict[str, QWidget] = {}
        for setting in SETTINGS[kind]:
            self.fields[setting.key] = self._add(setting)
        scroll = QScrollArea()
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)
        scroll.setMinimumHeight(min(560, self.form.sizeHint().height() + 8))
        layout.addWidget(scroll, 1)
        buttons = DialogButtons(self, "Save" if provider else "Add", self.submit_action, name="saveProvider")
        self.submit = buttons.action
        layout.addLayout(buttons)

    def _add(self, setting: Setting) -> QWidget:
        current = (self.provider or {}).get(setting.key)
        if setting.shape == "check":
            box = QCheckBox(setting.label)
            box.setChecked(bool(current) if self.provider else setting.key == "password_login")
            return self.form.add_field(setting.key, "", box, hint=setting.hint)
        hint = setting.hint
        if setting.shape == "secret" and self.provider:
            hint = "Leave empty to keep the one the appliance has (it is never shown)."
        line = (self.form.add_password_field(setting.key, setting.label, hint=hint) if setting.shape == "secret"
                else self.form.add_field(setting.key, setting.label, QLineEdit(), hint=hint))
        line.setPlaceholderText(setting.placeholder)
        line.setText(_shown(setting, current))
        return line

    def value(self, setting: Setting):
        field = self.fields[setting.key]
        if setting.shape == "check":
            return field.isChecked()
        text = field.text().strip()
        if setting.shape == "list":
            return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
        if setting.shape == "optional":
            return text or None
        return text

    def _before(self, setting: Setting):
        current = self.provider.get(setting.key)
        if setting.shape == "list":
            return current or []
        if setting.shape == "check":
            return bool(current)
        return current or (None if setting.shape == "optional" else "")

    def request(self) -> dict:
        """What the API is sent: on adding, everything filled in (the API's defaults for the rest); on editing,
        only what changed, and a secret only when one was typed. A required line emptied on editing is sent, so
        that the API says so under it; an emptied line that has a default keeps the value the appliance has."""
        if self.provider is None:
            body = {"kind": self.kind}
            for setting in SETTINGS[self.kind]:
                value = self.value(setting)
                if value not in ("", None, []) or setting.shape == "check":
                    body[setting.key] = value
            return body
        body = {}
        for setting in SETTINGS[self.kind]:
            value = self.value(setting)
            if setting.shape == "secret" or (setting.has_default and not value):
                if value:
                    body[setting.key] = value
            elif value != self._before(setting):
                body[setting.key] = value
        return body

    def submit_action(self) -> None:
        self.form.clear_errors()
        body = self.request()
        if self.provider is not None and not body:
            self.reject()
            return
        self.submit.setEnabled(False)
        if self.provider is None:
            self.api.post("/api/v1/sso/providers", body, on_done=self._saved, on_error=self._refused)
        else:
            self.api.patch(f"/api/v1/sso/providers/{self.provider['id']}", body, on_done=self._saved,
                           on_error=self._refused)

    def _saved(self, answer: dict) -> None:
        self.submit.setEnabled(True)
        self.accept()
        self.saved.emit(answer)

    def _refused(self, error: ApiError) -> None:
        self.submit.setEnabled(True)
        self.form.show_error(_on_field(error))
