"""Running the declared jobs: one run per job at a time, each recorded, failures logged and mailed to operators."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

from appliance.clock import Clock, isoformat
from appliance.errors import ApplianceError, JobAlreadyRunning, ValidationError
from appliance.jobs.declared import JobSpec
from appliance.jobs.runs import JobRun, JobRuns, operator_emails
from appliance.mail.outbox import Outbox
from appliance.storage.database import Database

log = logging.getLogger(__name__)

RENEW_EVERY_SECONDS = 60.0


class JobRunner:
    """Runs a job holding its lease, records the outcome, and mails the operators when a job starts failing.

    Operators get one mail when a job fails after succeeding (or on its first run), none for the failures that
    follow, and one more when it succeeds again: a job failing every minute does not flood anyone's inbox.
    """

    def __init__(self, db: Database, *, clock: Clock, outbox: Outbox, runs: JobRuns | None = None,
                 renew_every_seconds: float = RENEW_EVERY_SECONDS, on_finished=None) -> None:
        self._db = db
        self._outbox = outbox
        self._on_finished = on_finished or (lambda job_id, outcome, seconds: None)  # the metrics count runs
        self.runs = runs or JobRuns(db, clock=clock)
        self._keeper = _LeaseKeeper(self.runs, renew_every_seconds)

    def run(self, spec: JobSpec, trigger: str, *, requested_by: str | None = None) -> JobRun | None:
        """Run the job now, unless a run of it is going on anywhere (then that is recorded and None returned).

        Never raises: what went wrong is in the run's row and the log.
        """
        try:
            run = self.runs.claim(spec.id, trigger, requested_by=requested_by)
        except JobAlreadyRunning as exc:
            log.info("job %s skipped: %s", spec.id, exc, extra={"job": spec.id, "trigger": trigger})
            return None
        except Exception:
            log.exception("job %s could not start: its run could not be recorded", spec.id,
                          extra={"job": spec.id, "trigger": trigger})
            return None
        return self.execute(spec, run)

    def execute(self, spec: JobSpec, run: JobRun) -> JobRun:
        """Call the job for a run that `JobRuns.claim` started; record how it went. Never raises."""
        self._keeper.hold(run)
        started = time.monotonic()
        summary, error = None, None
        try:
            summary = spec.run()
        except Exception as exc:
            error = describe(exc)
            log.error("job %s failed: %s", spec.id, error, exc_info=True,
                      extra={"job": spec.id, "run": run.id, "trigger": run.trigger})
        finally:
            self._keeper.release(run)
        duration_ms = round((time.monotonic() - started) * 1000)
        try:  # counting the run must never keep it from being recorded
            self._on_finished(spec.id, "success" if error is None else "failure", time.monotonic() - started)
        except Exception:
            log.exception("the run of job %s could not be counted", spec.id)
        return self._finish(spec, run, "success" if error is None else "failure", summary=summary, error=error,
                            duration_ms=duration_ms)

    def close(self) -> None:
        """Stop renewing leases (the runs of this runner have ended, or the process is stopping)."""
        self._keeper.close()

    def _finish(self, spec: JobSpec, run: JobRun, outcome: str, *, summary: object, error: str | None,
                duration_ms: int) -> JobRun:
        try:
            with self._db.transaction() as conn:
                previous = self.runs.last_decided_outcome(conn, spec.id, before=run.id)
                finished = self.runs.finish(conn, run, outcome=outcome, summary=summary, error=error,
                                            duration_ms=duration_ms)
                if outcome == "failure" and previous != "failure":
                    self._mail_operators(conn, *_failure_mail(spec, finished))
                elif outcome == "success" and previous == "failure":
                    streak = self.runs.failure_streak(conn, spec.id, before=run.id)
                    self._mail_operators(conn, *_recovery_mail(spec, finished, streak))
        except Exception:
            log.exception("the outcome of job %s (run %d, %s) could not be recorded", spec.id, run.id, outcome,
                          extra={"job": spec.id, "run": run.id})
            return run
        log.debug("job %s: %s in %d ms", spec.id, outcome, duration_ms,
                  extra={"job": spec.id, "run": run.id, "trigger": run.trigger, "summary": finished.summary})
        return finished

    def _mail_operators(self, conn: Any, subject: str, body: str) -> None:
        recipients = operator_emails(conn)
        if not recipients:
            log.warning("no active operator to mail: %s", subject)
        for address in recipients:
            try:
                self._outbox.enqueue(to=address, subject=subject, body=body, conn=conn)
            except ValidationError as exc:
                log.warning("cannot mail operator %s: %s", address, exc)


class _LeaseKeeper:
    """One thread that renews the leases of a runner's runs in progress, so a long job keeps its lease."""

    def __init__(self, runs: JobRuns, every: float) -> None:
        self._runs, self._every = runs, every
        self._active: dict[int, JobRun] = {}
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def hold(self, run: JobRun) -> None:
        with self._wake:
            self._active[run.id] = run
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._loop, name="job-leases", daemon=True)
                self._thread.start()

    def release(self, run: JobRun) -> None:
        with self._wake:
            self._active.pop(run.id, None)

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify_all()

    def _loop(self) -> None:
        while True:
            with self._wake:
                self._wake.wait(self._every)
                if self._closed:
                    return
                active = list(self._active.values())
            for run in active:
                try:
                    renewed = self._runs.renew(run)
                except Exception:
                    log.exception("cannot renew the lease of job %s (run %d)", run.job_id, run.id)
                    continue
                with self._wake:
                    lost = not renewed and run.id in self._active
                if lost:
                    log.warning("job %s (run %d) lost its lease: another process may start the job meanwhile",
                                run.job_id, run.id, extra={"job": run.job_id, "run": run.id})


def describe(exc: BaseException) -> str:
    """A failure in words: the appliance's own errors say what to do; others are named by their type."""
    text = str(exc).strip()
    if isinstance(exc, ApplianceError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _failure_mail(spec: JobSpec, run: JobRun) -> tuple[str, str]:
    subject = f"ChatSpark: job {spec.id} failed"
    body = (f"The scheduled job {spec.id} ({spec.description}) failed at {isoformat(run.finished_at)} "
            f"(run {run.id}, {run.trigger.replace('_', '-')}, process {run.pid} on {run.host}):\n\n"
            f"    {run.error}\n\n"
            f"It runs again every {every_text(spec.every)}. This is the only mail while it keeps failing; another "
            "follows when it succeeds again.\n\n"
            f"Every run: chatspark jobs runs --job {spec.id}\n"
            f"Run it now: chatspark jobs run {spec.id}\n"
            "The full error is in the appliance log (logs/chatspark.log in the data directory).\n")
    return subject, body


def _recovery_mail(spec: JobSpec, run: JobRun, failed_runs: int) -> tuple[str, str]:
    subject = f"ChatSpark: job {spec.id} succeeds again"
    body = (f"The scheduled job {spec.id} ({spec.description}) succeeded at {isoformat(run.finished_at)} "
            f"(run {run.id}) after {failed_runs} failed run{'s' if failed_runs != 1 else ''}.\n\n"
            f"Every run: chatspark jobs runs --job {spec.id}\n")
    return subject, body


def every_text(every: dt.timedelta) -> str:
    """An interval as people say it: 15 s, 15 min, 1 h, 1 d, or 1 h 30 min."""
    seconds = int(every.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
    return " ".join(parts) or f"{every.total_seconds():g} s"
