"""The Overview against a real appliance: security alerts through the whole appliance (wrong passwords over HTTPS,
the security_alerts job run from the API, the alert mailed once to the operators through the real relay and shown
until it closes), and the compliance report saved to the file the operator chose, with its failed controls named."""

from __future__ import annotations

from tests.gui.driving import OPERATOR, WAIT_MS, idle, new_operator, open_page, signed_in_window


def test_wrong_passwords_raise_an_alert_that_is_mailed_and_shown_on_the_overview(qtbot, tmp_path, served):
    target = new_operator(served)["email"]
    for _ in range(12):
        status, _ = served.running.api("POST", "/api/v1/auth/login", {"email": target, "password": "not it at all"})
        assert status == 401
    status, run = served.api("POST", "/api/v1/jobs/security_alerts/run")
    assert status == 202, run

    def mailed() -> list:
        return [m for m in served.mails_to(OPERATOR[0]) if "security alert" in m["Subject"] and target in m["Subject"]]

    qtbot.waitUntil(lambda: len(mailed()) == 1, timeout=WAIT_MS)
    assert "guessing" in mailed()[0].get_content()

    window = signed_in_window(qtbot, tmp_path, served)
    page = open_page(qtbot, window, "overview", ready=lambda p: p.facts)
    assert page.alerts.isVisible()
    assert f"failed sign-ins on the account {target}" in page.alerts.text()
    status, overview = served.api("GET", "/api/v1/overview")
    assert any(a["kind"] == "sign_in_failures_account" and a["mailed"] for a in overview["alerts"])
    # Run again: still open, not mailed twice.
    assert served.api("POST", "/api/v1/jobs/security_alerts/run")[0] in (202, 409)
    qtbot.wait(1500)
    assert len(mailed()) == 1


def test_the_compliance_report_is_saved_where_the_operator_chooses_with_failures_named(qtbot, tmp_path, served):
    window = signed_in_window(qtbot, tmp_path, served)
    page = open_page(qtbot, window, "overview", ready=lambda p: p.facts)
    page.report_button.click()
    chooser = page.file_dialog
    qtbot.waitUntil(chooser.isVisible, timeout=WAIT_MS)
    target = tmp_path / "evidence.html"
    chooser.fileSelected.emit(str(target))
    chooser.close()
    qtbot.waitUntil(lambda: page.report_status.text().startswith("Saved"), timeout=WAIT_MS)
    idle(qtbot, window.context)
    html = target.read_text(encoding="utf-8")
    assert "Data in transit is protected by TLS 1.3 only" in html and "Backups exist and are tested" in html
    # A fresh appliance has no verified backup: that control fails, and the page says how many did.
    assert "FAILED" in html and "FAILED" in page.report_status.text()
    assert not (tmp_path / "evidence.html.part").exists()
    status, audit = served.api("GET", "/api/v1/audit?action=report.compliance")
    assert status == 200 and audit["events"]
