"""Migrations: applied in order, one transaction each, tracked by user_version, refusing databases from the future."""

from __future__ import annotations

import pytest

from appliance.errors import DatabaseTooNew, MigrationFailed
from appliance.storage import migrations
from appliance.storage.migrations import KINDS, Migration, migrate, migrations_for

STEPS = [
    Migration(1, "0001_log.sql", "CREATE TABLE log (step INTEGER NOT NULL);\nINSERT INTO log VALUES (1);"),
    Migration(2, "0002_notes.sql", "CREATE TABLE notes (body TEXT);\nINSERT INTO log VALUES (2);"),
    Migration(3, "0003_notes_author.sql", "ALTER TABLE notes ADD COLUMN author TEXT;\nINSERT INTO log VALUES (3);"),
]


@pytest.fixture
def use_migrations(monkeypatch):
    """Make `migrate` see the given list instead of the shipped .sql files."""

    def use(steps: list[Migration]) -> None:
        monkeypatch.setattr(migrations, "migrations_for", lambda kind: list(steps))

    return use


def _tables(db) -> set[str]:
    return {row["name"] for row in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}


@pytest.mark.parametrize("kind", KINDS)
def test_shipped_migrations_bring_a_new_database_to_the_latest_version(fresh_db, kind):
    shipped = migrations_for(kind)

    applied = migrate(fresh_db, kind)

    assert applied == [m.name for m in shipped]
    assert fresh_db.user_version() == shipped[-1].number
    assert "meta" in _tables(fresh_db)


def test_migrations_apply_in_order_and_track_user_version(fresh_db, use_migrations):
    use_migrations(STEPS)

    applied = migrate(fresh_db, "control")

    assert applied == ["0001_log.sql", "0002_notes.sql", "0003_notes_author.sql"]
    assert [row["step"] for row in fresh_db.query("SELECT step FROM log ORDER BY rowid")] == [1, 2, 3]
    assert fresh_db.user_version() == 3
    assert [row["name"] for row in fresh_db.query("PRAGMA table_info(notes)")] == ["body", "author"]


def test_rerunning_migrations_applies_nothing(fresh_db, use_migrations):
    use_migrations(STEPS)
    migrate(fresh_db, "control")

    assert migrate(fresh_db, "control") == []
    assert fresh_db.user_version() == 3
    assert fresh_db.query_one("SELECT count(*) FROM log")[0] == 3


def test_only_pending_migrations_run_on_a_database_part_way_along(fresh_db, use_migrations):
    use_migrations(STEPS[:2])
    migrate(fresh_db, "control")
    use_migrations(STEPS)

    assert migrate(fresh_db, "control") == ["0003_notes_author.sql"]
    assert [row["step"] for row in fresh_db.query("SELECT step FROM log ORDER BY rowid")] == [1, 2, 3]


def test_database_newer_than_this_release_raises_too_new_and_is_left_alone(fresh_db, use_migrations):
    use_migrations(STEPS)
    with fresh_db.transaction() as conn:
        conn.execute("PRAGMA user_version = 7")

    with pytest.raises(DatabaseTooNew, match=r"schema version 7, newer than this release knows \(3\)"):
        migrate(fresh_db, "control")

    assert fresh_db.user_version() == 7
    assert _tables(fresh_db) == set()


def test_failing_migration_leaves_the_previous_version_and_no_partial_tables(fresh_db, use_migrations):
    broken = Migration(2, "0002_broken.sql",
                       "CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);")
    use_migrations([STEPS[0], broken, STEPS[2]])

    with pytest.raises(MigrationFailed, match="0002_broken.sql failed: .*no_such_table"):
        migrate(fresh_db, "control")

    assert fresh_db.user_version() == 1
    assert _tables(fresh_db) == {"log"}
    assert not fresh_db.connection.in_transaction
    with fresh_db.transaction() as conn:
        conn.execute("INSERT INTO log VALUES (99)")
    assert fresh_db.query_one("SELECT count(*) FROM log")[0] == 2


def test_a_fixed_migration_applies_after_a_failed_one(fresh_db, use_migrations):
    broken = Migration(2, "0002_notes.sql", "CREATE TABLE notes (body TEXT);\nSELECT * FROM missing;")
    use_migrations([STEPS[0], broken])
    with pytest.raises(MigrationFailed):
        migrate(fresh_db, "control")

    use_migrations(STEPS[:2])

    assert migrate(fresh_db, "control") == ["0002_notes.sql"]
    assert fresh_db.user_version() == 2


@pytest.fixture
def migration_folder(tmp_path, monkeypatch):
    """A stand-in for the package's migrations folder, so migrations_for reads files the test writes."""
    monkeypatch.setattr(migrations.resources, "migrations_dir", lambda kind: tmp_path / "migrations" / kind)
    folder = tmp_path / "migrations" / "workspace"
    folder.mkdir(parents=True)
    return folder


def test_migrations_for_reads_numbered_sql_files_in_numeric_order(migration_folder):
    for name in ("0002_second.sql", "0001_first.sql", "0010_tenth.sql", *(f"{n:04d}_n.sql" for n in range(3, 10))):
        (migration_folder / name).write_text(f"-- {name}\n", encoding="utf-8")
    (migration_folder / "README.md").write_text("not a migration", encoding="utf-8")
    (migration_folder / "0011_Upper.sql").write_text("ignored: not a migration name", encoding="utf-8")

    found = migrations_for("workspace")

    assert [m.number for m in found] == list(range(1, 11))
    assert found[0] == Migration(1, "0001_first.sql", "-- 0001_first.sql\n")


def test_migrations_for_refuses_a_gap_in_the_numbers(migration_folder):
    for name in ("0001_first.sql", "0003_third.sql"):
        (migration_folder / name).write_text("SELECT 1;", encoding="utf-8")

    with pytest.raises(MigrationFailed, match="skip from 1 to 3"):
        migrations_for("workspace")


def test_migrations_for_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown database kind 'users'"):
        migrations_for("users")
