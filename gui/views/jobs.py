"""Jobs (operators): each scheduled job, how it last ran and when it runs next, failing ones first and marked;
the runs of the selected job; and "Run now", whose outcome shows when the run ends."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel

from gui.client.errors import ApiError
from gui.models.table import Column, RecordsModel
from gui.views.page import Page
from gui.widgets.buttons import action_button
from gui.widgets.formatting import duration, every, summary, when
from gui.widgets.tables import records_table, select_record, selected_record

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


def ended_run(runs: list[dict], run_id: int | None) -> dict | None:
    """The run `run_id` among `runs` (a page of /api/v1/jobs/runs) once it has ended; None while it is running or
    when it is not among them."""
    run = next((r for r in runs if r["id"] == run_id), None)
    return None if run is None or run["outcome"] == "running" else run


class JobsPage(Page):
    title = "Jobs"

    def __init__(self, context, parent=None, **kwargs) -> None:
        super().__init__(context, parent, **kwargs)
        self.add_intro("The appliance's scheduled work. A job never runs twice at once; a failing one mails the "
                       "operators once, and again when it recovers.")
        self.jobs = RecordsModel([
            Column("id", "Job"),
            Column("every_seconds", "How often", show=lambda j: every(j["every_seconds"])),
            Column("last_run", "Last run", show=_last),
            Column("next_run_at", "Next run", show=lambda j: when(j.get("next_run_at"))),
            Column("last_failure", "Last failure",
                   show=lambda j: (j["last_failure"] or {}).get("error") or "" if j.get("last_failure") else "none"),
        ], highlight=lambda j: FAILING if _failing(j) else None)
        self.jobs_table = records_table(self.jobs, name="jobsTable", widths={0: 220, 1: 110, 2: 230, 3: 170},
                                        stretch=4)
        self.jobs_table.selectionModel().selectionChanged.connect(self._job_selected)
        actions = QHBoxLayout()
        self.run_button = action_button("Run now", self.run_now_action, name="runNow", row=actions)
        self.run_button.setEnabled(False)
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
        self.runs_table = records_table(self.runs, name="runsTable", widths={0: 60, 1: 160, 2: 100, 3: 100, 4: 80},
                                        stretch=5)
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
        return (selected_record(self.jobs_table) or {}).get("id")

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
        if jobs and not select_record(self.jobs_table, selected):
            select_record(self.jobs_table, jobs[0]["id"])

    def _job_selected(self) -> None:
        job = selected_record(self.jobs_table)
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
        run = ended_run(answer["runs"], self._watching)
        if run is None:
            return
        self._poll.stop()
        self._watching = None
        text = run.get("error") or summary(run.get("summary")) or "done"
        self.run_status.setText(f"Run {run['id']} of {run['job_id']}: {run['outcome']} in "
                                f"{duration(run.get('duration_ms'))}: {text}")
        self.run_button.setEnabled(True)
        self.refresh_action()
