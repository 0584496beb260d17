"""The Workspaces screen, as an operator and as a member uses it: creating a workspace with its owner, field errors on
their field, cancelling (the purge date shown, the workspace read-only) and undoing it, the legal hold on and off,
and a member who sees only their own workspaces and is told why their role cannot cancel one."""

from __future__ import annotations

from gui.widgets.formatting import when
from tests.gui.driving import (
    PASSWORD,
    WAIT_MS,
    answer_confirmation,
    idle,
    join,
    new_email,
    new_operator,
    new_workspace,
    open_page,
    signed_in_window,
    text_of,
    unique,
)


def _row(page, workspace_id: str) -> dict[str, str]:
    """What the table shows for the workspace, by column title."""
    model = page.workspaces
    row = next(i for i, w in enumerate(model.records()) if w["id"] == workspace_id)
    return {column.title: model.data(model.index(row, n)) for n, column in enumerate(model.columns)}


def _navigation_sections(window) -> list[str]:
    return [window.navigation.topLevelItem(i).text(0) for i in range(window.navigation.topLevelItemCount())]


def test_an_operator_creates_a_workspace_for_an_owner_and_one_of_their_own_which_joins_the_navigation(
        qtbot, tmp_path, served):
    owner = new_operator(served)
    window = signed_in_window(qtbot, tmp_path, served)
    page = open_page(qtbot, window, "workspaces")
    theirs, mine = unique("Theirs"), unique("Mine")

    page.new_workspace_action()
    dialog = page.create_dialog
    assert "Leave empty to own it yourself" in text_of(dialog)
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
    page = open_page(qtbot, window, "workspaces")
    page.new_workspace_action()
    dialog = page.create_dialog

    for name, owner, field, words in (("", "", "name", "required"), ("x" * 101, "", "name", "at most 100"),
                                      ("Fine name", new_email("nobody"), "owner_email", "no account uses")):
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
    workspace = new_workspace(served, "Ending")
    name = workspace["name"]
    window = signed_in_window(qtbot, tmp_path, served)
    page = open_page(qtbot, window, "workspaces")
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
    own = new_workspace(served, "Held")
    other = new_operator(served)
    theirs = new_workspace(served, "Elsewhere", owner_email=other["email"])
    window = signed_in_window(qtbot, tmp_path, served)
    page = open_page(qtbot, window, "workspaces")

    def save_hold(workspace_id: str, on: bool, reason: str = "") -> None:
        assert page.select(workspace_id) and page.hold_button.isEnabled()
        page.legal_hold_action()
        dialog = page.hold_dialog
        assert "never purged" in text_of(dialog)
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
    theirs = new_workspace(served, "Team")
    new_workspace(served, "Not theirs")
    email, _ = join(qtbot, served, theirs["id"], "admin")
    window = signed_in_window(qtbot, tmp_path, served, email, PASSWORD)

    assert "users" not in window.destinations() and "overview" not in window.destinations()
    page = open_page(qtbot, window, "workspaces")
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
