"""The scheduler of the serving process: APScheduler running the declared jobs through one JobRunner."""

from __future__ import annotations

import datetime as dt
import logging
import threading

from apscheduler.schedulers.background import BackgroundScheduler

from appliance.clock import Clock
from appliance.errors import NotFound
from appliance.jobs.declared import JobSpec
from appliance.jobs.runner import JobRunner
from appliance.jobs.runs import JobRun
from appliance.storage.database import Database

log = logging.getLogger(__name__)


class JobScheduler:
    """APScheduler running the declared jobs through one JobRunner, each coalesced and one instance at a time.

    At start, runs left 'running' by a process that died are marked interrupted, and every job whose last run was
    interrupted, or whose last finished run is older than its interval, runs at once, as a catch-up; the others keep
    their rhythm from their last run, so restarting the server does not postpone a daily job forever.
    """

    def __init__(self, db: Database, jobs: list[JobSpec], *, clock: Clock, runner: JobRunner) -> None:
        seen: set[str] = set()
        for spec in jobs:
            if spec.id in seen:
                raise ValueError(f"job {spec.id!r} is declared twice")
            seen.add(spec.id)
        self.jobs = {spec.id: spec for spec in jobs}
        self.runner = runner
        self._db = db
        self._clock = clock
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

    def start(self, *, paused: bool = False) -> None:
        """Recover interrupted runs, schedule every job (catching up what is overdue) and start. `paused` starts it
        holding everything instead: nothing recovered, caught up or scheduled (an upgrade's trial serve)."""
        if paused:
            self._scheduler.start(paused=True)
            log.info("scheduler started paused: no job runs in this process")
            return
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
        row = self._db.query_one("SELECT value FROM meta WHERE name = 'created_at'")
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
