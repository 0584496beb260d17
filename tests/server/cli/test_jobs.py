"""`chatspark jobs` and `chatspark status` from a shell, with other processes (a server, a slow job) beside them."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import pytest

from appliance.bootstrap import open_appliance
from appliance.clock import SystemClock
from appliance.storage.layout import Layout
from tests.running import RunningAppliance, chatspark, free_port
from tests.server.conftest import init_appliance
from tests.waiting import wait_for

PASSWORD = "plum orbit lantern 42"


def cli(appliance_dirs, *args: str) -> subprocess.CompletedProcess:
    data_dir, key_dir = appliance_dirs
    return chatspark(*args, "--data-dir", str(data_dir), "--key-dir", str(key_dir))


def query(appliance_dirs, sql: str, params=()) -> list:
    appliance = open_appliance(Layout.of(*appliance_dirs), clock=SystemClock())
    try:
        return [dict(row) for row in appliance.control_db.query(sql, params)]
    finally:
        appliance.close()


def runs_of(appliance_dirs, job_id: str) -> list[tuple]:
    return [(r["trigger"], r["outcome"], r["requested_by"]) for r in query(
        appliance_dirs, "SELECT trigger, outcome, requested_by FROM job_runs WHERE job_id = ? ORDER BY id", (job_id,))]



@pytest.fixture
def appliance_dirs(tmp_path):
    """An appliance made a week ago: every job is due, so a server catches each one up as it starts."""
    (tmp_path / "pw.txt").write_text(PASSWORD)
    dirs = init_appliance(tmp_path, "--operator-email", "op@example.com", "--password-file", str(tmp_path / "pw.txt"))
    appliance = open_appliance(Layout.of(*dirs), clock=SystemClock())
    with appliance.control_db.transaction() as conn:
        conn.execute("UPDATE meta SET value = '2026-01-01T00:00:00Z' WHERE name = 'created_at'")
    appliance.close()
    return dirs


@pytest.fixture
def slow_job(appliance_dirs, tmp_path):
    """Start `tests.server.cli.slow_job` for a job id; returns the child once its run holds the lease."""
    children = []

    def start(job_id: str) -> subprocess.Popen:
        started, release = tmp_path / f"{job_id}.started", tmp_path / f"{job_id}.release"
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.server.cli.slow_job", "--data-dir", str(appliance_dirs[0]),
             "--key-dir", str(appliance_dirs[1]), "--job", job_id, "--started", str(started),
             "--release", str(release)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        children.append(child)
        wait_for(lambda: started.exists() or child.poll() is not None)
        assert child.poll() is None, child.stderr.read()
        child.release = release
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.communicate()


def test_jobs_run_is_refused_while_another_process_runs_the_job(appliance_dirs, slow_job):
    child = slow_job("checkpoint_databases")

    refused = cli(appliance_dirs, "jobs", "run", "checkpoint_databases")

    assert refused.returncode == 1
    assert refused.stderr.startswith("chatspark: job checkpoint_databases is running now")
    assert f"by process {child.pid}" in refused.stderr and "try again when that run has finished" in refused.stderr
    child.release.touch()
    assert child.communicate(timeout=30)[0].strip() == "success"

    ran = cli(appliance_dirs, "jobs", "run", "checkpoint_databases")
    assert ran.returncode == 0, ran.stderr
    assert re.search(r"checkpoint_databases: .* UTC, success in \d+ ms \(manual by cli\): checkpointed=", ran.stdout)
    assert runs_of(appliance_dirs, "checkpoint_databases") == [
        ("manual", "success", "slow_job"), ("manual", "skipped", "cli"), ("manual", "success", "cli")]


def test_a_run_killed_by_sigkill_is_interrupted_at_the_next_start_and_caught_up(appliance_dirs, slow_job):
    child = slow_job("verify_audit_log")
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert runs_of(appliance_dirs, "verify_audit_log") == [("manual", "running", "slow_job")]

    server = RunningAppliance(*appliance_dirs, free_port()).start()
    try:
        wait_for(lambda: runs_of(appliance_dirs, "verify_audit_log") == [
            ("manual", "interrupted", "slow_job"), ("catch_up", "success", None)])
        [interrupted] = query(appliance_dirs, "SELECT error FROM job_runs WHERE outcome = 'interrupted'")
        assert f"process {child.pid}" in interrupted["error"] and "stopped before the run finished" in \
            interrupted["error"]
        # The server caught every job up at start, and is serving.
        for job_id in ("send_outbox", "prune_expired", "checkpoint_databases"):
            wait_for(lambda job_id=job_id: ("catch_up", "success", None) in runs_of(appliance_dirs, job_id))
        assert server.get("/readyz")[0] == 200
    finally:
        assert server.stop() == 0


def test_a_failing_job_is_in_status_and_mailed_to_operators_while_the_server_keeps_serving(appliance_dirs):
    appliance = open_appliance(Layout.of(*appliance_dirs), clock=SystemClock())
    with appliance.control_db.transaction() as conn:
        conn.execute("UPDATE audit_log SET action = 'user.forged' WHERE seq = 1")
    appliance.close()
    server = RunningAppliance(*appliance_dirs, free_port()).start()
    try:
        wait_for(lambda: ("catch_up", "failure", None) in runs_of(appliance_dirs, "verify_audit_log"))
        wait_for(lambda: ("catch_up", "success", None) in runs_of(appliance_dirs, "checkpoint_databases"))
        assert server.get("/readyz")[0] == 200

        status = chatspark("status", "--data-dir", str(appliance_dirs[0]), "--key-dir", str(appliance_dirs[1]),
                           "--port", str(server.port))
        assert status.returncode == 0, status.stdout + status.stderr
        assert re.search(r"job failing: +verify_audit_log since its run at .* UTC: the audit log is not intact: "
                         r"row 1 was altered; .*\(see `chatspark jobs runs --job verify_audit_log`\)", status.stdout)
        assert "all healthy" not in status.stdout

        [mail] = query(appliance_dirs, "SELECT recipient, subject, body FROM outbox WHERE subject LIKE '%failed'")
        assert (mail["recipient"], mail["subject"]) == ("op@example.com", "ChatSpark: job verify_audit_log failed")
        assert "row 1 was altered" in mail["body"]

        [logged] = wait_for(lambda: [e for e in server.log_entries()
                                     if e["level"] == "ERROR" and "verify_audit_log failed" in e["msg"]])
        assert "AuditChainBroken" in logged["exception"] and logged["job"] == "verify_audit_log"

        status, login = server.api("POST", "/api/v1/auth/login", {"email": "op@example.com", "password": PASSWORD})
        status, listing = server.api("GET", "/api/v1/jobs", token=login["token"])
        assert status == 200
        jobs = {job["id"]: job for job in listing["jobs"]}
        assert jobs["verify_audit_log"]["last_run"]["outcome"] == "failure"
        assert jobs["verify_audit_log"]["last_failure"]["error"].startswith("the audit log is not intact")
        assert all(job["next_run_at"] for job in jobs.values())
    finally:
        assert server.stop() == 0


def test_jobs_list_runs_and_run_print_what_each_job_did(appliance_dirs):
    before = cli(appliance_dirs, "jobs", "list")
    assert before.returncode == 0, before.stderr
    assert ("prune_expired: forget expired sessions, link tokens, login failures and old job runs; summarise "
            "repeated refusals (every 1 h)") in \
        before.stdout
    assert "send_outbox: send queued mail (every 15 s)" in before.stdout
    assert before.stdout.count("last run:      never") == 9

    ran = cli(appliance_dirs, "jobs", "run", "prune_expired")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("running prune_expired (run 1) ...\n")

    listing = cli(appliance_dirs, "jobs", "list").stdout
    block = listing[listing.index("prune_expired:"):listing.index("checkpoint_databases:")]
    assert re.search(r"last run: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, success in \d+ ms \(manual by cli\): "
                     r"sessions=0 link_tokens=0 login_failures=0 job_runs=0", block), block
    assert "last failure:  none" in block

    runs = cli(appliance_dirs, "jobs", "runs")
    assert re.search(r"^ +1  .* UTC  prune_expired +success +\d+ ms  manual +sessions=0", runs.stdout, re.M), \
        runs.stdout
    as_json = json.loads(cli(appliance_dirs, "jobs", "runs", "--job", "prune_expired", "--json").stdout)
    assert [(r["id"], r["outcome"], r["requested_by"]) for r in as_json] == [(1, "success", "cli")]
    assert as_json[0]["summary"] == {"sessions": 0, "link_tokens": 0, "login_failures": 0, "job_runs": 0,
                                     "refusal_summaries": 0}
    assert json.loads(cli(appliance_dirs, "jobs", "list", "--json").stdout)[1]["last_run"]["id"] == 1
    assert cli(appliance_dirs, "jobs", "runs", "--job", "send_outbox").stdout == "no runs yet\n"

    audit = cli(appliance_dirs, "audit", "list", "--action", "job.run", "--json")
    assert [(e["target_id"], e["details"]) for e in json.loads(audit.stdout)] == [
        ("prune_expired", {"run_id": 1, "via": "cli"})]

    status = chatspark("status", "--data-dir", str(appliance_dirs[0]), "--key-dir", str(appliance_dirs[1]),
                       "--port", str(free_port()))
    assert "jobs:            all healthy (9 jobs)" in status.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("jobs", "run", "nope"), "chatspark: no job 'nope'; the jobs are backup, checkpoint_databases, prune_expired, "
                              "purge_cancelled_workspaces, resume_indexing, retention_sweep, security_alerts, "
                              "send_outbox, verify_audit_log "
                              "(see `chatspark jobs list`)"),
    (("jobs", "runs", "--job", "nope"), "chatspark: no job 'nope'"),
    (("jobs", "runs", "--limit", "0"), "chatspark: limit must be between 1 and 500, not 0"),
])
def test_jobs_commands_refuse_bad_input_in_one_line(appliance_dirs, args, message):
    result = cli(appliance_dirs, *args)

    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1


def test_a_job_that_fails_when_run_by_hand_says_why_in_one_line_and_logs_the_traceback(appliance_dirs):
    appliance = open_appliance(Layout.of(*appliance_dirs), clock=SystemClock())
    with appliance.control_db.transaction() as conn:
        conn.execute("UPDATE audit_log SET action = 'user.forged' WHERE seq = 1")
    appliance.close()

    result = cli(appliance_dirs, "jobs", "run", "verify_audit_log")

    assert result.returncode == 1 and result.stderr == ""
    assert re.fullmatch(r"running verify_audit_log \(run 1\) \.\.\.\nverify_audit_log: .* UTC, failure in \d+ ms "
                        r"\(manual by cli\): the audit log is not intact: row 1 was altered; run `chatspark audit "
                        r"verify` and compare the log with a backup\n", result.stdout), result.stdout
    log_file = appliance_dirs[0] / "logs" / "chatspark.log"
    [entry] = [e for e in map(json.loads, log_file.read_text().splitlines()) if e["level"] == "ERROR"]
    assert entry["job"] == "verify_audit_log" and "Traceback" in entry["exception"]
    [mail] = query(appliance_dirs, "SELECT recipient, subject FROM outbox WHERE subject LIKE '%failed'")
    assert mail == {"recipient": "op@example.com", "subject": "ChatSpark: job verify_audit_log failed"}
