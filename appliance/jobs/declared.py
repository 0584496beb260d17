"""The periodic jobs of the appliance, declared in one place.

A job is a function that receives the collaborators it uses and returns a dict (the run's summary: what it did);
`declared_jobs` binds each to them and gives it one JobSpec line. The runner (appliance/jobs/runner.py) keeps any job
from running twice at once, in this process or another, records each run, and mails operators when one starts failing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from typing import Callable

from appliance.accounts.sessions import SessionService
from appliance.accounts.throttle import LoginThrottle
from appliance.accounts.tokens import LinkTokens
from appliance.audit.log import AuditLog
from appliance.backups.jobs import backup_verify_and_prune
from appliance.backups.service import BackupService
from appliance.errors import AuditChainBroken
from appliance.jobs.runs import JobRun, JobRuns
from appliance.knowledge.service import Knowledge
from appliance.mail.outbox import Outbox, send_outbox
from appliance.monitoring.alerts import SecurityAlerts
from appliance.retention.purge import WorkspacePurger, purge_cancelled_workspaces
from appliance.retention.service import RetentionService, sweep_retention
from appliance.settings import Settings
from appliance.storage.database import Database
from appliance.workspaces.service import WorkspaceService

_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class JobSpec:
    """One periodic job: its id (stable: runs are recorded under it), what it does, how often, and the work, already
    bound to what it uses."""

    id: str
    description: str
    every: dt.timedelta
    run: Callable[[], dict]

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


def send_mail(outbox: Outbox) -> dict:
    """Deliver the queued mail that is due."""
    return dataclasses.asdict(send_outbox(outbox))


def prune_expired(db: Database, *, sessions: SessionService, tokens: LinkTokens, throttle: LoginThrottle,
                  runs: JobRuns, audit: AuditLog) -> dict:
    """Forget ended sessions, used or expired link tokens, login failures older than the throttle window, and old
    job runs; write the summaries of repeated refusals whose window has closed."""
    pruned_sessions = sessions.prune()
    with db.transaction() as conn:
        pruned_tokens = tokens.prune(conn)
    failures = throttle.prune()
    return {"sessions": pruned_sessions, "link_tokens": pruned_tokens, "login_failures": failures,
            "job_runs": runs.prune(), "refusal_summaries": audit.flush_repeats()}


def checkpoint_databases(db: Database) -> dict:
    """Fold the write-ahead logs into the database files so they stay small and deleted pages leave them."""
    db.checkpoint()
    return {"checkpointed": ["control"]}


def verify_audit_log(audit: AuditLog) -> dict:
    """The audit checkpoint: walk the whole HMAC chain; a broken chain fails the run (and so reaches operators)."""
    result = audit.verify()
    if not result.ok:
        raise AuditChainBroken(f"the audit log is not intact: {result.problem}; run `chatspark audit verify` and "
                               "compare the log with a backup")
    return {"rows_checked": result.rows_checked}


def resume_indexing(knowledge: Knowledge, workspaces: WorkspaceService) -> dict:
    """Queue again the sources of active workspaces that wait for indexing without being queued: those a full or
    failing disk cut short (the server's start queues the rest)."""
    return {"queued": knowledge.resume(w.id for w in workspaces.list_all() if w.status == "active")}


def declared_jobs(settings: Settings, *, db: Database, outbox: Outbox, sessions: SessionService, tokens: LinkTokens,
                  throttle: LoginThrottle, runs: JobRuns, audit: AuditLog, retention: RetentionService,
                  purges: WorkspacePurger, backups: BackupService, knowledge: Knowledge,
                  workspaces: WorkspaceService, alerts: SecurityAlerts) -> list[JobSpec]:
    """Every periodic job of the appliance, bound to what it uses (`db` is the control database). To add one: write
    its function beside its domain, taking what it needs, and add a JobSpec line here; the scheduler,
    `chatspark jobs` and the API pick it up."""
    sweep_every = dt.timedelta(minutes=settings.retention_sweep_minutes)
    return [
        JobSpec("send_outbox", "send queued mail", dt.timedelta(seconds=settings.outbox_interval_seconds),
                lambda: send_mail(outbox)),
        JobSpec("prune_expired", "forget expired sessions, link tokens, login failures and old job runs; summarise "
                "repeated refusals",
                dt.timedelta(hours=1),
                lambda: prune_expired(db, sessions=sessions, tokens=tokens, throttle=throttle, runs=runs, audit=audit)),
        JobSpec("checkpoint_databases", "fold write-ahead logs into the database files", dt.timedelta(minutes=15),
                lambda: checkpoint_databases(db)),
        JobSpec("verify_audit_log", "verify the audit log's HMAC chain end to end", dt.timedelta(hours=6),
                lambda: verify_audit_log(audit)),
        JobSpec("retention_sweep", "apply each workspace's retention policy (batched), then checkpoint",
                sweep_every, lambda: sweep_retention(retention)),
        JobSpec("purge_cancelled_workspaces", "crypto-shred cancelled workspaces whose purge date has passed",
                sweep_every, lambda: purge_cancelled_workspaces(purges)),
        JobSpec("backup", "back up every database, verify the backup, prune old ones",
                dt.timedelta(hours=settings.backup_interval_hours), lambda: backup_verify_and_prune(backups)),
        JobSpec("resume_indexing", "queue again training sources a full or failing disk left waiting",
                dt.timedelta(minutes=5), lambda: resume_indexing(knowledge, workspaces)),
        JobSpec("security_alerts", "open, mail and close security alerts (sign-ins, API keys, audit chain, backups, "
                "certificate, disk)", dt.timedelta(minutes=1), alerts.check),
    ]
