"""Job runs: leases that keep a job from running twice at once, the record of each run, and mail on failure streaks."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import subprocess
import sys
import threading

import pytest

from appliance.clock import isoformat
from appliance.errors import JobAlreadyRunning
from appliance.jobs.declared import JobSpec
from appliance.jobs.runner import JobRunner
from appliance.jobs.runs import LEASE, MAX_ERROR_CHARS, MAX_SUMMARY_CHARS, JobRuns
from tests.appliance.mail.queued_mail import mails_to

OPERATOR = "op@example.com"


def spec(run, job_id: str = "tidy_up", every: dt.timedelta = dt.timedelta(hours=1)) -> JobSpec:
    return JobSpec(job_id, "tidy things up", every, run)


def failing(message: str = "the relay refused the connection"):
    def run():
        raise RuntimeError(message)
    return run


@pytest.fixture
def operator(services):
    return services.users.create_operator(email=OPERATOR, password="a long enough passphrase")


@pytest.fixture
def runner(services):
    runner = JobRunner(services.appliance.control_db, clock=services.appliance.clock, outbox=services.outbox)
    yield runner
    runner.close()


@pytest.fixture
def runs(services) -> JobRuns:
    return JobRuns(services.appliance.control_db, clock=services.appliance.clock)


@pytest.fixture
def other_process():
    """A live process that is not this one, to stand for a server or a shell holding a lease."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def forge_lease(services, job_id: str, *, pid: int, process: str = "elsewhere", expires_in=LEASE) -> int:
    """A run of `job_id` started by another process on this machine, holding the lease."""
    clock = services.appliance.clock
    now = isoformat(clock.now())
    with services.appliance.control_db.transaction() as conn:
        run_id = conn.execute(
            "INSERT INTO job_runs (job_id, trigger, started_at, outcome, host, pid) "
            "VALUES (?, 'schedule', ?, 'running', ?, ?)", (job_id, now, socket.gethostname(), pid)
        ).lastrowid
        conn.execute("INSERT INTO job_leases (job_id, run_id, host, pid, process, acquired_at, expires_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (job_id, run_id, socket.gethostname(), pid, process, now,
                      isoformat(clock.now() + expires_in)))
    return run_id


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_successful_run_is_recorded_with_its_trigger_times_and_summary(runner, clock):
    run = runner.run(spec(lambda: {"deleted": {"sessions": 2}}), "schedule")

    assert run.outcome == "success" and run.trigger == "schedule" and run.error is None
    assert run.summary == {"deleted": {"sessions": 2}}
    assert run.started_at == run.finished_at == clock.now()
    assert run.duration_ms is not None and run.pid == os.getpid()
    assert runner.runs.running("tidy_up") is None


def test_a_failing_run_is_recorded_with_its_message_and_logged_with_its_traceback(runner, caplog):
    with caplog.at_level(logging.ERROR, logger="appliance.jobs.runner"):
        run = runner.run(spec(failing()), "schedule")

    assert run.outcome == "failure"
    assert run.error == "RuntimeError: the relay refused the connection"
    assert "Traceback" not in run.error
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "tidy_up failed" in record.getMessage() and record.exc_info is not None
    assert runner.runs.running("tidy_up") is None, "a failed run gives its lease back"


def test_two_threads_never_run_a_job_at_once(runner):
    inside, most_inside, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def slow():
        with lock:
            inside[0] += 1
            most_inside[0] = max(most_inside[0], inside[0])
        release.wait(10)
        with lock:
            inside[0] -= 1
        return {}

    job = spec(slow)
    first = threading.Thread(target=runner.run, args=(job, "schedule"))
    first.start()
    while runner.runs.running("tidy_up") is None:
        threading.Event().wait(0.01)
    results = []
    others = [threading.Thread(target=lambda: results.append(runner.run(job, "manual"))) for _ in range(6)]
    for thread in others:
        thread.start()
    for thread in others:
        thread.join(10)
    release.set()
    first.join(10)

    assert results == [None] * 6 and most_inside[0] == 1
    outcomes = [run.outcome for run in runner.runs.runs(job_id="tidy_up")]
    assert sorted(outcomes) == ["skipped"] * 6 + ["success"]
    skipped = runner.runs.latest("tidy_up", outcomes=("skipped",))
    assert "is running now" in skipped.error and skipped.trigger == "manual"


def test_a_lease_held_by_another_live_process_refuses_the_run(services, runs, other_process):
    holder = forge_lease(services, "tidy_up", pid=other_process.pid)

    with pytest.raises(JobAlreadyRunning, match=rf"run {holder}.*process {other_process.pid}"):
        runs.claim("tidy_up", "manual")

    assert runs.get(holder).outcome == "running"
    assert runs.running("tidy_up").id == holder


def test_the_lease_of_a_holder_that_stopped_answering_expires(services, runs, clock, other_process):
    holder = forge_lease(services, "tidy_up", pid=other_process.pid)

    clock.advance(seconds=LEASE.total_seconds() + 1)
    run = runs.claim("tidy_up", "schedule")

    assert run.outcome == "running"
    assert runs.get(holder).outcome == "interrupted"
    assert f"process {other_process.pid}" in runs.get(holder).error


def test_the_lease_of_a_process_that_died_is_taken_over_at_once(services, runs):
    holder = forge_lease(services, "tidy_up", pid=dead_pid())

    run = runs.claim("tidy_up", "catch_up")

    assert run.outcome == "running" and runs.get(holder).outcome == "interrupted"


def test_a_reused_pid_does_not_pass_for_the_process_that_held_the_lease(services, runs):
    # A restarted container is often pid 1 again: the lease its previous life left is not this process's own.
    holder = forge_lease(services, "tidy_up", pid=os.getpid(), process="previous-life")

    assert runs.recover()[0].id == holder
    assert runs.get(holder).outcome == "interrupted"


