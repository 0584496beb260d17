"""The Audit log and Audit trail screens against a real appliance: what is done through the API shows up, filters
narrow the rows exactly as the API's own filters do, the table pages through the cursor as it scrolls, the CSV export
holds what the API exports, and Verify chain says intact or names the first altered row."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from urllib.parse import urlencode

from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QColor

from appliance.bootstrap import open_appliance
from appliance.clock import SystemClock
from appliance.storage.layout import Layout
from gui.views import audit_export
from gui.views.audit import BROKEN, AuditPage, WorkspaceAuditPage, _time
from gui.widgets.dates import ANY_DATE
from tests.gui.driving import (
    OPERATOR,
    PASSWORD,
    WAIT_MS,
    idle,
    join,
    new_workspace,
    open_page,
    save_to,
    signed_in_window,
)


def _api_events(served, path: str = "/api/v1/audit", *, token: str | None = None, **query) -> list[dict]:
    status, body = served.api("GET", f"{path}?{urlencode({'order': 'newest', **query, 'limit': 1000})}", token=token)
    assert status == 200, body
    return body["events"]


def _audit_page(qtbot, window, key: str = "audit") -> AuditPage:
    return open_page(qtbot, window, key, ready=lambda p: p.count.text())


def _filter(qtbot, page: AuditPage, **fields) -> list[int]:
    """Set the filters as an admin types them, apply, scroll to the end; the seqs shown."""
    if "action" in fields:
        page.action.setCurrentText(fields["action"])
    if "actor" in fields:
        page.actor.setText(fields["actor"])
    if "outcome" in fields:
        page.outcome.setCurrentIndex(page.outcome.findData(fields["outcome"]))
    for name in ("since", "until"):
        if name in fields:
            getattr(page, name).setDate(fields[name])
    page.apply_button.click()
    idle(qtbot, page.context)
    while page.events.canFetchMore():
        page.table.scrollToBottom()
        page.events.fetchMore()
        idle(qtbot, page.context)
    return [event["seq"] for event in page.events.records()]


def _today() -> QDate:
    today = dt.datetime.now(dt.timezone.utc).date()
    return QDate(today.year, today.month, today.day)


def test_a_new_workspace_and_a_failed_login_done_through_the_api_appear(qtbot, tmp_path, served):
    workspace = new_workspace(served)
    failed_before = _api_events(served, action="auth.login", outcome="failure")
    status, _ = served.running.api("POST", "/api/v1/auth/login", {"email": OPERATOR[0], "password": "wrong guess 1"})
    assert status == 401
    window = signed_in_window(qtbot, tmp_path, served)
    page = _audit_page(qtbot, window)

    created = _filter(qtbot, page, action="workspace.create")
    [row] = [e for e in page.events.records() if e["target_id"] == workspace["id"]]
    assert row["seq"] in created
    assert page.events.data(page.events.index(page.events.records().index(row), 4)) == workspace["name"]

    page.clear_filters_action()
    failures = _filter(qtbot, page, action="auth.login", outcome="failure")
    assert failures == [e["seq"] for e in _api_events(served, action="auth.login", outcome="failure")]
    assert len(failures) == len(failed_before) + 1
    last = page.events.records()[-1]
    assert last["details"]["reason"] == "bad_credentials"
    assert page.events.data(page.events.index(len(failures) - 1, 1)) == OPERATOR[0]  # the actor, as an email


def test_filters_by_action_actor_and_date_narrow_the_rows_as_the_api_does(qtbot, tmp_path, served):
    new_workspace(served)
    operator_id = served.api("GET", "/api/v1/me")[1]["user"]["id"]
    window = signed_in_window(qtbot, tmp_path, served)
    page = _audit_page(qtbot, window)
    everything = _filter(qtbot, page)
    today = _today()

    by_action = _filter(qtbot, page, action="workspace", since=today)
    assert by_action == [e["seq"] for e in _api_events(
        served, action="workspace", since=f"{today.toString('yyyy-MM-dd')}T00:00:00Z")]
    assert 0 < len(by_action) < len(everything)
    assert {e["action"].split(".")[0] for e in page.events.records()} == {"workspace"}

    by_actor = _filter(qtbot, page, actor=OPERATOR[0])
    assert by_actor == [e["seq"] for e in _api_events(served, action="workspace", actor_id=operator_id,
                                                      since=f"{today.toString('yyyy-MM-dd')}T00:00:00Z")]

    before_today = _filter(qtbot, page, since=ANY_DATE, until=today.addDays(-1))
    assert before_today == [] == _api_events(served, action="workspace", actor_id=operator_id,
                                             until=f"{today.toString('yyyy-MM-dd')}T00:00:00Z")
    assert page.count.text().startswith("No events match these filters")

    page.clear_filters_action()
    _filter(qtbot, page, actor="nobody-at-all@example.com")
    assert page.events.rowCount() == 0 and page.banner.kind == "warning"
    assert "No account uses nobody-at-all@example.com" in page.banner.label.text()


def test_the_table_loads_the_next_page_through_the_cursor_when_it_scrolls(qtbot, tmp_path, served):
    for _ in range(5):
        new_workspace(served)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _audit_page(qtbot, window)
    page.page_size = 2
    # Qt's view fetches more by itself while the rows do not fill it, so each page is recorded as it arrives
    pages: list[tuple[int, str]] = []
    record = lambda *_: pages.append((page.events.rowCount(), page.count.text()))  # noqa: E731
    page.events.modelReset.connect(record)
    page.events.rowsInserted.connect(record)
    page.action.setCurrentText("workspace.create")
    page.apply_filters_action()
    idle(qtbot, window.context)
    while page.events.canFetchMore():
        page.table.scrollToBottom()
        page.events.fetchMore()
        idle(qtbot, window.context)

    expected = [e["seq"] for e in _api_events(served, action="workspace.create")]
    assert [e["seq"] for e in page.events.records()] == expected
    assert len(expected) >= 5
    assert [rows for rows, _ in pages] == [min(n, len(expected)) for n in range(2, len(expected) + 2, 2)]
    assert "scroll down for more" in pages[0][1]  # two more rows a page, the first page says there are more
    assert "scroll down for more" not in pages[-1][1]


def test_export_csv_writes_the_rows_the_api_exports_with_the_same_filters(qtbot, tmp_path, served, monkeypatch):
    for _ in range(3):
        new_workspace(served)
    monkeypatch.setattr(audit_export, "EXPORT_PAGE", 2)  # so the export pages through the cursor too
    window = signed_in_window(qtbot, tmp_path, served)
    page = _audit_page(qtbot, window)
    _filter(qtbot, page, action="workspace.create", since=_today())
    target = tmp_path / "workspaces.csv"

    page.export_csv_action()
    save_to(qtbot, page.export_dialog, target)
    qtbot.waitUntil(lambda: page.banner.label.text().startswith("Exported"), timeout=WAIT_MS)

    query = urlencode({"action": "workspace.create", "format": "csv", "limit": 1000,
                       "since": f"{_today().toString('yyyy-MM-dd')}T00:00:00Z"})
    status, _, body = served.running.get(f"/api/v1/audit?{query}", headers={
        "Authorization": f"Bearer {served.token()}", "Accept": "text/csv"})
    assert status == 200
    exported = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert exported == list(csv.reader(io.StringIO(body.decode("utf-8"))))
    assert exported[0][0] == "seq" and len(exported) - 1 == len(page.events.records()) >= 3
    assert page.banner.label.text() == f"Exported {len(exported) - 1} events to {target}."


def test_verify_chain_says_intact_and_names_the_first_altered_row_in_red(qtbot, tmp_path, served):
    workspace = new_workspace(served)
    [event] = [e for e in _api_events(served, action="workspace.create") if e["target_id"] == workspace["id"]]
    window = signed_in_window(qtbot, tmp_path, served)
    page = _audit_page(qtbot, window)

    page.verify_button.click()
    qtbot.waitUntil(lambda: page.banner.label.text().startswith("Intact"), timeout=WAIT_MS)
    checked = int(re.fullmatch(r"Intact: (\d+) rows checked\.", page.banner.label.text()).group(1))
    assert page.banner.kind == "info" and checked > event["seq"]  # the panel's own sign-in came after it

    _filter(qtbot, page, action="workspace.create")
    appliance = open_appliance(Layout.of(served.running.data_dir, served.running.key_dir), clock=SystemClock())
    try:
        [(stored,)] = appliance.control_db.query("SELECT action FROM audit_log WHERE seq = ?", (event["seq"],))
        with appliance.control_db.transaction() as conn:  # what an intruder with the database key might do
            conn.execute("UPDATE audit_log SET action = 'workspace.forged' WHERE seq = ?", (event["seq"],))
        try:
            page.verify_chain_action()
            qtbot.waitUntil(lambda: page.banner.kind == "error", timeout=WAIT_MS)
            idle(qtbot, window.context)
        finally:
            with appliance.control_db.transaction() as conn:
                conn.execute("UPDATE audit_log SET action = ? WHERE seq = ?", (stored, event["seq"]))
    finally:
        appliance.close()

    said = page.banner.label.text()
    assert said.startswith(f"The audit chain is broken at row {event['seq']} (")
    assert _time(event) in said and f"row {event['seq']} was altered" in said
    row = [e["seq"] for e in page.events.records()].index(event["seq"])
    brush = page.events.data(page.events.index(row, 0), Qt.ItemDataRole.BackgroundRole)
    assert brush.color().name() == QColor(BROKEN).name()
    assert served.api("POST", "/api/v1/audit/verify")[1]["ok"] is True  # restored for the other tests


def test_a_workspace_admin_sees_only_that_workspaces_trail_and_a_viewer_is_told_why_not(qtbot, tmp_path, served):
    mine, other = new_workspace(served), new_workspace(served)
    admin_email, admin_id = join(qtbot, served, mine["id"], "admin")
    viewer_email, _ = join(qtbot, served, mine["id"], "viewer")
    served.api("POST", f"/api/v1/workspaces/{other['id']}/invitations", {"email": admin_email, "role": "viewer"})
    (tmp_path / "admin").mkdir()
    window = signed_in_window(qtbot, tmp_path / "admin", served, admin_email, PASSWORD)
    page = _audit_page(qtbot, window, f"workspace_audit:{mine['id']}")
    events = _filter(qtbot, page)

    assert isinstance(page, WorkspaceAuditPage) and page.title == "Audit trail"
    admin_token = served.token(admin_email, PASSWORD)
    expected = _api_events(served, f"/api/v1/workspaces/{mine['id']}/audit", token=admin_token)
    assert events == [e["seq"] for e in expected] and events
    assert {e["workspace_id"] for e in page.events.records()} == {mine["id"]}
    assert "Workspace" not in [c.title for c in page.events.columns]
    assert page.verify_button.isHidden() and page.workspace.isHidden()
    assert {"invitation.create", "invitation.accept"} <= {e["action"] for e in page.events.records()}
    accepted = _filter(qtbot, page, actor=admin_email)
    assert accepted == [e["seq"] for e in _api_events(served, f"/api/v1/workspaces/{mine['id']}/audit",
                                                      token=admin_token, actor_id=admin_id)] and accepted

    (tmp_path / "viewer").mkdir()
    viewer_window = signed_in_window(qtbot, tmp_path / "viewer", served, viewer_email, PASSWORD)
    assert f"workspace_audit:{mine['id']}" not in viewer_window.destinations()
    refused = WorkspaceAuditPage(viewer_window.context, workspace_id=mine["id"])
    qtbot.addWidget(refused)
    refused.refresh_action()
    qtbot.waitUntil(lambda: refused.banner.kind == "error", timeout=WAIT_MS)
    assert refused.banner.label.text().startswith("Your role, viewer, cannot do this.")


def test_a_cancelled_workspaces_trail_stays_readable_and_says_why_nothing_else_can_change(qtbot, tmp_path, served):
    workspace = new_workspace(served)
    status, body = served.api("POST", f"/api/v1/workspaces/{workspace['id']}/cancel")
    assert status == 200, body
    window = signed_in_window(qtbot, tmp_path, served)
    page = _audit_page(qtbot, window, f"workspace_audit:{workspace['id']}")

    assert page.read_only and page.banner.kind == "info" and "cancelled" in page.banner.label.text()
    shown = _filter(qtbot, page)
    assert shown == [e["seq"] for e in _api_events(served, f"/api/v1/workspaces/{workspace['id']}/audit")]
    assert len(shown) >= 2 and page.export_button.isEnabled()
