"""The declared jobs, what each reports, and the scheduler: catch-up at start, failures that stop nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.clock import isoformat
from appliance.errors import AuditChainBroken, JobAlreadyRunning, NotFound
from appliance.jobs.declared import (
    JobSpec,
    checkpoint_databases,
    job_states,
    prune_expired,
    send_mail,
    verify_audit_log,
)
from appliance.jobs.runs import JobRuns
from appliance.services import build_scheduler, build_services
from tests.appliance.mail.queued_mail import mails_to
from tests.waiting import wait_for


def record_run(services, job_id: str, *, started: dt.datetime, outcome: str = "success") -> None:
    """A run as an earlier life of the appliance left it."""
    with services.appliance.control_db.transaction() as conn:
        conn.execute("INSERT INTO job_runs (job_id, trigger, started_at, finished_at, outcome, host, pid) "
                     "VALUES (?, 'schedule', ?, ?, ?, 'earlier', 1)",
                     (job_id, isoformat(started), isoformat(started), outcome))


def runs_of(services, job_id: str) -> list:
    return services.appliance.control_db.query(
        "SELECT trigger, outcome, error FROM job_runs WHERE job_id = ? AND host != 'earlier' ORDER BY id", (job_id,))


@pytest.fixture
def started(services, settings):
    """Start a scheduler with the given jobs; stop it after the test."""
    schedulers = []

    def start(jobs):
        scheduler = build_scheduler(services, jobs=jobs)
        schedulers.append(scheduler)
        scheduler.start()
        return scheduler

    yield start
    for scheduler in schedulers:
        scheduler.shutdown(wait=True)


def test_the_declared_jobs_each_appear_once_with_their_interval(appliance, settings):
    built = build_services(appliance, settings.replace(outbox_interval_seconds=15, backup_interval_hours=12))
    jobs = {spec.id: spec for spec in built.jobs}

    assert set(jobs) == {"send_outbox", "prune_expired", "checkpoint_databases", "verify_audit_log",
                         "retention_sweep", "purge_cancelled_workspaces", "backup", "resume_indexing",
                         "security_alerts"}
    assert jobs["backup"].every == dt.timedelta(hours=12)
    assert jobs["retention_sweep"].every == jobs["purge_cancelled_workspaces"].every == dt.timedelta(hours=1)
    assert jobs["send_outbox"].every == dt.timedelta(seconds=15)
    assert jobs["checkpoint_databases"].every == dt.timedelta(minutes=15)
    assert jobs["prune_expired"].every == dt.timedelta(hours=1)
    assert jobs["verify_audit_log"].every == dt.timedelta(hours=6)
    assert all(spec.description for spec in jobs.values())


def test_a_job_needs_a_plain_id_and_a_positive_interval():
    with pytest.raises(ValueError, match="lower-case"):
        JobSpec("Send Mail", "send", dt.timedelta(minutes=1), send_mail)
    with pytest.raises(ValueError, match="positive interval"):
        JobSpec("send", "send", dt.timedelta(0), send_mail)


def test_a_job_declared_twice_is_refused(services, settings):
    job = JobSpec("tidy", "tidy", dt.timedelta(hours=1), lambda: {})
    with pytest.raises(ValueError, match="declared twice"):
        build_scheduler(services, jobs=[job, job])


def test_checkpoint_job_folds_the_control_write_ahead_log_into_the_file(services):
    appliance = services.appliance
    with appliance.control_db.transaction() as conn:
        conn.execute("INSERT INTO settings (name, value, updated_at) VALUES ('motto', 'kept', 'now')")
    wal = appliance.layout.control_db.with_name("control.db-wal")
    assert wal.stat().st_size > 0

    assert checkpoint_databases(services.appliance.control_db) == {"checkpointed": ["control"]}

    assert wal.stat().st_size == 0
    assert appliance.control_db.query_one("SELECT value FROM settings WHERE name = 'motto'")["value"] == "kept"


def test_prune_forgets_expired_sessions_and_old_login_failures_and_says_how_many(services, clock):
    db = services.appliance.control_db
    user = services.users.create_operator(email="op@example.com", password="a long enough passphrase")
    with db.transaction() as conn:
        services.sessions.start(conn, user_id=user.id, client_address="127.0.0.1", user_agent="test")
    services.throttle.record_failure(account="someone@example.com", address="192.0.2.1")

    clock.advance(days=2)
    summary = prune_expired(db, sessions=services.sessions, tokens=services.tokens, throttle=services.throttle,
                            runs=JobRuns(db, clock=clock), audit=services.audit)

    assert summary == {"sessions": 1, "link_tokens": 0, "login_failures": 1, "job_runs": 0, "refusal_summaries": 0}
    assert db.query_one("SELECT count(*) FROM sessions")[0] == 0
    assert db.query_one("SELECT count(*) FROM login_failures")[0] == 0


def test_send_outbox_job_reports_what_waits_when_no_relay_is_configured(services):
    services.outbox.enqueue(to="someone@example.com", subject="Hello", body="Hi")

    assert send_mail(services.outbox) == {"sent": 0, "retried": 0, "failed": 0, "waiting": 1}


def test_audit_checkpoint_reports_the_rows_it_verified_and_fails_on_a_broken_chain(services):
    services.audit.record("test.first")
    services.audit.record("test.second")
    assert verify_audit_log(services.audit) == {"rows_checked": 2}

    with services.appliance.control_db.transaction() as conn:
        conn.execute("UPDATE audit_log SET action = 'test.forged' WHERE seq = 1")

    with pytest.raises(AuditChainBroken, match="row 1 was altered"):
        verify_audit_log(services.audit)


def test_a_job_that_never_ran_is_due_one_interval_after_the_appliance_was_made(started, services, clock):
    """A fresh install does not back up empty databases at once; an old one catches up whatever never ran."""
    scheduler = started([JobSpec("weekly", "weekly", dt.timedelta(days=7), lambda: {})])
    wait = scheduler.next_run_time("weekly") - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=6, hours=23) < wait <= dt.timedelta(days=7)
    assert runs_of(services, "weekly") == []


def test_a_job_that_never_ran_on_an_older_appliance_runs_at_once_when_the_scheduler_starts(started, services,
                                                                                           clock):
    clock.advance(hours=2)  # the appliance was made two hours ago
    started([JobSpec("tidy", "tidy up", dt.timedelta(hours=1), lambda: {"tidied": 1})])

    wait_for(lambda: [(r["trigger"], r["outcome"]) for r in runs_of(services, "tidy")] == [("catch_up", "success")])


def test_a_job_missed_while_the_server_was_down_is_caught_up_and_a_recent_one_waits(started, services, clock):
    record_run(services, "overdue", started=clock.now() - dt.timedelta(hours=2))
    record_run(services, "failed_long_ago", started=clock.now() - dt.timedelta(hours=2), outcome="failure")
    record_run(services, "recent", started=clock.now() - dt.timedelta(minutes=10))
    hourly = dt.timedelta(hours=1)
    scheduler = started([JobSpec(job_id, job_id, hourly, lambda: {})
                         for job_id in ("overdue", "failed_long_ago", "recent")])

    for job_id in ("overdue", "failed_long_ago"):
        wait_for(lambda job_id=job_id: [(r["trigger"], r["outcome"]) for r in runs_of(services, job_id)]
                 == [("catch_up", "success")])
    assert runs_of(services, "recent") == []
    # The recent one keeps its rhythm: due an hour after its last run, not an hour after this start.
    wait = scheduler.next_run_time("recent") - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(minutes=49) < wait <= dt.timedelta(minutes=50)


def test_a_job_whose_last_run_was_interrupted_runs_at_once_whenever_it_last_finished(started, services, clock):
    """A sweep or a backup killed half-way is finished at the next start, not an interval later."""
    record_run(services, "sweep", started=clock.now() - dt.timedelta(minutes=30))
    record_run(services, "sweep", started=clock.now() - dt.timedelta(minutes=10), outcome="interrupted")
    record_run(services, "tidy", started=clock.now() - dt.timedelta(minutes=10), outcome="interrupted")
    record_run(services, "tidy", started=clock.now() - dt.timedelta(minutes=5))
    hourly = dt.timedelta(hours=1)
    scheduler = started([JobSpec(job_id, job_id, hourly, lambda: {}) for job_id in ("sweep", "tidy")])

    wait_for(lambda: [(r["trigger"], r["outcome"]) for r in runs_of(services, "sweep")] == [("catch_up", "success")])
    # One that finished after its interrupted run keeps its rhythm.
    assert runs_of(services, "tidy") == []
    wait = scheduler.next_run_time("tidy") - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(minutes=54) < wait <= dt.timedelta(minutes=55)


def test_a_failing_job_is_recorded_and_mailed_once_while_other_jobs_keep_running(started, services):
    services.users.create_operator(email="op@example.com", password="a long enough passphrase")

    def broken():
        raise ConnectionError("the backup disk is not mounted")

    count = [0]

    def counting():
        count[0] += 1
        return {"count": count[0]}

    every = dt.timedelta(seconds=1)
    started([JobSpec("broken", "always fails", every, broken), JobSpec("healthy", "works", every, counting)])

    wait_for(lambda: len([r for r in runs_of(services, "broken") if r["outcome"] == "failure"]) >= 3)
    wait_for(lambda: len([r for r in runs_of(services, "healthy") if r["outcome"] == "success"]) >= 3)
    assert runs_of(services, "broken")[0]["error"] == "ConnectionError: the backup disk is not mounted"
    assert [m["subject"] for m in mails_to(services, "op@example.com")] == ["ChatSpark: job broken failed"]


def test_a_job_is_run_by_hand_through_the_same_lease(started, services, clock):
    release = []
    clock.advance(hours=2)  # an appliance made two hours ago: the hourly job starts at once

    def slow():
        wait_for(lambda: release, timeout=10)
        return {}

    scheduler = started([JobSpec("slow", "slow", dt.timedelta(hours=1), slow)])
    wait_for(lambda: scheduler.runner.runs.running("slow"))

    with pytest.raises(JobAlreadyRunning):
        scheduler.run_now("slow", requested_by="someone")
    with pytest.raises(NotFound, match="no job 'nope'; the jobs are slow"):
        scheduler.run_now("nope", requested_by="someone")
    release.append(True)
    wait_for(lambda: scheduler.runner.runs.running("slow") is None)

    run = scheduler.run_now("slow", requested_by="someone")
    wait_for(lambda: scheduler.runner.runs.get(run.id).outcome == "success")
    assert scheduler.runner.runs.get(run.id).requested_by == "someone"


def test_job_states_show_the_last_run_and_the_last_failure(services, settings):
    scheduler = build_scheduler(services, jobs=[
        JobSpec("flaky", "flaky", dt.timedelta(hours=1), lambda: {})])
    runner = scheduler.runner
    runner.run(JobSpec("flaky", "flaky", dt.timedelta(hours=1), lambda: 1 / 0), "schedule")
    failed = runner.runs.latest("flaky")
    [state] = job_states(runner.runs, list(scheduler.jobs.values()))
    assert state.failing and state.last_failure.id == failed.id and state.running is None

    runner.run(scheduler.job("flaky"), "manual")
    [state] = job_states(runner.runs, list(scheduler.jobs.values()))
    assert not state.failing and state.last_run.outcome == "success" and state.last_failure.id == failed.id
    runner.close()