def test_recovery_leaves_runs_whose_holder_is_alive(services, runs, other_process):
    alive = forge_lease(services, "tidy_up", pid=other_process.pid)
    dead = forge_lease(services, "sweep", pid=dead_pid())

    assert [run.id for run in runs.recover()] == [dead]
    assert runs.get(alive).outcome == "running"


def test_a_long_run_renews_its_lease(services, clock):
    runner = JobRunner(services.appliance.control_db, clock=services.appliance.clock, outbox=services.outbox,
                       renew_every_seconds=0.05)
    renewed = threading.Event()

    def long_job():
        lease = services.appliance.control_db.query_one("SELECT expires_at FROM job_leases")["expires_at"]
        clock.advance(minutes=4)
        for _ in range(200):
            threading.Event().wait(0.02)
            now = services.appliance.control_db.query_one("SELECT expires_at FROM job_leases")["expires_at"]
            if now > lease:
                renewed.set()
                break
        return {}

    try:
        runner.run(spec(long_job), "schedule")
    finally:
        runner.close()
    assert renewed.is_set()


def test_operators_get_one_mail_per_failure_streak_and_one_when_the_job_recovers(services, runner, operator):
    broken = spec(failing("the relay refused the connection"))
    for _ in range(3):
        runner.run(broken, "schedule")

    [alert] = mails_to(services, OPERATOR)
    assert alert["subject"] == "ChatSpark: job tidy_up failed"
    assert "the relay refused the connection" in alert["body"] and "chatspark jobs runs --job tidy_up" in alert["body"]

    runner.run(spec(lambda: {}), "schedule")
    runner.run(spec(lambda: {}), "schedule")
    mails = mails_to(services, OPERATOR)
    assert [m["subject"] for m in mails] == ["ChatSpark: job tidy_up failed", "ChatSpark: job tidy_up succeeds again"]
    assert "after 3 failed runs" in mails[1]["body"]

    runner.run(broken, "schedule")
    assert len(mails_to(services, OPERATOR)) == 3, "a new streak is mailed again"


def test_a_skipped_or_interrupted_run_does_not_break_a_failure_streak(services, runner, runs, operator):
    broken = spec(failing())
    runner.run(broken, "schedule")
    forge_lease(services, "tidy_up", pid=dead_pid())
    runs.recover()
    runner.run(broken, "schedule")

    assert len(mails_to(services, OPERATOR)) == 1


def test_every_active_operator_is_mailed_and_no_one_else(services, runner, operator):
    second = services.users.create_operator(email="second@example.com", password="plum orbit lantern 42")
    services.users.set_disabled(second.id, disabled=True, actor_id=operator.id, client_address=None)
    services.users.create_operator(email="third@example.com", password="quartz meadow ferry 17")

    runner.run(spec(failing()), "schedule")

    recipients = services.appliance.control_db.query("SELECT recipient FROM outbox WHERE subject LIKE '%failed'")
    assert sorted(row["recipient"] for row in recipients) == [OPERATOR, "third@example.com"]


def test_a_summary_is_stored_as_bounded_json(runner):
    class Report:
        def __str__(self):
            return "a report"

    run = runner.run(spec(lambda: {"when": dt.datetime(2026, 11, 29, tzinfo=dt.timezone.utc),
                                            "ids": {"b", "a"}, "report": Report(), "ratio": 0.5}), "manual")
    assert run.summary == {"when": "2026-11-29T00:00:00Z", "ids": ["a", "b"], "report": "a report", "ratio": 0.5}

    huge = runner.run(spec(lambda: {"ids": list(range(10_000))}), "manual")
    assert set(huge.summary) == {"truncated"} and len(huge.summary["truncated"]) == MAX_SUMMARY_CHARS


def test_an_error_is_stored_on_one_line_without_secrets_and_bounded(runner):
    run = runner.run(spec(failing("login failed\nfor Authorization: Bearer abc.def.ghi " + "x" * 5000)), "manual")

    assert "\n" not in run.error and "abc.def.ghi" not in run.error and "[redacted]" in run.error
    assert len(run.error) == MAX_ERROR_CHARS


def test_a_run_that_cannot_be_recorded_is_logged_and_never_raises(services, runner, caplog):
    services.appliance.control_db.close()

    with caplog.at_level(logging.ERROR, logger="appliance.jobs.runner"):
        assert runner.run(spec(lambda: {}), "schedule") is None

    assert "could not start" in caplog.text


def test_runs_are_listed_newest_first_a_page_at_a_time(runner, runs):
    for _ in range(5):
        runner.run(spec(lambda: {}), "schedule")
    runner.run(spec(lambda: {}, job_id="other"), "schedule")

    first = runs.runs(job_id="tidy_up", limit=3)
    second = runs.runs(job_id="tidy_up", limit=3, after=first[-1].id)

    assert [r.id for r in first + second] == sorted((r.id for r in first + second), reverse=True)
    assert len(first) == 3 and len(second) == 2 and {r.job_id for r in first + second} == {"tidy_up"}
    assert len(runs.runs()) == 6
    assert json.dumps(first[0].public())


def test_old_runs_are_pruned_but_never_a_running_one(services, runner, runs, clock):
    for _ in range(4):
        runner.run(spec(lambda: {}), "schedule")
    ongoing = runs.claim("sweep", "schedule")

    assert runs.prune(keep_per_job=2) == 2
    assert len(runs.runs(job_id="tidy_up")) == 2

    clock.advance(days=91)
    assert runs.prune() == 2
    assert [r.id for r in runs.runs()] == [ongoing.id]
