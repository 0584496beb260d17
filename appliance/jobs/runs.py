"""Runs of scheduled jobs: a lease per job so none runs twice at once (across processes), and a record of each run."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.clock import Clock, isoformat
from appliance.errors import JobAlreadyRunning, ValidationError
from appliance.logs import redact_text
from appliance.storage.database import Database

TRIGGERS = ("schedule", "catch_up", "manual")
OUTCOMES = ("running", "success", "failure", "interrupted", "skipped")
# A lease outlives a crash by at most this long; the runner renews it while the job runs (see JobRunner).
LEASE = dt.timedelta(minutes=5)
MAX_SUMMARY_CHARS = 4000
MAX_ERROR_CHARS = 2000
MAX_PAGE = 500
KEEP_RUNS_PER_JOB = 5000
KEEP_RUNS_FOR = dt.timedelta(days=90)

# Which process this is, besides its pid: a pid can be reused (a restarted container is often pid 1 again), and a
# lease left by the dead holder of the same pid must not pass for this process's own.
_PROCESS_TOKEN = secrets.token_hex(8)


@dataclass(frozen=True)
class JobRun:
    """One run of a job: what started it, how it ended, what it did or why it failed, and which process ran it."""

    id: int
    job_id: str
    trigger: str
    requested_by: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    duration_ms: int | None
    outcome: str
    summary: dict
    error: str | None
    host: str
    pid: int

    def public(self) -> dict[str, Any]:
        """The run as the API and `chatspark jobs runs --json` show it."""
        return {"id": self.id, "job_id": self.job_id, "trigger": self.trigger, "requested_by": self.requested_by,
                "started_at": isoformat(self.started_at),
                "finished_at": isoformat(self.finished_at) if self.finished_at else None,
                "duration_ms": self.duration_ms, "outcome": self.outcome, "summary": self.summary,
                "error": self.error, "host": self.host, "pid": self.pid}


def _run_from_row(row: Any) -> JobRun:
    try:
        summary = json.loads(row["summary"])
    except ValueError:
        summary = {"unreadable_summary": row["summary"]}
    return JobRun(row["id"], row["job_id"], row["trigger"], row["requested_by"], _instant(row["started_at"]),
                  _instant(row["finished_at"]), row["duration_ms"], row["outcome"], summary, row["error"],
                  row["host"], row["pid"])


class JobRuns:
    """The `job_runs` and `job_leases` tables of the control database, as seen from one process."""

    def __init__(self, db: Database, *, clock: Clock, host: str | None = None, pid: int | None = None,
                 lease: dt.timedelta = LEASE) -> None:
        self._db = db
        self._clock = clock
        self.host = host or socket.gethostname()
        self.pid = os.getpid() if pid is None else pid
        self.lease = lease

    def claim(self, job_id: str, trigger: str, *, requested_by: str | None = None) -> JobRun:
        """Take the job's lease and record the run as started, in one write transaction.

        If another run holds the lease (in this process or any other), the attempt is recorded as skipped and
        JobAlreadyRunning says which run holds it. A lease whose holder died or let it lapse is taken over, and the
        run it belonged to is marked interrupted.
        """
        if trigger not in TRIGGERS:
            raise ValidationError(f"a job's trigger is one of {', '.join(TRIGGERS)}, not {trigger!r}")
        now = isoformat(self._clock.now())
        with self._db.transaction() as conn:
            lease = conn.execute("SELECT * FROM job_leases WHERE job_id = ?", (job_id,)).fetchone()
            if lease is not None and self._held(lease, now):
                holder = self._get(conn, lease["run_id"])
                refusal = JobAlreadyRunning(
                    f"job {job_id} is running now (run {lease['run_id']}, started "
                    f"{holder.started_at:%Y-%m-%d %H:%M:%S} UTC by process {lease['pid']} on {lease['host']}); "
                    "it runs once at a time, so try again when that run has finished"
                    if holder else f"job {job_id} is running now; try again when that run has finished")
                self._insert(conn, job_id, trigger, requested_by, now, outcome="skipped", finished_at=now,
                             error=str(refusal))
            else:
                refusal = None
                if lease is not None:
                    self._interrupt(conn, lease["run_id"], now)
                run_id = self._insert(conn, job_id, trigger, requested_by, now, outcome="running")
                conn.execute(
                    "INSERT OR REPLACE INTO job_leases (job_id, run_id, host, pid, process, acquired_at, expires_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (job_id, run_id, self.host, self.pid, _PROCESS_TOKEN, now, self._expiry()))
                run = self._get(conn, run_id)
        if refusal is not None:
            raise refusal
        return run

    def renew(self, run: JobRun) -> bool:
        """Push the lease's expiry forward while `run` holds it; False if it no longer does."""
        with self._db.transaction() as conn:
            return conn.execute("UPDATE job_leases SET expires_at = ? WHERE job_id = ? AND run_id = ?",
                                (self._expiry(), run.job_id, run.id)).rowcount == 1

    def finish(self, conn: Any, run: JobRun, *, outcome: str, summary: Any = None, error: str | None = None,
               duration_ms: int | None = None) -> JobRun:
        """Record how `run` ended and give up its lease, inside the caller's transaction `conn`."""
        if outcome not in ("success", "failure"):
            raise ValidationError(f"a run finishes as success or failure, not {outcome!r}")
        conn.execute(
            "UPDATE job_runs SET outcome = ?, finished_at = ?, duration_ms = ?, summary = ?, error = ? WHERE id = ?",
            (outcome, isoformat(self._clock.now()), duration_ms, summary_json(summary),
             None if error is None else error_text(error), run.id))
        conn.execute("DELETE FROM job_leases WHERE job_id = ? AND run_id = ?", (run.job_id, run.id))
        return self._get(conn, run.id)

    def last_decided_outcome(self, conn: Any, job_id: str, *, before: int) -> str | None:
        """Whether the job's last success-or-failure run before run `before` succeeded, failed, or never was."""
        row = conn.execute(
            "SELECT outcome FROM job_runs WHERE job_id = ? AND id < ? AND outcome IN ('success', 'failure') "
            "ORDER BY id DESC LIMIT 1", (job_id, before)).fetchone()
        return row["outcome"] if row else None

    def failure_streak(self, conn: Any, job_id: str, *, before: int) -> int:
        """How many failed runs came one after another before run `before` (skipped and interrupted ones aside)."""
        success = conn.execute("SELECT max(id) FROM job_runs WHERE job_id = ? AND id < ? AND outcome = 'success'",
                               (job_id, before)).fetchone()[0] or 0
        return conn.execute("SELECT count(*) FROM job_runs WHERE job_id = ? AND id > ? AND id < ? "
                            "AND outcome = 'failure'", (job_id, success, before)).fetchone()[0]

    def recover(self) -> list[JobRun]:
        """Mark interrupted every run left 'running' by a process that died or let its lease lapse."""
        if self._db.query_one("SELECT 1 FROM job_runs WHERE outcome = 'running' LIMIT 1") is None:
            return []
        now = isoformat(self._clock.now())
        interrupted = []
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT r.id, l.run_id AS lease_run, l.host, l.pid, l.process, l.expires_at FROM job_runs r "
                "LEFT JOIN job_leases l ON l.job_id = r.job_id WHERE r.outcome = 'running'").fetchall()
            for row in rows:
                if row["lease_run"] == row["id"] and self._held(row, now):
                    continue
                self._interrupt(conn, row["id"], now)
                interrupted.append(self._get(conn, row["id"]))
        return interrupted

    def runs(self, *, job_id: str | None = None, limit: int = 100, after: int | None = None) -> list[JobRun]:
        """Runs newest first, of one job or all; pass the last id seen as `after` for the next page."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationError(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
        sql, params = "SELECT * FROM job_runs WHERE 1 = 1", []
        if job_id is not None:
            sql += " AND job_id = ?"
            params.append(job_id)
        if after is not None:
            sql += " AND id < ?"
            params.append(after)
        rows = self._db.query(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [_run_from_row(row) for row in rows]

    def get(self, run_id: int) -> JobRun | None:
        return self._get(self._db.connection, run_id)

    def latest(self, job_id: str, *, outcomes: tuple[str, ...] = OUTCOMES) -> JobRun | None:
        """The job's newest run with one of `outcomes`."""
        marks = ", ".join("?" * len(outcomes))
        row = self._db.query_one(f"SELECT * FROM job_runs WHERE job_id = ? AND outcome IN ({marks}) "
                                 "ORDER BY id DESC LIMIT 1", (job_id, *outcomes))
        return _run_from_row(row) if row else None

    def running(self, job_id: str) -> JobRun | None:
        """The run holding the job's lease now, if one does."""
        now = isoformat(self._clock.now())
        lease = self._db.query_one("SELECT * FROM job_leases WHERE job_id = ?", (job_id,))
        return self.get(lease["run_id"]) if lease is not None and self._held(lease, now) else None

    def prune(self, *, keep_per_job: int = KEEP_RUNS_PER_JOB, keep_for: dt.timedelta = KEEP_RUNS_FOR) -> int:
        """Forget finished runs older than `keep_for` or beyond the newest `keep_per_job` of their job."""
        cutoff = isoformat(self._clock.now() - keep_for)
        with self._db.transaction() as conn:
            return conn.execute(
                "DELETE FROM job_runs WHERE outcome != 'running' AND (started_at < ? OR id IN ("
                "SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY job_id ORDER BY id DESC) AS n "
                "FROM job_runs) WHERE n > ?))", (cutoff, keep_per_job)).rowcount

    def _held(self, lease: Any, now: str) -> bool:
        """Whether the lease's holder may still be running: not expired, and its process not known to be gone."""
        if lease["expires_at"] <= now:
            return False
        if lease["host"] != self.host:
            return True
        if lease["pid"] == self.pid:
            return lease["process"] == _PROCESS_TOKEN
        return process_alive(lease["pid"])

    def _expiry(self) -> str:
        return isoformat(self._clock.now() + self.lease)

    def _insert(self, conn: Any, job_id: str, trigger: str, requested_by: str | None, now: str, *, outcome: str,
                finished_at: str | None = None, error: str | None = None) -> int:
        return int(conn.execute(
            "INSERT INTO job_runs (job_id, trigger, requested_by, started_at, finished_at, outcome, error, host, pid) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, trigger, requested_by, now, finished_at, outcome, error, self.host, self.pid)).lastrowid)

    def _interrupt(self, conn: Any, run_id: int, now: str) -> None:
        row = conn.execute("SELECT pid, host FROM job_runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return
        conn.execute(
            "UPDATE job_runs SET outcome = 'interrupted', finished_at = ?, error = ? WHERE id = ? "
            "AND outcome = 'running'",
            (now, f"process {row['pid']} on {row['host']} stopped before the run finished (it crashed, was killed "
                  "or stopped answering); the job runs again at its next time", run_id))
        conn.execute("DELETE FROM job_leases WHERE run_id = ?", (run_id,))

    @staticmethod
    def _get(conn: Any, run_id: int) -> JobRun | None:
        row = conn.execute("SELECT * FROM job_runs WHERE id = ?", (run_id,)).fetchone()
        return _run_from_row(row) if row else None


def operator_emails(conn: Any) -> list[str]:
    """Where job failures are mailed: every active appliance operator."""
    rows = conn.execute("SELECT email FROM users WHERE is_operator = 1 AND status = 'active' ORDER BY email")
    return [row["email"] for row in rows]


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (assumed so where that cannot be asked safely)."""
    if os.name == "nt":
        return True  # os.kill(pid, 0) would terminate it on Windows; the lease's expiry decides there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def summary_json(summary: Any) -> str:
    """A run's summary as compact JSON: dataclasses, times and paths made plain; cut when too long to keep."""
    if summary is None:
        summary = {}
    if not isinstance(summary, dict):
        summary = {"result": summary}
    try:
        text = json.dumps(summary, default=_plain, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError) as exc:
        text = json.dumps({"unrecordable_summary": f"{type(exc).__name__}: {exc}"})
    if len(text) > MAX_SUMMARY_CHARS:
        text = json.dumps({"truncated": text[:MAX_SUMMARY_CHARS]}, ensure_ascii=False)
    return text


def error_text(error: str) -> str:
    """An error message fit for a row, a status line and a mail: one line, secrets redacted, bounded."""
    text = redact_text(" ".join(str(error).split()))
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 1] + "…"


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dt.datetime):
        return isoformat(value) if value.tzinfo else value.isoformat()
    if isinstance(value, (dt.date, dt.timedelta, Path)):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
    return str(value)


def _instant(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None
