"""The Workspaces screen, as an operator and as a member uses it: creating a workspace with its owner, field errors on
their field, cancelling (the purge date shown, the workspace read-only) and undoing it, the legal hold on and off,
and a member who sees only their own workspaces and is told why their role cannot cancel one."""

from __future__ import annotations

import uuid

from PySide6.QtWidgets import QLabel

from gui.widgets.formatting import when
from tests.gui.driving import WAIT_MS, answer_confirmation, idle, link_in, open_page, signed_in_window

PASSWORD = "copper harbour violin 58"



def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def _address(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"


def _operator(served) -> dict:
    status, answer = served.api("POST", "/api/v1/users", {"email": _address("op"), "password": PASSWORD})
    assert status == 201, answer
    return answer["user"]


def _workspace(served, name: str, owner_email: str | None = None) -> dict:
    body = {"name": name, **({"owner_email": owner_email} if owner_email else {})}
    status, answer = served.api("POST", "/api/v1/workspaces", body)
    assert status == 201, answer
    return answer["workspace"]


def _member(qtbot, served, workspace_id: str, role: str) -> str:
    """A new account that joined the workspace with `role` through an invitation, its address verified."""
    email = _address(role)
    status, invited = served.api("POST", f"/api/v1/workspaces/{workspace_id}/invitations",
                                 {"email": email, "role": role})
    assert status == 201, invited
    status, answer = served.running.api("POST", "/api/v1/invitations/accept",
                                        {"token": invited["accept_url"].split("token=")[1], "password": PASSWORD})
    assert status == 200, answer
    found = []
    qtbot.waitUntil(lambda: bool(found.extend(m for m in served.mails_to(email) if "/account/verify?token=" in
                                              m.get_content()) or found), timeout=WAIT_MS)
    status, answer = served.running.api("POST", "/api/v1/auth/verify-email",
                                        {"token": link_in(found[0], "/account/verify")})
    assert status == 200, answer
    return email


def _workspaces_page(qtbot, window):
    page = open_page(qtbot, window, "workspaces")
    idle(qtbot, window.context)
    return page


def _row(page, workspace_id: str) -> dict[str, str]:
    """What the table shows for the workspace, by column title."""
    model = page.workspaces
    row = next(i for i, w in enumerate(model.records()) if w["id"] == workspace_id)
    return {column.title: model.data(model.index(row, n)) for n, column in enumerate(model.columns)}


def _texts(widget) -> str:
    return " ".join(label.text() for label in widget.findChildren(QLabel))


def _navigation_sections(window) -> list[str]:
    return [window.navigation.topLevelItem(i).text(0) for i in range(window.navigation.topLevelItemCount())]


def test_an_operator_creates_a_workspace_for_an_owner_and_one_of_their_own_which_joins_the_navigation(
        qtbot, tmp_path, served):
    owner = _operator(served)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _workspaces_page(qtbot, window)
    theirs, mine = _unique("Theirs"), _unique("Mine")

    page.new_workspace_action()
    dialog = page.create_dialog
    assert "Leave empty to own it yourself" in _texts(dialog)
    dialog.name.setText(theirs)
    dialog.owner_email.setText(owner["email"])
    dialog.create_button.click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT_MS)
    idle(qtbot, window.context)

    status, answer = served.api("GET", "/api/v1/workspaces?all=true&limit=500")
    [created] = [w for w in answer["workspaces"] if w["name"] == theirs]
    assert created["owner"]["email"] == owner["email"] and created["status"] == "active"
    assert owner["email"] in page.banner.label.text()
    assert _row(page, created["id"])["Owner"] == owner["email"]
    assert _row(page, created["id"])["Your role"] == "not a member"
    assert f"team:{created['id']}" not in window.destinations()

    page.new_workspace_action()
    dialog = page.create_dialog
    dialog.name.setText(mine)
    dialog.create_button.click()
    qtbot.waitUntil(lambda: mine in _navigation_sections(window), timeout=WAIT_MS)
    idle(qtbot, window.context)

    status, answer = served.api("GET", "/api/v1/workspaces?all=true&limit=500")
    [own] = [w for w in answer["workspaces"] if w["name"] == mine]
    assert own["owner"]["email"] == window.context.user["email"]
    assert f"team:{own['id']}" in window.destinations()
    assert _row(page, own["id"])["Owner"] == "you" and _row(page, own["id"])["Your role"] == "owner"


def test_a_wrong_name_or_owner_is_shown_under_its_field_and_nothing_is_created(qtbot, tmp_path, served):
    window = signed_in_window(qtbot, tmp_path, served)
    page = _workspaces_page(qtbot, window)
    page.new_workspace_action()
    dialog = page.create_dialog

    for name, owner, field, words in (("", "", "name", "required"), ("x" * 101, "", "name", "at most 100"),
                                      ("Fine name", _address("nobody"), "owner_email", "no account uses")):
        dialog.name.setText(name)
        dialog.owner_email.setText(owner)
        dialog.create_button.click()
        qtbot.waitUntil(lambda f=field: bool(dialog.form.field_error(f)), timeout=WAIT_MS)
        assert words in dialog.form.field_error(field)
        assert dialog.isVisible() and dialog.form.banner.isHidden()

    status, answer = served.api("GET", "/api/v1/workspaces?all=true&limit=500")
    assert "Fine name" not in {w["name"] for w in answer["workspaces"]}
    dialog.reject()


