"""Periodic jobs of the serving process."""

from __future__ import annotations

import datetime as dt

from appliance.jobs import build_scheduler, checkpoint_databases, prune_expired
from appliance.mail.outbox import send_outbox


def test_checkpoint_job_folds_the_control_write_ahead_log_into_the_file(services):
    appliance = services.appliance
    with appliance.control_db.transaction() as conn:
        conn.execute("INSERT INTO settings (name, value, updated_at) VALUES ('motto', 'kept', 'now')")
    wal = appliance.layout.control_db.with_name("control.db-wal")
    assert wal.stat().st_size > 0

    checkpoint_databases(services)

    assert wal.stat().st_size == 0
    assert appliance.control_db.query_one("SELECT value FROM settings WHERE name = 'motto'")["value"] == "kept"


def test_scheduler_declares_each_job_once_with_its_interval(services):
    scheduler = build_scheduler(services, outbox_interval_seconds=15)

    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"send_outbox", "prune_expired", "checkpoint_databases"}
    assert jobs["send_outbox"].func is send_outbox and jobs["send_outbox"].args == (services.outbox,)
    assert jobs["send_outbox"].trigger.interval.total_seconds() == 15
    assert jobs["checkpoint_databases"].trigger.interval.total_seconds() == 15 * 60
    assert jobs["prune_expired"].trigger.interval.total_seconds() == 3600
    assert not scheduler.running


def test_prune_forgets_expired_sessions_and_old_login_failures(services, clock):
    db = services.appliance.control_db
    user = services.users.create_operator(email="op@example.com", password="a long enough passphrase")
    with db.transaction() as conn:
        services.sessions.start(conn, user_id=user.id, client_address="127.0.0.1", user_agent="test")
    services.throttle.record_failure(account="someone@example.com", address="192.0.2.1")

    clock.advance(days=2)
    prune_expired(services)

    assert db.query_one("SELECT count(*) FROM sessions")[0] == 0
    assert db.query_one("SELECT count(*) FROM login_failures")[0] == 0
    assert isinstance(clock.now(), dt.datetime)
