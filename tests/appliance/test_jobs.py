"""Periodic jobs of the serving process."""

from __future__ import annotations

from appliance.jobs import build_scheduler, checkpoint_databases


def test_checkpoint_job_folds_the_control_write_ahead_log_into_the_file(appliance):
    with appliance.control_db.transaction() as conn:
        conn.execute("INSERT INTO settings (name, value, updated_at) VALUES ('motto', 'kept', 'now')")
    wal = appliance.layout.control_db.with_name("control.db-wal")
    assert wal.stat().st_size > 0

    checkpoint_databases(appliance)

    assert wal.stat().st_size == 0
    assert appliance.control_db.query_one("SELECT value FROM settings WHERE name = 'motto'")["value"] == "kept"


def test_scheduler_runs_the_checkpoint_every_fifteen_minutes_one_at_a_time(appliance):
    scheduler = build_scheduler(appliance)

    (job,) = scheduler.get_jobs()
    assert job.id == "checkpoint_databases"
    assert job.func is checkpoint_databases
    assert job.args == (appliance,)
    assert job.trigger.interval.total_seconds() == 15 * 60
    assert not scheduler.running
