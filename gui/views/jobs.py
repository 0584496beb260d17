"""Jobs (operators): each scheduled job, how it last ran and when it runs next, failing ones first and marked;
the runs of the selected job; and "Run now", whose outcome shows when the run ends."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton

from gui.client.errors import ApiError
from gui.models.table import Column, RecordsModel
from gui.views.page import Page
from gui.widgets.formatting import duration, every, summary, when
from gui.widgets.tables import records_table

POLL_MS = 2000  # while a run started here is going on
FAILING = "#fdecea"


def _failing(job: dict) -> bool:
    return (job.get("last_run") or {}).get("outcome") == "failure"


def _last(job: dict) -> str:
    run = job.get("last_run")
    if job.get("running"):
        return "running now"
    if not run:
        return "never run"
    return f"{run['outcome']} {when(run['started_at'])}"


class JobsPage(Page):
    title = "Jobs"

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        intro = QLabel("The appliance's scheduled work. A job never runs twice at once; a failing one mails the "
                       "operators once, and again when it recovers.")
        intro.setWordWrap(True)
        self.body.addWidget(intro)
        self.jobs = RecordsModel([
            Column("id", "Job"),
            Column("every_seconds", "How often", show=lambda j: every(j["every_seconds"])),
            Column("last_run", "Last run", show=_last),
            Column("next_run_at", "Next run", show=lambda j: when(j.get("next_run_at"))),
            Column("last_failure", "Last failure",
                   show=lambda j: (j["last_failure"] or {}).get("error") or "" if j.get("last_failure") else "none"),
        ], highlight=lambda j: FAILING if _failing(j) else None)
        self.jobs_table = records_table(self.jobs, widths={0: 220, 1: 110, 2: 230, 3: 170}, stretch=4,
                                        name="jobsTable")
        self.jobs_table.selectionModel().selectionChanged.connect(self._job_selected)
        actions = QHBoxLayout()
        self.run_button = QPushButton("Run now")
        self.run_button.setObjectName("runNow")
        self.run_button.setEnabled(False)
        self.run_button.clicked.connect(self.run_now_action)
        actions.addWidget(self.run_button)
        self.run_status = QLabel()
        actions.addWidget(self.run_status, 1)
        self.runs = RecordsModel([
            Column("id", "Run"),
            Column("started_at", "Started", show=lambda r: when(r["started_at"])),
            Column("trigger", "Trigger", show=lambda r: r["trigger"].replace("_", "-")),
            Column("outcome", "Outcome"),
            Column("duration_ms", "Took", show=lambda r: duration(r.get("duration_ms"))),
            Column("summary", "What it did", show=lambda r: r.get("error") or summary(r.get("summary"))),
        ], loader=self._load_runs)
        self.runs_table = records_table(self.runs, widths={0: 60, 1: 160, 2: 100, 3: 100, 4: 80}, stretch=5,
                                        name="runsTable")
        self.runs_heading = QLabel("Select a job to see what it does and its runs.")
        self.runs_heading.setWordWrap(True)
        self.runs.modelReset.connect(self._say_if_no_runs)
        self.body.addWidget(self.jobs_table, 1)
        self.body.addLayout(actions)
        self.body.addWidget(self.runs_heading)
        self.body.addWidget(self.runs_table, 1)
        self._watching: int | None = None
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._check_run)

    def selected_job(self) -> str | None:
        rows = self.jobs_table.selectionModel().selectedRows()
        return self.jobs.record(rows[0].row())["id"] if rows else None

    def refresh_action(self) -> None:
        self.api.get("/api/v1/jobs", on_done=self._got_jobs, on_error=self.show_error)

    def run_now_action(self) -> None:
        job = self.selected_job()
        if job is None:
            return
        self.run_button.setEnabled(False)
        self.api.post(f"/api/v1/jobs/{job}/run", on_done=self._started, on_error=self._not_started)

    def _got_jobs(self, answer: dict) -> None:
        selected = self.selected_job()
        jobs = sorted(answer["jobs"], key=lambda j: (not _failing(j), j["id"]))
        self.jobs.set_records(jobs)
        failures = [j["id"] for j in jobs if _failing(j)]
        if failures:
            self.banner.show_message(f"Failing: {', '.join(failures)}. Select a job to see its runs and errors.",
                                     kind="warning")
        else:
            self.clear_message()
        row = next((i for i, j in enumerate(jobs) if j["id"] == selected), 0 if jobs else None)
        if row is not None:
            self.jobs_table.selectionModel().select(
                self.jobs.index(row, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)

    def _job_selected(self) -> None:
        rows = self.jobs_table.selectionModel().selectedRows()
        job = self.jobs.record(rows[0].row()) if rows else None
        self.run_button.setEnabled(job is not None and self._watching is None)
        if job is not None:
            self.runs_heading.setText(f"<b>{job['id']}</b>: {job['description']}, {every(job['every_seconds'])}. "
                                      "Its runs, newest first:")
        self.runs.reload()

    def _say_if_no_runs(self) -> None:
        job = self.selected_job()
        if job and self.runs.rowCount() == 0:
            self.run_status.setText(f"{job} has not run yet. Run now starts it; its run shows below.")
        elif self._watching is None and self.run_status.text().endswith("its run shows below."):
            self.run_status.clear()

    def _load_runs(self, after, deliver) -> None:
        job = self.selected_job()
        query = f"?job={job}&limit=50" + (f"&after={after}" if after else "")
        self.api.get(f"/api/v1/jobs/runs{query}", on_done=lambda a: deliver(a["runs"], a.get("next_after")),
                     on_error=lambda e: (self.runs.loading_failed(), self.show_error(e)))

    def _started(self, answer: dict) -> None:
        run = answer["run"]
        self._watching = run["id"]
        self.run_status.setText(f"Run {run['id']} of {run['job_id']} started; its outcome shows here when it ends.")
        self._poll.start()
        self.refresh_action()

    def _not_started(self, error: ApiError) -> None:
        self.run_button.setEnabled(True)
        self.show_error(error)

    def _check_run(self) -> None:
        self.api.get("/api/v1/jobs/runs?limit=20", on_done=self._check_runs, on_error=lambda e: None)

    def _check_runs(self, answer: dict) -> None:
        run = next((r for r in answer["runs"] if r["id"] == self._watching), None)
        if run is None or run["outcome"] == "running":
            return
        self._poll.stop()
        self._watching = None
        text = run.get("error") or summary(run.get("summary")) or "done"
        self.run_status.setText(f"Run {run['id']} of {run['job_id']}: {run['outcome']} in "
                                f"{duration(run.get('duration_ms'))}: {text}")
        self.run_button.setEnabled(True)
        self.refresh_action()
