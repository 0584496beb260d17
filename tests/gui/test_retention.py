"""Retention & requests, driven as an administrator would against a real appliance: the policy's preview is what the
retention sweep then deletes, a legal hold keeps the sweep off, an erasure by email removes that person's data and
its receipt is saved, and who may not change the policy sees it read-only (or, below the role that may read it, not
at all). The exports are in test_retention_exports.py."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from contextlib import contextmanager

from appliance import settings as settings_module
from appliance.bootstrap import open_appliance
from appliance.clock import FixedClock
from appliance.conversations.chat import Visitor
from appliance.services import build_services
from appliance.storage.layout import Layout
from gui.views.retention import RetentionPage
from gui.views.retention_history import describe_event
from gui.views.retention_requests import ErasureDialog
from gui.widgets.formatting import when
from tests.gui.driving import (
    PASSWORD,
    WAIT_MS,
    answer_confirmation,
    idle,
    join,
    new_email,
    new_workspace,
    open_dialog,
    save_to,
    signed_in_window,
)
from tests.gui.retention_driving import (
    ORIGIN,
    new_agent,
    retention_page,
    visit,
)
from tests.gui.test_responsiveness import Ticks

# --- made through the API and the widget ---------------------------------------------------------------------------


@contextmanager
def _appliance_days_ago(served, days: int):
    """The appliance's services with their clock `days` back: what a visitor did then (the served appliance keeps
    the real time, and retention counts days)."""
    layout = Layout.of(served.running.data_dir, served.running.key_dir)
    then = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
    appliance = open_appliance(layout, clock=FixedClock(then))
    try:
        services = build_services(appliance, settings_module.load(environ={}))
        try:
            yield services
        finally:
            services.knowledge.close()
    finally:
        appliance.close()


def _earlier_visit(served, workspace: str, agent: dict, days: int, *, email: str | None = None) -> str:
    """A widget conversation (one question and its reply) and its lead, as they were stored `days` ago."""
    with _appliance_days_ago(served, days) as services:
        found = services.agents.of(workspace).get(agent["id"])
        visitor = Visitor(f"visitor-{uuid.uuid4().hex[:8]}", ORIGIN, f"{ORIGIN}/pricing", "203.0.113.7")
        conversation = services.conversations.chat(workspace).ask(
            found, "When are you open?", conversation_id=uuid.uuid4().hex, visitor=visitor)
        if email:
            services.conversations.leads(workspace).submit(
                found, conversation_id=conversation.conversation_id, visitor=visitor, fields={"email": email},
                consent=True, consent_version=found.consent_version)
        return conversation.conversation_id


def _conversations(served, workspace: str) -> set[str]:
    status, body = served.api("GET", f"/api/v1/workspaces/{workspace}/conversations?limit=200")
    assert status == 200, body
    return {c["id"] for c in body["conversations"]}


def _lead_emails(served, workspace: str) -> set[str]:
    status, body = served.api("GET", f"/api/v1/workspaces/{workspace}/leads?limit=200")
    assert status == 200, body
    return {lead["email"] for lead in body["leads"]}


def _sweep(qtbot, served) -> dict:
    """Run the retention sweep through the jobs API and wait for its run; what it reported."""
    status, body = served.api("POST", "/api/v1/jobs/retention_sweep/run")
    assert status == 202, body
    run_id, finished = body["run"]["id"], []

    def done() -> bool:
        status, runs = served.api("GET", "/api/v1/jobs/runs?job=retention_sweep&limit=20")
        finished[:] = [r for r in runs["runs"] if r["id"] == run_id and r["outcome"] != "running"]
        return bool(finished)

    qtbot.waitUntil(done, timeout=WAIT_MS)
    assert finished[0]["outcome"] == "success", finished[0]
    return finished[0]["summary"]


# --- driving the page ----------------------------------------------------------------------------------------------

def _set_days(page: RetentionPage, kind: str, days: int | None) -> None:
    row = page.policy.kinds[kind]
    row.limited.setChecked(days is not None)
    if days is not None:
        row.days.setValue(days)


def _previewed(qtbot, page: RetentionPage) -> str:
    qtbot.waitUntil(lambda: page.preview is not None and page.preview["policy"] == page.policy.policy(),
                    timeout=WAIT_MS)
    return page.preview_line.text()


def _apply(qtbot, served, page: RetentionPage) -> str:
    page.apply_button.click()
    said = answer_confirmation(qtbot, page)
    qtbot.waitUntil(lambda: page.banner.label.text().startswith("The retention policy is applied"), timeout=WAIT_MS)
    idle(qtbot, page.context)
    return said



# --- the policy ----------------------------------------------------------------------------------------------------

def test_the_preview_the_panel_shows_is_what_the_sweep_then_deletes(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Retention")["id"]
    agent = new_agent(served, workspace)
    old = {_earlier_visit(served, workspace, agent, 4, email=new_email("old")),
           _earlier_visit(served, workspace, agent, 3)}
    recent_email = new_email("recent")
    recent = visit(served, agent, "Do you ship abroad?", email=recent_email)
    window = signed_in_window(qtbot, tmp_path, served)
    page = retention_page(qtbot, window, workspace)
    assert page.current.text() == ("In force: Everything is kept while the workspace is active: no retention limit "
                                   "is set. Tick Delete after for a kind to set a limit.")
    assert not page.apply_button.isEnabled()

    _set_days(page, "conversations_days", 2)
    _set_days(page, "leads_days", 2)
    shown = _previewed(qtbot, page)
    said = _apply(qtbot, served, page)
    previewed = page.applied  # the preview the confirmation quoted

    assert shown == "If applied now: 2 conversations, 4 messages and 1 lead will be deleted."
    assert said.startswith("2 conversations, 4 messages and 1 lead will be deleted. Deleted: conversations after "
                           "2 days; leads after 2 days.")
    status, retention = served.api("GET", f"/api/v1/workspaces/{workspace}/retention")
    assert (retention["policy"]["conversations_days"], retention["policy"]["leads_days"]) == (2, 2)
    assert page.current.text().startswith("In force: Deleted: conversations after 2 days; leads after 2 days.")
    report = _sweep(qtbot, served)
    assert report["deleted"][workspace] == previewed["would_delete"]
    assert _conversations(served, workspace) == {recent} and not old & _conversations(served, workspace)
    assert _lead_emails(served, workspace) == {recent_email}
    page.refresh_action()
    qtbot.waitUntil(lambda: page.history.model.rowCount() == 2, timeout=WAIT_MS)
    assert [describe_event(e) for e in page.history.model.records()] == [
        "The retention sweep deleted 2 conversations, 4 messages, 1 lead.",
        "Policy changed. Deleted: conversations after 2 days; leads after 2 days. Everything else is kept while the "
        "workspace is active."]


def test_a_legal_hold_set_on_the_page_stops_the_sweep_deleting(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Held")["id"]
    agent = new_agent(served, workspace)
    kept = _earlier_visit(served, workspace, agent, 5, email=new_email("held"))
    window = signed_in_window(qtbot, tmp_path, served)
    page = retention_page(qtbot, window, workspace)
    assert page.workspace_state.hold.text() == "Legal hold: off."

    page.workspace_state.hold_button.click()
    dialog = page.workspace_state.hold_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT_MS)
    dialog.on.setChecked(True)
    dialog.reason.setText("Case 2026-118")
    dialog.save_button.click()
    qtbot.waitUntil(lambda: page.workspace_state.hold.text().startswith("Legal hold: on since"), timeout=WAIT_MS)
    _set_days(page, "conversations_days", 1)
    _set_days(page, "leads_days", 1)
    shown = _previewed(qtbot, page)
    _apply(qtbot, served, page)
    report = _sweep(qtbot, served)

    assert "Case 2026-118" in page.workspace_state.hold.text()
    assert shown == ("If applied now: The workspace is on legal hold: nothing is deleted until it is lifted. Then: "
                     "1 conversation, 2 messages and 1 lead will be deleted.")
    assert workspace in report["held"] and workspace not in report["deleted"]
    assert _conversations(served, workspace) == {kept} and len(_lead_emails(served, workspace)) == 1


def test_a_policy_out_of_bounds_cannot_be_typed_and_revert_restores_the_one_in_force(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Bounds")["id"]
    window = signed_in_window(qtbot, tmp_path, served)
    page = retention_page(qtbot, window, workspace)
    days = page.policy.kinds["visitor_addresses_days"].days

    _set_days(page, "visitor_addresses_days", 9000)
    page.policy.address_action.setCurrentIndex(page.policy.address_action.findData("drop"))
    _previewed(qtbot, page)
    assert (days.value(), page.policy.policy()["visitor_addresses_action"]) == (3650, "drop")
    assert page.revert_button.isEnabled() and page.apply_button.isEnabled()
    page.revert_button.click()

    assert page.policy.policy() == page.retention["policy"]
    assert not page.apply_button.isEnabled()


# --- people's requests ---------------------------------------------------------------------------------------------

def test_an_erasure_by_email_removes_that_persons_data_and_its_receipt_is_shown_and_saved(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Erasure")["id"]
    agent = new_agent(served, workspace)
    subject, other = new_email("subject"), new_email("other")
    theirs = {visit(served, agent, "What does the plan cost?", email=subject),
              visit(served, agent, f"Please write to {subject} about it")}
    others = visit(served, agent, "Where is the office?", email=other)
    window = signed_in_window(qtbot, tmp_path, served)
    page = retention_page(qtbot, window, workspace)
    receipt_file = tmp_path / "receipt.json"

    page.eraseRequest_button.click()
    dialog = open_dialog(qtbot, page, ErasureDialog)
    dialog.email.setText(subject.upper())
    assert not dialog.erase_button.isEnabled()
    dialog.find_button.click()
    qtbot.waitUntil(lambda: dialog.preview is not None, timeout=WAIT_MS)
    found = dialog.found.toPlainText()
    assert _conversations(served, workspace) >= theirs  # nothing erased by finding
    dialog.erase_button.click()
    with Ticks() as ticks:  # the erasure runs off the UI thread: the window keeps ticking meanwhile
        said = answer_confirmation(qtbot, dialog)
        qtbot.waitUntil(lambda: dialog.receipt is not None, timeout=WAIT_MS)
    assert ticks.longest_gap < 0.100
    dialog.save_button.click()
    save_to(qtbot, dialog.file_dialog, receipt_file)
    qtbot.waitUntil(receipt_file.exists, timeout=WAIT_MS)
    idle(qtbot, page.context)

    assert "In all: 1 lead, 2 conversations, 4 messages and 2 analytics questions would be erased." in found
    assert subject in found  # the preview names what matched, so the admin can check it
    assert said.startswith("1 lead, 2 conversations, 4 messages and 2 analytics questions will be erased for good")
    assert f"Erasure {dialog.receipt['erasure_id']}" in dialog.found.toPlainText()
    assert json.loads(receipt_file.read_text()) == dialog.receipt
    assert subject not in receipt_file.read_text()  # the receipt names the person by a hash only
    assert dialog.form.banner.label.text() == f"The receipt was saved to {receipt_file}."
    assert _conversations(served, workspace) == {others}
    assert _lead_emails(served, workspace) == {other}
    assert page.banner.label.text().startswith(f"Erasure {dialog.receipt['erasure_id']} done")


# --- the workspace's state, and who may change what ----------------------------------------------------------------

def test_the_owner_cancels_and_undoes_from_the_page_with_the_purge_date_shown(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Cancelled")["id"]
    window = signed_in_window(qtbot, tmp_path, served)
    page = retention_page(qtbot, window, workspace)
    state = page.workspace_state
    assert state.state.text().startswith("Active.") and not state.undo_button.isEnabled()

    state.cancel_button.click()
    said = answer_confirmation(qtbot, page)
    qtbot.waitUntil(lambda: page.read_only and page.retention["cancellation"]["status"] == "cancelled",
                    timeout=WAIT_MS)
    idle(qtbot, page.context)
    status, retention = served.api("GET", f"/api/v1/workspaces/{workspace}/retention")
    shown, notice = state.state.text(), page.banner.label.text()
    read_only = (page.policy.kinds["conversations_days"].limited.isEnabled(), page.preview_button.isEnabled(),
                 state.hold_button.isEnabled(), page.workspaceExport_button.isEnabled(), state.undo_button.isEnabled())
    state.undo_button.click()
    qtbot.waitUntil(lambda: page.retention["cancellation"]["status"] == "active" and not page.read_only,
                    timeout=WAIT_MS)

    assert "becomes read-only now" in said and "The owner is told by mail." in said
    purge = when(retention["cancellation"]["purge_after"])
    assert shown == (f"Cancelled since {when(retention['cancellation']['cancelled_at'])}: read-only. It is purged "
                     f"after {purge}, with everything in it; the owner can undo the cancellation until then.")
    assert notice.endswith(f"is cancelled and read-only. It is purged after {purge} unless the cancellation is "
                           "undone before then.")
    assert read_only == (False, False, True, True, True)
    assert page.banner.label.text().startswith("The cancellation of")
    assert state.state.text().startswith("Active.") and page.policy.kinds["conversations_days"].limited.isEnabled()
    assert served.api("GET", f"/api/v1/workspaces/{workspace}/retention")[1]["cancellation"]["status"] == "active"


def test_an_admin_of_a_cancelled_workspace_sees_the_policy_read_only(qtbot, tmp_path, served):
    workspace = new_workspace(served, "ReadOnly")["id"]
    status, _ = served.api("PUT", f"/api/v1/workspaces/{workspace}/retention", {"policy": {"leads_days": 30}})
    assert status == 200
    email, _ = join(qtbot, served, workspace, "admin")
    status, cancelled = served.api("POST", f"/api/v1/workspaces/{workspace}/cancel")
    assert status == 200, cancelled
    window = signed_in_window(qtbot, tmp_path, served, email, PASSWORD)
    page = retention_page(qtbot, window, workspace)

    assert page.read_only and page.read_only_notice.isVisible()
    assert page.policy.kinds["leads_days"].value() == 30
    assert not page.policy.kinds["leads_days"].limited.isEnabled() and not page.preview_button.isEnabled()
    assert not page.workspace_state.cancel_button.isEnabled() and not page.workspace_state.undo_button.isEnabled()
    assert page.workspace_state.note.text() == ("Only the owner can cancel this workspace or undo its cancellation; "
                                                "your role is admin.")
    assert page.policy_note.text() == "The policy is shown read-only: the workspace is cancelled."
    assert page.workspace_state.state.text().startswith("Cancelled since")
    assert page.workspace_state.hold_button.isEnabled()  # a legal hold stays possible on a cancelled workspace


def test_a_viewer_gets_no_retention_page_as_the_api_gives_them_no_policy(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Viewers")["id"]
    email, _ = join(qtbot, served, workspace, "viewer")
    window = signed_in_window(qtbot, tmp_path, served, email, PASSWORD)

    assert f"retention:{workspace}" not in window.destinations()
    assert f"agents:{workspace}" in window.destinations()
    status, refused = served.api("GET", f"/api/v1/workspaces/{workspace}/retention",
                                 token=served.token(email, PASSWORD))
    assert status == 403 and "admin role" in refused["message"]


def test_an_operator_brings_the_purge_of_a_cancelled_workspace_earlier(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Sooner")["id"]
    status, cancelled = served.api("POST", f"/api/v1/workspaces/{workspace}/cancel")
    assert status == 200, cancelled
    window = signed_in_window(qtbot, tmp_path, served)
    page = retention_page(qtbot, window, workspace)
    state = page.workspace_state
    tomorrow = dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=1)

    state.purge_button.click()
    dialog = state.purge_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT_MS)
    later = dialog.day.maximumDate().toString("yyyy-MM-dd")
    dialog.day.setDate(dialog.day.date().fromString(tomorrow.isoformat(), "yyyy-MM-dd"))
    dialog.save_button.click()
    qtbot.waitUntil(lambda: page.banner.label.text().endswith("its owner was told by mail."), timeout=WAIT_MS)
    idle(qtbot, page.context)

    purge = f"{tomorrow.isoformat()}T00:00:00Z"
    assert later == cancelled["cancellation"]["purge_after"][:10]  # never later than it was
    status, retention = served.api("GET", f"/api/v1/workspaces/{workspace}/retention")
    assert retention["cancellation"]["purge_after"] == purge
    assert f"It is purged after {when(purge)}" in state.state.text()
    status, listed = served.api("GET", "/api/v1/cancellations")
    assert [c["purge_after"] for c in listed["cancellations"] if c["workspace_id"] == workspace] == [purge]