def test_cancelling_shows_the_purge_date_makes_the_workspace_read_only_and_undo_restores_it(qtbot, tmp_path, served):
    name = _unique("Ending")
    workspace = _workspace(served, name)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _workspaces_page(qtbot, window)
    assert page.select(workspace["id"])
    assert page.cancel_button.isEnabled() and not page.undo_button.isEnabled()

    page.cancel_workspace_action()
    asked = answer_confirmation(qtbot, page)
    assert "read-only now" in asked and "purged" in asked and "unless the owner undoes" in asked
    qtbot.waitUntil(lambda: "is cancelled" in page.banner.label.text(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: f"{name} (cancelled)" in _navigation_sections(window), timeout=WAIT_MS)
    idle(qtbot, window.context)

    status, retention = served.api("GET", f"/api/v1/workspaces/{workspace['id']}/retention")
    purge = retention["cancellation"]["purge_after"]
    assert retention["cancellation"]["status"] == "cancelled" and purge
    assert when(purge) in page.banner.label.text()
    status, answer = served.api("PATCH", f"/api/v1/workspaces/{workspace['id']}", {"name": "Changed"})
    assert status == 409 and answer["error"] == "workspace_read_only"
    assert _row(page, workspace["id"])["Status"] == f"cancelled (read-only), purged {when(purge)[:10]}"
    assert page.select(workspace["id"])
    assert "read-only" in page.selection_note.text()
    assert page.undo_button.isEnabled() and not page.cancel_button.isEnabled()

    page.undo_cancellation_action()
    qtbot.waitUntil(lambda: "is undone" in page.banner.label.text(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: name in _navigation_sections(window), timeout=WAIT_MS)
    idle(qtbot, window.context)

    status, answer = served.api("GET", f"/api/v1/workspaces/{workspace['id']}")
    assert answer["workspace"]["status"] == "active"
    assert served.api("PATCH", f"/api/v1/workspaces/{workspace['id']}", {"name": name})[0] == 200
    assert _row(page, workspace["id"])["Status"] == "active"


def test_the_legal_hold_goes_on_and_off_for_an_owner_and_for_an_operator_who_is_not_a_member(qtbot, tmp_path,
                                                                                           served):
    own = _workspace(served, _unique("Held"))
    other = _operator(served)
    theirs = _workspace(served, _unique("Elsewhere"), other["email"])
    window = signed_in_window(qtbot, tmp_path, served)
    page = _workspaces_page(qtbot, window)

    def save_hold(workspace_id: str, on: bool, reason: str = "") -> None:
        assert page.select(workspace_id) and page.hold_button.isEnabled()
        page.legal_hold_action()
        dialog = page.hold_dialog
        assert "never purged" in _texts(dialog)
        dialog.on.setChecked(on)
        dialog.reason.setText(reason)
        dialog.save_button.click()
        qtbot.waitUntil(lambda: not dialog.isVisible() or bool(dialog.form.field_error("reason")), timeout=WAIT_MS)
        idle(qtbot, window.context)

    save_hold(own["id"], True, "x" * 501)
    assert "at most 500" in page.hold_dialog.form.field_error("reason")
    page.hold_dialog.reject()

    save_hold(own["id"], True, "Case 42")
    status, retention = served.api("GET", f"/api/v1/workspaces/{own['id']}/retention")
    assert retention["legal_hold"]["reason"] == "Case 42"
    assert "never purged" in page.banner.label.text()
    assert _row(page, own["id"])["Legal hold"] == "on: Case 42"

    save_hold(own["id"], False)
    status, retention = served.api("GET", f"/api/v1/workspaces/{own['id']}/retention")
    assert retention["legal_hold"] is None and _row(page, own["id"])["Legal hold"] == "off"

    save_hold(theirs["id"], True, "Authority request")
    owner_token = served.token(other["email"], PASSWORD)
    status, retention = served.api("GET", f"/api/v1/workspaces/{theirs['id']}/retention", token=owner_token)
    assert retention["legal_hold"]["reason"] == "Authority request"
    save_hold(theirs["id"], False)
    status, retention = served.api("GET", f"/api/v1/workspaces/{theirs['id']}/retention", token=owner_token)
    assert retention["legal_hold"] is None


def test_a_member_sees_only_their_workspaces_no_users_page_and_why_their_role_cannot_cancel(qtbot, tmp_path,
                                                                                          served):
    theirs = _workspace(served, _unique("Team"))
    _workspace(served, _unique("Not theirs"))
    email = _member(qtbot, served, theirs["id"], "admin")
    window = signed_in_window(qtbot, tmp_path, served, email, PASSWORD)

    assert "users" not in window.destinations() and "overview" not in window.destinations()
    page = _workspaces_page(qtbot, window)
    assert [w["id"] for w in page.workspaces.records()] == [theirs["id"]]
    assert not page.new_button.isVisible()
    assert page.select(theirs["id"])
    assert not page.cancel_button.isEnabled() and page.hold_button.isEnabled()
    assert "Only" in page.selection_note.text() and "admin" in page.selection_note.text()

    page.cancel_workspace_action()  # as if the button had been clicked before the role changed
    answer_confirmation(qtbot, page)
    qtbot.waitUntil(lambda: page.banner.kind == "error" and not page.banner.isHidden(), timeout=WAIT_MS)
    assert page.banner.label.text().startswith("Your role, admin, cannot do this.")
    status, answer = served.api("GET", f"/api/v1/workspaces/{theirs['id']}")
    assert answer["workspace"]["status"] == "active"
