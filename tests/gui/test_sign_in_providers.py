"""The Sign-in providers screen, end to end against a real appliance and a real OpenLDAP directory: an operator adds
an OpenID Connect provider and copies the callback address the appliance gives, edits it without retyping its
secret, adds a directory (a plain ldap:// bind is refused on its field) and tests its connection, both working and
broken, maps a group to a role in a workspace, which a person of that group then gets at sign-in, and removes a
provider. People who are not operators never see the screen."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QGuiApplication

from gui.views.sso_group_roles import GroupRolesDialog
from gui.views.sso_provider_dialogs import ProviderDialog
from gui.views.sso_providers import SsoProvidersPage
from gui.views.user_directory import HandToDirectoryDialog
from tests.gui.driving import (
    PASSWORD,
    WAIT_MS,
    answer_confirmation,
    idle,
    join,
    new_panel,
    new_workspace,
    open_dialog,
    open_page,
    pin,
    select_row,
    sign_in,
    signed_in_window,
    text_of,
    unique,
)
from tests.ldap_server import ADMIN_DN, ADMIN_PASSWORD, GROUPS, PEOPLE, running_directory


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    with running_directory(tmp_path_factory.mktemp("slapd")) as running:
        yield running


def _page(qtbot, window) -> SsoProvidersPage:
    return open_page(qtbot, window, "sign_in_providers")


def _provider(served, name: str) -> dict | None:
    status, body = served.api("GET", "/api/v1/sso/providers")
    assert status == 200, body
    return next((p for p in body["providers"] if p["name"] == name), None)


def _fill(dialog: ProviderDialog, **values) -> None:
    for key, value in values.items():
        field = dialog.fields[key]
        if isinstance(value, bool):
            field.setChecked(value)
        else:
            field.setText(value)


def _add(qtbot, page: SsoProvidersPage, kind: str, **values) -> ProviderDialog:
    (page.add_oidc_button if kind == "oidc" else page.add_ldap_button).click()
    dialog = open_dialog(qtbot, page, ProviderDialog)
    _fill(dialog, **values)
    dialog.submit.click()
    idle(qtbot, page.context)
    return dialog


def _select(qtbot, page: SsoProvidersPage, name: str) -> dict:
    select_row(page.table, lambda p: p["name"] == name)
    qtbot.waitUntil(lambda: page.detail is not None, timeout=WAIT_MS)
    return page.selected_provider()


def _directory_values(directory, name: str, **changes) -> dict:
    return {"name": name, "url": directory.ldaps_url, "ca_file": directory.ca_file, "bind_dn": ADMIN_DN,
            "bind_password": ADMIN_PASSWORD, "user_base": PEOPLE, "user_filter": "(|(mail={login})(uid={login}))",
            "group_base": GROUPS, "allowed_domains": "example.org", **changes}


def test_an_openid_connect_provider_is_added_its_callback_copied_and_edited_keeping_its_secret(qtbot, tmp_path,
                                                                                           served):
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window)
    name = unique("Staff login")

    dialog = _add(qtbot, page, "oidc", name=name, issuer="https://login.example.com/realms/staff",
                  client_id="chatspark", client_secret="s3cret-from-the-idp",
                  allowed_domains="Example.com, corp.example.com")

    assert not dialog.isVisible()
    made = _provider(served, name)
    assert made["issuer"] == "https://login.example.com/realms/staff" and made["client_id"] == "chatspark"
    assert made["allowed_domains"] == ["corp.example.com", "example.com"] and made["password_login"] is True
    qtbot.waitUntil(lambda: page.detail is not None and page.selected_provider()["name"] == name, timeout=WAIT_MS)
    callback = served.api("GET", f"/api/v1/sso/providers/{made['id']}")[1]["callback_url"]
    assert callback.endswith(f"/sso/{made['id']}/callback")
    assert "Register " + callback in page.banner.label.text() and callback in page.callback.text()
    page.copy_button.click()
    assert QGuiApplication.clipboard().text() == callback

    page.edit_button.click()
    edit = open_dialog(qtbot, page, ProviderDialog)
    assert edit.fields["client_secret"].text() == "" and edit.fields["issuer"].text() == made["issuer"]
    assert "keep the one the appliance has" in text_of(edit)
    _fill(edit, name=name + " (staff)", password_login=False, groups_claim="")
    assert edit.request() == {"name": name + " (staff)", "password_login": False}
    edit.submit.click()
    idle(qtbot, page.context)

    changed = _provider(served, name + " (staff)")
    assert changed["id"] == made["id"] and changed["password_login"] is False and changed["groups_claim"] == "groups"
    status, audit = served.api("GET", "/api/v1/audit?action=sso.provider_update&limit=50")
    fields = next(e["details"]["fields"] for e in audit["events"] if e["target_id"] == made["id"])
    assert fields == ["name", "password_login"]  # the secret was not sent, so it was kept


def test_a_refused_setting_is_shown_under_its_field_and_nothing_is_added(qtbot, tmp_path, served, directory):
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window)
    name = unique("Plain directory")

    dialog = _add(qtbot, page, "ldap", **_directory_values(directory, name, url=directory.starttls_url))

    assert dialog.isVisible() and "never sent unencrypted" in dialog.form.field_error("url")
    assert _provider(served, name) is None
    _fill(dialog, start_tls=True, user_filter="(uid=nobody)")
    dialog.submit.click()
    idle(qtbot, page.context)
    assert dialog.isVisible() and "{login}" in dialog.form.field_error("user_filter")
    assert dialog.form.field_error("url") == "" and _provider(served, name) is None
    dialog.reject()


def test_a_directory_is_added_its_connection_tested_and_a_broken_one_says_why(qtbot, tmp_path, served, directory):
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window)
    name = unique("Corp directory")

    _add(qtbot, page, "ldap", **_directory_values(directory, name))
    made = _provider(served, name)
    assert made["kind"] == "ldap" and made["url"] == directory.ldaps_url and "bind_password" not in made
    assert "Test its connection" in page.banner.label.text()
    _select(qtbot, page, name)
    assert page.check_button.isEnabled() and not page.callback.isVisible()
    assert "Over LDAPS" in page.details.text() and PEOPLE in page.details.text()

    page.check_button.click()
    qtbot.waitUntil(lambda: "Connecting" not in page.banner.label.text(), timeout=WAIT_MS)
    assert page.banner.kind == "info", page.banner.label.text()

    page.edit_button.click()
    edit = open_dialog(qtbot, page, ProviderDialog)
    _fill(edit, bind_password="not the service account's password")
    assert edit.request() == {"bind_password": "not the service account's password"}
    edit.submit.click()
    idle(qtbot, page.context)
    _select(qtbot, page, name)
    page.check_button.click()
    qtbot.waitUntil(lambda: "Connecting" not in page.banner.label.text(), timeout=WAIT_MS)
    assert page.banner.kind == "error" and "could not be reached as set up" in page.banner.label.text()
    served.api("DELETE", f"/api/v1/sso/providers/{made['id']}")  # the other tests' people sign in elsewhere


def test_a_group_mapped_in_the_panel_gives_its_role_at_sign_in_and_a_removed_provider_is_gone(qtbot, tmp_path, served,
                                                                                              directory):
    workspace = new_workspace(served, "Support")
    uid = unique("grace").lower()
    person_dn = directory.add_person(uid, password="copper ridge falcon 77", mail=f"{uid}@example.org")
    group = unique("support")
    directory.set_group(group, [person_dn])
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window)
    name = unique("Mapped directory")
    _add(qtbot, page, "ldap", **_directory_values(directory, name))
    provider = _select(qtbot, page, name)
    assert "no group gives a role yet" in page.details.text()

    page.roles_button.click()
    dialog = open_dialog(qtbot, page, GroupRolesDialog)
    dialog.add_button.click()
    dialog.table.cellWidget(0, 0).setText(group)
    dialog.table.cellWidget(0, 1).setCurrentIndex(dialog.table.cellWidget(0, 1).findData(workspace["id"]))
    dialog.table.cellWidget(0, 2).setCurrentIndex(dialog.table.cellWidget(0, 2).findData("editor"))
    dialog.add_button.click()  # an empty row is left out
    dialog.submit.click()
    idle(qtbot, page.context)
    qtbot.waitUntil(lambda: page.detail is not None and bool(page.detail["group_roles"]), timeout=WAIT_MS)

    assert f"{group} → Editor in {workspace['name']}" in page.details.text()
    # The person signs in to the panel by their directory user name, and finds the workspace their group maps to.
    (tmp_path / "person").mkdir()
    panel = new_panel(tmp_path / "person", served)
    qtbot.addWidget(panel.connect_dialog)
    pin(qtbot, panel)
    qtbot.waitUntil(lambda: panel.sign_in_dialog is not None and
                    panel.sign_in_dialog.form.label("email") == "Email or user name", timeout=WAIT_MS)
    sign_in(qtbot, panel, uid, "copper ridge falcon 77")
    qtbot.waitUntil(lambda: panel.window is not None and bool(panel.window.destinations()), timeout=WAIT_MS)
    qtbot.addWidget(panel.window)
    assert f"agents:{workspace['id']}" in panel.window.destinations()
    assert "sign_in_providers" not in panel.window.destinations()
    status, members = served.api("GET", f"/api/v1/workspaces/{workspace['id']}/members")
    assert {m["email"]: m["role"] for m in members["members"]}[f"{uid}@example.org"] == "editor"

    page.roles_button.click()
    dialog = open_dialog(qtbot, page, GroupRolesDialog)
    assert dialog.table.cellWidget(0, 0).text() == group
    dialog.table.selectRow(0)
    dialog.remove_button.click()
    dialog.submit.click()
    idle(qtbot, page.context)
    qtbot.waitUntil(lambda: page.detail is not None and not page.detail["group_roles"], timeout=WAIT_MS)
    status, shown = served.api("GET", f"/api/v1/sso/providers/{provider['id']}")
    assert shown["group_roles"] == []

    page.delete_button.click()
    said = answer_confirmation(qtbot, page)
    idle(qtbot, page.context)
    assert "group mappings are deleted" in said and _provider(served, name) is None
    assert name not in [p["name"] for p in page.providers.records()]
    assert f"{name} was removed." in page.banner.label.text()


def test_an_account_with_its_own_password_is_handed_to_a_directory_from_the_users_screen(qtbot, tmp_path, served,
                                                                                         directory):
    email, user_id = join(qtbot, served, new_workspace(served, "Handed")["id"], "viewer")
    uid = email.split("@")[0].lower()
    directory.add_person(uid, password="quiet harbour lantern 31", mail=email)
    status, made = served.api("POST", "/api/v1/sso/providers", {
        **directory.settings(name=unique("Hand-over directory")), "allowed_domains": ["example.com"]})
    assert status == 201, made
    window = signed_in_window(qtbot, tmp_path, served)
    page = open_page(qtbot, window, "users")
    select_row(page.table, lambda u: u["id"] == user_id)
    assert page.directory_button.isEnabled()

    page.directory_button.click()
    dialog = open_dialog(qtbot, page, HandToDirectoryDialog)
    dialog.directory.setCurrentIndex(dialog.directory.findData(made["provider"]["id"]))
    dialog.submit.click()
    idle(qtbot, page.context)

    assert not dialog.isVisible() and "now signs in with their directory password" in page.banner.label.text()
    assert served.running.api("POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})[0] == 401
    status, signed_in = served.running.api("POST", "/api/v1/auth/login",
                                           {"email": uid, "password": "quiet harbour lantern 31"})
    assert status == 200 and signed_in["user"]["id"] == user_id
    page.directory_button.click()
    dialog = open_dialog(qtbot, page, HandToDirectoryDialog)
    dialog.submit.click()
    idle(qtbot, page.context)
    assert dialog.isVisible() and "already signs in through" in dialog.banner.label.text()
    dialog.reject()
    select_row(page.table, lambda u: u["is_operator"])
    assert not page.directory_button.isEnabled()  # an operator keeps their own password
    served.api("DELETE", f"/api/v1/sso/providers/{made['provider']['id']}")


def test_only_operators_see_the_screen(qtbot, tmp_path, served):
    email, _ = join(qtbot, served, new_workspace(served, "Members")["id"], "admin")
    window = signed_in_window(qtbot, tmp_path, served, email, PASSWORD)
    assert "sign_in_providers" not in window.destinations()
    assert window.open("sign_in_providers") is None
