"""Overview (operators): open security alerts, health, the certificate's expiry, database sizes and free disk, each
scheduled job with its last run (failing ones stand out), the newest verified backup and its age, the mail outbox,
and the audit chain's last verification; and the compliance report saved to a file. It refreshes itself while it is
shown."""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog, QFrame, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui.views.page import Page
from gui.widgets.buttons import action_button
from gui.widgets.formatting import ago, size, when

REFRESH_MS = 30_000
GOOD, WARN, BAD = "#1e6b34", "#8a5300", "#b3261e"


class Tile(QFrame):
    """One fact: a heading, a value that is green, amber or red, and a line of detail."""

    def __init__(self, heading: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tile")
        self.setStyleSheet("QFrame#tile { border: 1px solid #dde2e7; border-radius: 6px; background: white; }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        title = QLabel(heading)
        title.setStyleSheet("color:#5f6b7a;font-size:11px;text-transform:uppercase;")
        layout.addWidget(title)
        self.value = QLabel("…")
        self.value.setStyleSheet("font-size:17px;font-weight:600;")
        self.value.setWordWrap(True)
        layout.addWidget(self.value)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setStyleSheet("color:#3c4650;")
        layout.addWidget(self.detail)
        layout.addStretch(1)

    def show_fact(self, value: str, detail: str = "", *, colour: str = GOOD) -> None:
        self.value.setText(value)
        self.value.setStyleSheet(f"font-size:17px;font-weight:600;color:{colour};")
        self.detail.setText(detail)


class OverviewPage(Page):
    title = "Overview"

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        self.alerts = QLabel()
        self.alerts.setObjectName("securityAlerts")
        self.alerts.setWordWrap(True)
        self.alerts.setStyleSheet(f"QLabel#securityAlerts {{ background:#fdecea; border:1px solid {BAD}; "
                                  "border-radius:6px; padding:10px 12px; }")
        self.alerts.hide()
        self.body.addWidget(self.alerts)
        grid = QGridLayout()
        grid.setSpacing(12)
        self.tiles = {key: Tile(heading) for key, heading in (
            ("health", "Health"), ("certificate", "Certificate"), ("disk", "Data disk"), ("databases", "Databases"),
            ("backups", "Newest verified backup"), ("mail", "Mail"), ("audit", "Audit chain"), ("jobs", "Jobs"))}
        for n, tile in enumerate(self.tiles.values()):
            grid.addWidget(tile, n // 4, n % 4)
        for column in range(4):
            grid.setColumnStretch(column, 1)
        self.body.addLayout(grid)
        report = QHBoxLayout()
        self.report_button = action_button("Save compliance report…", self.report_action, name="complianceReport",
                                           row=report)
        self.report_button.setToolTip("Each promise the appliance makes, the control that keeps it, and evidence "
                                      "measured now, as one HTML page to keep or hand to an auditor.")
        self.report_status = QLabel()
        self.report_status.setWordWrap(True)
        report.addWidget(self.report_status, 1)
        self.body.addLayout(report)
        self.file_dialog: QFileDialog | None = None
        self.jobs_list = QLabel()
        self.jobs_list.setObjectName("jobsList")
        self.jobs_list.setWordWrap(True)
        self.body.addWidget(self.jobs_list)
        self.body.addStretch(1)
        self.facts: dict = {}
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh_action)

    def refresh_action(self) -> None:
        self.api.get("/api/v1/overview", on_done=self._show, on_error=self.show_error)

    def showEvent(self, event) -> None:
        self._timer.start()
        super().showEvent(event)

    def hideEvent(self, event) -> None:
        self._timer.stop()
        super().hideEvent(event)

    def _show(self, facts: dict) -> None:
        self.facts = facts
        self.clear_message()
        self._show_alerts(facts.get("alerts", []))
        health = facts["health"]
        broken = {k: v for k, v in health["checks"].items() if v != "ok"}
        self.tiles["health"].show_fact(
            "Ready" if not broken else "Not ready",
            f"version {facts['version']}" if not broken else "; ".join(f"{k}: {v}" for k, v in broken.items()),
            colour=GOOD if not broken else BAD)
        cert = facts.get("certificate")
        if cert:
            days = cert["days_left"]
            self.tiles["certificate"].show_fact(
                f"{days} days left", f"expires {when(cert['expires_at'])}; {', '.join(cert['names'][:3])}",
                colour=GOOD if days > 30 else WARN if days > 7 else BAD)
        disk = facts.get("disk")
        if disk:
            low = disk["free_bytes"] < disk["min_free_bytes"] * 4
            self.tiles["disk"].show_fact(f"{size(disk['free_bytes'])} free", f"of {size(disk['total_bytes'])}",
                                         colour=BAD if disk["free_bytes"] < disk["min_free_bytes"] else
                                         WARN if low else GOOD)
        databases = facts.get("databases")
        if databases:
            self.tiles["databases"].show_fact(
                f"{databases['workspaces']} workspace{'s' if databases['workspaces'] != 1 else ''}",
                f"control {size(databases['control_bytes'])}, workspaces {size(databases['workspaces_bytes'])}")
        newest = facts["backups"]["newest_verified"]
        if newest:
            self.tiles["backups"].show_fact(ago(newest["created_at"]), f"{when(newest['created_at'])}, "
                                                                       f"{size(newest['size'])}")
        else:
            self.tiles["backups"].show_fact("None yet", f"{facts['backups']['count']} made; make one on Backups",
                                            colour=WARN)
        mail = facts["mail"]
        if not mail["relay_configured"]:
            self.tiles["mail"].show_fact("No relay", f"{mail['queued']} waiting; set smtp_host, or copy invitation "
                                                     "links from Team", colour=WARN)
        else:
            self.tiles["mail"].show_fact(f"{mail['queued']} queued", f"{mail['failed']} failed via {mail['relay']}"
                                         + (f"; {mail['last_error']}" if mail["last_error"] else ""),
                                         colour=BAD if mail["failed"] else GOOD)
        audit = facts["audit"]["last_verification"]
        if audit is None:
            self.tiles["audit"].show_fact("Not checked yet", "the check runs every 6 h; verify now on Audit log",
                                          colour=WARN)
        else:
            self.tiles["audit"].show_fact("Intact" if audit["ok"] else "Broken",
                                          f"checked {ago(audit['at'])}" + (f": {audit['problem']}"
                                                                           if audit["problem"] else ""),
                                          colour=GOOD if audit["ok"] else BAD)
        failing = [job for job in facts["jobs"] if job["failing"]]
        self.tiles["jobs"].show_fact(f"{len(failing)} failing" if failing else "All healthy",
                                     f"{len(facts['jobs'])} jobs", colour=BAD if failing else GOOD)
        rows = []
        for job in sorted(facts["jobs"], key=lambda j: (not j["failing"], j["id"])):
            run = job["last_run"]
            state = "running now" if job["running"] else (f"{run['outcome']} {ago(run['started_at'])}" if run
                                                            else "not run yet")
            colour = BAD if job["failing"] else "#3c4650"
            rows.append(f"<tr><td style='padding:2px 14px 2px 0;color:{colour};'><b>{job['id']}</b></td>"
                        f"<td style='padding:2px 14px 2px 0;'>{job['description']}</td>"
                        f"<td style='color:{colour};'>{state}</td></tr>")
        self.jobs_list.setText("<table>" + "".join(rows) + "</table>")

    def _show_alerts(self, alerts: list[dict]) -> None:
        """The open security alerts, oldest first: each was mailed to the operators when it opened (unless over the
        hourly limit) and closes by itself when its cause is gone."""
        self.alerts.setVisible(bool(alerts))
        if not alerts:
            self.alerts.clear()
            return
        items = "".join(f"<li>{html.escape(a['summary'])} <span style='color:#5f6b7a;'>(since {ago(a['opened_at'])}"
                        f"{'' if a['mailed'] else '; not mailed: over the hourly limit'})</span></li>"
                        for a in alerts)
        self.alerts.setText(f"<b style='color:{BAD};'>{len(alerts)} open security alert"
                            f"{'s' if len(alerts) != 1 else ''}</b><ul style='margin:4px 0 0 -20px;'>{items}</ul>"
                            "Each closes by itself when its cause is gone; the audit log has them as alert.open.")

    # --- the compliance report -------------------------------------------------------------------------------------

    def report_action(self) -> None:
        """Ask where to save it (Qt's own dialog, the same on every desktop and in the tests), then download it."""
        self.file_dialog = QFileDialog(self, "Save the compliance report")
        self.file_dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        self.file_dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
        self.file_dialog.setNameFilter("HTML pages (*.html)")
        self.file_dialog.setDefaultSuffix("html")
        self.file_dialog.selectFile(f"chatspark-compliance-{dt.date.today().isoformat()}.html")
        self.file_dialog.fileSelected.connect(self._save_report)
        self.file_dialog.open()

    def _save_report(self, path: str) -> None:
        target = Path(path)
        self.report_button.setEnabled(False)
        self.report_status.setText("Measuring every control…")
        self.api.download("GET", "/api/v1/reports/compliance", target=target, timeout=120,
                          on_done=lambda _headers: self._report_saved(target), on_error=self._report_failed)

    def _report_saved(self, target: Path) -> None:
        self.report_button.setEnabled(True)
        page = target.read_text(encoding="utf-8", errors="replace")
        failed = re.search(r"<span class='fail'>(\d+) failed", page)
        count = int(failed.group(1)) if failed else 0
        self.report_status.setText(f"Saved {target}: " + (f"{count} control{'s' if count != 1 else ''} FAILED "
                                                          "(listed first in the report)." if count else
                                                          "every control passed or warned."))
        self.report_status.setStyleSheet(f"color:{BAD};" if count else "")

    def _report_failed(self, error) -> None:
        self.report_button.setEnabled(True)
        self.report_status.clear()
        self.show_error(error)
