"""The periodic jobs of the appliance, declared in one place, and the scheduler of the serving process that runs them.

A job is a function `run(services) -> dict` (the dict is the run's summary: what it did) and one JobSpec line in
`declared_jobs`. The runner (appliance/job_runner.py) keeps any job from running twice at once, in this process or
another, records each run, and mails operators when one starts failing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Callable

from appliance.backups.jobs import backup_verify_and_prune
from appliance.errors import AuditChainBroken
from appliance.job_runner import JobScheduler
from appliance.job_runs import JobRun, JobRuns
from appliance.mail.outbox import send_outbox
from appliance.retention.purge import purge_cancelled_workspaces
from appliance.retention.service import sweep_retention
from appliance.services import Services
from appliance.settings import Settings

log = logging.getLogger(__name__)

_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class JobSpec:
    """One periodic job: its id (stable: runs are recorded under it), what it does, how often, and the function."""

    id: str
    description: str
    every: dt.timedelta
    run: Callable[[Services], dict]

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise ValueError(f"a job id is lower-case letters, digits and underscores, not {self.id!r}")
        if self.every <= dt.timedelta(0):
            raise ValueError(f"job {self.id} must run at a positive interval, not {self.every}")


@dataclass(frozen=True)
class JobState:
    """Where a job stands: the run going on now, its last finished run, and its last failure."""

    spec: JobSpec
    running: JobRun | None
    last_run: JobRun | None
    last_failure: JobRun | None

    @property
    def failing(self) -> bool:
        """Whether its last finished run failed."""
        return self.last_run is not None and self.last_run.outcome == "failure"


def job_states(runs: JobRuns, jobs: list[JobSpec]) -> list[JobState]:
    """Each job's state, after marking interrupted the runs of processes that died (so none shows as running)."""
    runs.recover()
    return [JobState(spec, runs.running(spec.id), runs.latest(spec.id, outcomes=("success", "failure", "interrupted")),
                     runs.latest(spec.id, outcomes=("failure",))) for spec in jobs]


def send_mail(services: Services) -> dict:
    """Deliver the queued mail that is due."""
    return dataclasses.asdict(send_outbox(services.outbox))


def prune_expired(services: Services) -> dict:
    """Forget ended sessions, used or expired link tokens, login failures older than the throttle window, and old
    job runs."""
    sessions = services.sessions.prune()
    with services.appliance.control_db.transaction() as conn:
        tokens = services.tokens.prune(conn)
    failures = services.throttle.prune()
    runs = JobRuns(services.appliance.control_db, clock=services.appliance.clock).prune()
    return {"sessions": sessions, "link_tokens": tokens, "login_failures": failures, "job_runs": runs}


def checkpoint_databases(services: Services) -> dict:
    """Fold the write-ahead logs into the database files so they stay small and deleted pages leave them."""
    services.appliance.control_db.checkpoint()
    return {"checkpointed": ["control"]}


def verify_audit_log(services: Services) -> dict:
    """The audit checkpoint: walk the whole HMAC chain; a broken chain fails the run (and so reaches operators)."""
    result = services.audit.verify()
    if not result.ok:
        raise AuditChainBroken(f"the audit log is not intact: {result.problem}; run `chatspark audit verify` and "
                               "compare the log with a backup")
    return {"rows_checked": result.rows_checked}


def declared_jobs(settings: Settings) -> list[JobSpec]:
    """Every periodic job of the appliance. To add one: write `name(services) -> dict` beside its domain and add a
    JobSpec line here; the scheduler, `chatspark jobs` and the API pick it up."""
    return [
        JobSpec("send_outbox", "send queued mail", dt.timedelta(seconds=settings.outbox_interval_seconds), send_mail),
        JobSpec("prune_expired", "forget expired sessions, link tokens, login failures and old job runs",
                dt.timedelta(hours=1), prune_expired),
        JobSpec("checkpoint_databases", "fold write-ahead logs into the database files", dt.timedelta(minutes=15),
                checkpoint_databases),
        JobSpec("verify_audit_log", "verify the audit log's HMAC chain end to end", dt.timedelta(hours=6),
                verify_audit_log),
        JobSpec("retention_sweep", "apply each workspace's retention policy (batched), then checkpoint",
                dt.timedelta(minutes=settings.retention_sweep_minutes), sweep_retention),
        JobSpec("purge_cancelled_workspaces", "crypto-shred cancelled workspaces whose purge date has passed",
                dt.timedelta(minutes=settings.retention_sweep_minutes), purge_cancelled_workspaces),
        JobSpec("backup", "back up every database, verify the backup, prune old ones",
                dt.timedelta(hours=settings.backup_interval_hours), backup_verify_and_prune),
    ]


def build_scheduler(services: Services, settings: Settings, *, jobs: list[JobSpec] | None = None) -> JobScheduler:
    """The scheduler of the serving process, with the declared jobs (or `jobs`); nothing runs until `start()`."""
    return JobScheduler(services, declared_jobs(settings) if jobs is None else jobs)
