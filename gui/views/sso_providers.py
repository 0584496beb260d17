"""Sign-in providers (operators): the OpenID Connect providers whose buttons the sign-in screens show and the LDAP /
Active Directory directories people sign in through with their directory password; adding and editing each (a
secret is never shown back), the callback address to register at an OpenID Connect provider, testing a directory's
connection, each one's group-to-role mapping, and removing one."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QLabel

from gui.models.table import Column, RecordsModel
from gui.views.page import Page
from gui.views.sso_group_roles import ROLES, GroupRolesDialog
from gui.views.sso_provider_dialogs import KIND_NAMES, ProviderDialog
from gui.widgets.buttons import action_button
from gui.widgets.dialogs import confirm
from gui.widgets.formatting import day
from gui.widgets.tables import records_table, select_record, selected_record


def where(provider: dict) -> str:
    return provider.get("issuer") or provider.get("url") or ""


def accounts_for(provider: dict) -> str:
    """Who gets an account at their first sign-in through the provider."""
    allowed = [*provider.get("allowed_domains", []), *provider.get("allowed_groups", [])]
    return ", ".join(allowed) if allowed else "existing accounts only"


class SsoProvidersPage(Page):
    title = "Sign-in providers"

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        self.dialog = None
        self.detail: dict | None = None   # GET /sso/providers/{id} for the selected provider
        self.workspace_list: list[dict] = []  # for the mappings' names and the group roles dialog
        self.add_intro("People can sign in with the company's own identities: an OpenID Connect provider adds a "
                       "\"Sign in with …\" button to the sign-in screens, and through a directory (LDAP or Active "
                       "Directory) people use their directory name and password at the usual sign-in. Groups map to "
                       "roles in workspaces, applied at each sign-in.")
        self.providers = RecordsModel([
            Column("name", "Name"),
            Column("kind", "Kind", show=lambda p: KIND_NAMES.get(p["kind"], p["kind"])),
            Column("where", "Issuer or server", show=where, sort=where),
            Column("accounts", "New accounts for", show=accounts_for, sort=accounts_for),
            Column("created_at", "Added", show=lambda p: day(p["created_at"]), sort=lambda p: p["created_at"]),
        ], loader=lambda after, deliver: self.api.get(
            "/api/v1/sso/providers", on_done=lambda a: deliver(a["providers"], None),
            on_error=lambda e: (self.providers.loading_failed(), self.show_error(e))))
        self.table = records_table(self.providers, name="providersTable", stretch=2, owner=self)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.empty = QLabel()
        self.empty.setObjectName("emptyState")
        self.empty.setStyleSheet("color:#5f6b7a;")
        self.details = QLabel()
        self.details.setObjectName("providerDetails")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        actions = QHBoxLayout()
        self.add_oidc_button = action_button("Add OpenID Connect…", lambda: self.add_action("oidc"),
                                             name="addOidc", row=actions)
        self.add_ldap_button = action_button("Add directory…", lambda: self.add_action("ldap"), name="addLdap",
                                             row=actions)
        self.edit_button = action_button("Edit…", self.edit_action, name="editProvider", row=actions)
        self.roles_button = action_button("Group roles…", self.group_roles_action, name="groupRoles", row=actions)
        self.check_button = action_button("Test connection", self.check_action, name="checkProvider", row=actions)
        self.delete_button = action_button("Remove…", self.delete_action, name="deleteProvider", row=actions)
        actions.addStretch(1)
        callback = QHBoxLayout()
        self.callback = QLabel()
        self.callback.setObjectName("callbackUrl")
        self.callback.setWordWrap(True)
        self.callback.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        callback.addWidget(self.callback, 1)
        self.copy_button = action_button("Copy callback address", self.copy_callback_action, name="copyCallback",
                                         row=callback)
        self.body.addLayout(actions)
        self.body.addWidget(self.empty)
        self.body.addWidget(self.table, 1)
        self.body.addWidget(self.details)
        self.body.addLayout(callback)
        self.body.addStretch(0)
        self.providers.modelReset.connect(self._loaded)
        self._selection_changed()

    # --- loading ----------------------------------------------------------------------------------------------

    def refresh_action(self) -> None:
        self.clear_message_unless_kept()
        self.api.get_all("/api/v1/workspaces?all=1", "workspaces", on_done=self._got_workspaces,
                         on_error=lambda e: None)  # without names, mappings show workspace ids
        self.providers.reload()

    def _got_workspaces(self, workspaces: list[dict]) -> None:
        self.workspace_list = workspaces
        self._show_detail()

    def _loaded(self) -> None:
        if self.providers.records():
            self.empty.hide()
        else:
            self.empty.setText("No sign-in providers yet: everyone signs in with an appliance password. Add an "
                               "OpenID Connect provider or a directory.")
            self.empty.show()
        self._selection_changed()

    def selected_provider(self) -> dict | None:
        return selected_record(self.table)

    def _selection_changed(self) -> None:
        provider = self.selected_provider()
        self.detail = None
        self._show_detail()
        if provider is not None:
            self.api.get(f"/api/v1/sso/providers/{provider['id']}", on_done=self._got_detail,
                         on_error=self.show_error)
        self._update_buttons()

    def _got_detail(self, answer: dict) -> None:
        provider = self.selected_provider()
        if provider is not None and provider["id"] == answer["provider"]["id"]:
            self.detail = answer
            self._show_detail()
            self._update_buttons()

    def _show_detail(self) -> None:
        provider = self.selected_provider()
        self.callback.hide()
        self.copy_button.hide()
        if provider is None:
            self.details.setText("Select a provider to see its group roles." if self.providers.rowCount() else "")
            return
        if self.detail is None:
            self.details.setText(f"<b>{provider['name']}</b>")
            return
        names = {w["id"]: w["name"] for w in self.workspace_list}
        mapped = [f"{m['group']} → {ROLES.get(m['role'], m['role'])} in "
                  f"{names.get(m['workspace_id'], m['workspace_id'])}" for m in self.detail["group_roles"]]
        roles = "; ".join(mapped) if mapped else "no group gives a role yet (Group roles…)"
        if provider["kind"] == "oidc":
            password = ("may also sign in with a password" if provider.get("password_login") else
                        "sign in only through it once they have")
            how = f"Its people {password}. Groups from the ID token's {provider.get('groups_claim')} claim"
        else:
            security = "StartTLS" if provider.get("start_tls") else "LDAPS"
            how = (f"Over {security}; people are found under {provider.get('user_base')} by "
                   f"{provider.get('user_filter')}. Groups "
                   + (f"under {provider['group_base']}" if provider.get("group_base") else "are not read"))
        self.details.setText(f"<b>{provider['name']}</b>: {how}: {roles}.")
        if self.detail.get("callback_url"):
            self.callback.setText(f"Callback address to register at the provider: "
                                  f"<code>{self.detail['callback_url']}</code>")
            self.callback.show()
            self.copy_button.show()

    def _update_buttons(self) -> None:
        provider = self.selected_provider()
        self.edit_button.setEnabled(provider is not None)
        self.roles_button.setEnabled(self.detail is not None)
        self.check_button.setEnabled(provider is not None and provider["kind"] == "ldap")
        self.delete_button.setEnabled(provider is not None)

    # --- actions ----------------------------------------------------------------------------------------------

    def add_action(self, kind: str) -> None:
        self.dialog = ProviderDialog(self, kind)
        self.dialog.saved.connect(self._added)
        self.dialog.open()

    def _added(self, answer: dict) -> None:
        provider = answer["provider"]
        if answer.get("callback_url"):
            self.show_notice(f"{provider['name']} was added. Register {answer['callback_url']} as its redirect "
                             "address at the provider; its button then appears on the sign-in screens.")
        else:
            self.show_notice(f"{provider['name']} was added. Test its connection, then map its groups to roles.")
        self._reload_selecting(provider["id"])

    def edit_action(self) -> None:
        provider = self.selected_provider()
        if provider is None:
            return
        self.dialog = ProviderDialog(self, provider["kind"], provider)
        self.dialog.saved.connect(lambda answer: (self.show_notice(f"{answer['provider']['name']} was saved."),
                                                  self._reload_selecting(answer["provider"]["id"])))
        self.dialog.open()

    def group_roles_action(self) -> None:
        provider = self.selected_provider()
        if provider is None or self.detail is None:
            return
        self.dialog = GroupRolesDialog(self, provider, self.detail["group_roles"], self.workspace_list)
        self.dialog.saved.connect(lambda mapped: (
            self.show_notice(f"{provider['name']}: {len(mapped)} group mapping{'s' if len(mapped) != 1 else ''} "
                             "saved; each applies at the member's next sign-in."),
            self._reload_selecting(provider["id"])))
        self.dialog.open()

    def check_action(self) -> None:
        provider = self.selected_provider()
        if provider is None:
            return
        self.check_button.setEnabled(False)
        self.show_notice(f"Connecting to {provider['url']}…")
        self.api.post(f"/api/v1/sso/providers/{provider['id']}/check", on_done=lambda a: self._checked(provider, a),
                      on_error=lambda e: (self.show_error(e), self._update_buttons()))

    def _checked(self, provider: dict, answer: dict) -> None:
        self._update_buttons()
        if answer["ok"]:
            self.show_notice(f"{provider['name']}: {answer['detail']}")
        else:
            self.banner.show_message(f"{provider['name']} could not be reached as set up: {answer['detail']}",
                                     kind="error")

    def copy_callback_action(self) -> None:
        if self.detail and self.detail.get("callback_url"):
            QGuiApplication.clipboard().setText(self.detail["callback_url"])
            self.show_notice("The callback address was copied to the clipboard.")

    def delete_action(self) -> None:
        provider = self.selected_provider()
        if provider is None:
            return
        what = ("Its button leaves the sign-in screens" if provider["kind"] == "oidc" else
                "Its people can no longer sign in with their directory password")
        confirm(self, f"Remove {provider['name']}?",
                f"{what}, and its group mappings are deleted. Accounts made through it stay, with the roles they "
                "have now, but cannot sign in through it any more.",
                "Remove", lambda: self.api.delete(
                    f"/api/v1/sso/providers/{provider['id']}",
                    on_done=lambda _: (self.show_notice(f"{provider['name']} was removed."),
                                       self.providers.reload()),
                    on_error=self.show_error), destructive=True)

    def _reload_selecting(self, provider_id: str) -> None:
        """The providers again (what the banner says stays), with `provider_id` selected once they are in."""
        self.providers.modelReset.connect(self._select_once(provider_id))
        self.providers.reload()

    def _select_once(self, provider_id: str):
        def select() -> None:
            self.providers.modelReset.disconnect(select)
            select_record(self.table, provider_id)
        return select
