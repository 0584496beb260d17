"""Running the declared jobs: one run per job at a time, each recorded, failures logged and mailed to operators."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.background import BackgroundScheduler

from appliance.clock import isoformat
from appliance.errors import ApplianceError, JobAlreadyRunning, NotFound, ValidationError
from appliance.job_runs import JobRun, JobRuns, operator_emails
from appliance.services import Services

if TYPE_CHECKING:
    from appliance.jobs import JobSpec

log = logging.getLogger(__name__)

RENEW_EVERY_SECONDS = 60.0


class JobRunner:
    """Runs a job holding its lease, records the outcome, and mails the operators when a job starts failing.

    Operators get one mail when a job fails after succeeding (or on its first run), none for the failures that
    follow, and one more when it succeeds again: a job failing every minute does not flood anyone's inbox.
    """

    def __init__(self, services: Services, *, runs: JobRuns | None = None,
                 renew_every_seconds: float = RENEW_EVERY_SECONDS) -> None:
        self.services = services
        self.runs = runs or JobRuns(services.appliance.control_db, clock=services.appliance.clock)
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
            summary = spec.run(self.services)
        except Exception as exc:
            error = describe(exc)
            log.error("job %s failed: %s", spec.id, error, exc_info=True,
                      extra={"job": spec.id, "run": run.id, "trigger": run.trigger})
        finally:
            self._keeper.release(run)
        duration_ms = round((time.monotonic() - started) * 1000)
        return self._finish(spec, run, "success" if error is None else "failure", summary=summary, error=error,
                            duration_ms=duration_ms)

    def close(self) -> None:
        """Stop renewing leases (the runs of this runner have ended, or the process is stopping)."""
        self._keeper.close()

    def _finish(self, spec: JobSpec, run: JobRun, outcome: str, *, summary: object, error: str | None,
                duration_ms: int) -> JobRun:
        try:
            with self.services.appliance.control_db.transaction() as conn:
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
                self.services.outbox.enqueue(to=address, subject=subject, body=body, conn=conn)
            except ValidationError as exc:
                log.warning("cannot mail operator %s: %s", address, exc)


class JobScheduler:
    """APScheduler running the declared jobs through one JobRunner, each coalesced and one instance at a time.

    At start, runs left 'running' by a process that died are marked interrupted, and every job whose last run was
    interrupted, or whose last finished run is older than its interval, runs at once, as a catch-up; the others keep
    their rhythm from their last run, so restarting the server does not postpone a daily job forever.
    """

    def __init__(self, services: Services, jobs: list[JobSpec], *, runner: JobRunner | None = None) -> None:
        seen: set[str] = set()
        for spec in jobs:
            if spec.id in seen:
                raise ValueError(f"job {spec.id!r} is declared twice")
            seen.add(spec.id)
        self.jobs = {spec.id: spec for spec in jobs}
        self.runner = runner or JobRunner(services)
        self._services = services
        self._clock = services.appliance.clock
        self._scheduler = BackgroundScheduler(
            timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})

    @property
    def running(self) -> bool:
        return self._scheduler.running

    def job(self, job_id: str) -> JobSpec:
        try:
            return self.jobs[job_id]
        except KeyError:
            raise NotFound(f"no job {job_id!r}; the jobs are {', '.join(sorted(self.jobs))}") from None

    def start(self) -> None:
        interrupted = self.runner.runs.recover()
        for run in interrupted:
            log.warning("job %s: run %d was interrupted (%s)", run.job_id, run.id, run.error,
                        extra={"job": run.job_id, "run": run.id})
        # APScheduler keeps its own wall-clock time; what is due is decided by the appliance's clock and handed
        # over as a delay from now.
        wall, now = dt.datetime.now(dt.timezone.utc), self._clock.now()
        since = self._appliance_created_at(now)
        catch_up = []
        for spec in self.jobs.values():
            last = self.runner.runs.latest(spec.id, outcomes=("success", "failure", "interrupted"))
            if last is None:
                # A job that never ran is due one interval after the appliance was made: a fresh install does not
                # back up its empty databases at once, and restarts cannot put the first run off for ever.
                due = since + spec.every
            elif last.outcome == "interrupted":
                due = now  # cut short by a crash: finished at once (a purge's merge, a backup), not an interval on
            else:
                due = last.started_at + spec.every
            if due <= now:
                catch_up.append(spec.id)
            self._scheduler.add_job(
                _Scheduled(self.runner, spec, "catch_up" if due <= now else "schedule"), "interval",
                seconds=spec.every.total_seconds(), next_run_time=wall + max(due - now, dt.timedelta(0)),
                id=spec.id, name=spec.description)
        self._scheduler.start()
        log.info("scheduler started", extra={"jobs": sorted(self.jobs), "catch_up": catch_up,
                                             "interrupted_runs": [run.id for run in interrupted]})

    def _appliance_created_at(self, now: dt.datetime) -> dt.datetime:
        row = self._services.appliance.control_db.query_one("SELECT value FROM meta WHERE name = 'created_at'")
        try:
            return dt.datetime.fromisoformat(row["value"].replace("Z", "+00:00"))
        except (TypeError, ValueError):
            return now

    def shutdown(self, wait: bool = True) -> None:
        """Stop scheduling; with `wait`, let the runs in progress finish first."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
        self.runner.close()

    def get_jobs(self) -> list:
        """APScheduler's jobs (once started): their ids, intervals and next run times."""
        return self._scheduler.get_jobs()

    def next_run_time(self, job_id: str) -> dt.datetime | None:
        job = self._scheduler.get_job(job_id) if self._scheduler.running else None
        return job.next_run_time if job is not None else None

    def run_now(self, job_id: str, *, requested_by: str | None) -> JobRun:
        """Start a run by hand and return it at once; it runs on the scheduler's threads (JobAlreadyRunning if a
        run of the job is going on anywhere)."""
        spec = self.job(job_id)
        run = self.runner.runs.claim(spec.id, "manual", requested_by=requested_by)
        if self._scheduler.running:
            self._scheduler.add_job(self.runner.execute, args=[spec, run], id=f"{spec.id}:run:{run.id}",
                                    name=f"{spec.description} (run {run.id}, by hand)")
        else:
            threading.Thread(target=self.runner.execute, args=(spec, run), name=f"job-{spec.id}-{run.id}",
                             daemon=True).start()
        return run


class _Scheduled:
    """What APScheduler calls for one job: the first call may be a catch-up, every later one is on schedule."""

    def __init__(self, runner: JobRunner, spec: JobSpec, first_trigger: str) -> None:
        self._runner, self._spec, self._trigger = runner, spec, first_trigger

    def __call__(self) -> None:
        trigger, self._trigger = self._trigger, "schedule"
        self._runner.run(self._spec, trigger)


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
