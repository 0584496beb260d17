"""Workspace databases: one file and one key each, shared once open, shredded key first."""

from __future__ import annotations

import shutil

import pytest

from appliance.bootstrap import open_appliance
from appliance.errors import (
    ApplianceExists,
    DatabaseMissing,
    DatabaseUnreadable,
    InvalidIdentifier,
    UnknownKey,
)
from appliance.keys.keystore import workspace_db_key
from appliance.storage.database import Database
from appliance.storage.migrations import migrations_for


def _write(db: Database, name: str, value: str) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT INTO meta (name, value) VALUES (?, ?)", (name, value))


def _read(db: Database, name: str) -> str | None:
    row = db.query_one("SELECT value FROM meta WHERE name = ?", (name,))
    return None if row is None else row["value"]


def test_create_makes_a_migrated_database_under_a_new_key(appliance):
    db = appliance.workspaces.create("acme")

    assert db.path == appliance.layout.workspaces_dir / "acme.db"
    assert db.user_version() == len(migrations_for("workspace"))
    assert appliance.keystore.has(workspace_db_key("acme"))


def test_each_workspace_gets_its_own_key(appliance):
    appliance.workspaces.create("acme")
    appliance.workspaces.create("globex")

    keys = {appliance.keystore.get(workspace_db_key(w)) for w in ("acme", "globex")}
    assert len(keys) == 2
    assert all(len(k) == 32 for k in keys)


def test_one_workspaces_file_cannot_be_opened_with_anothers_key(appliance):
    _write(appliance.workspaces.create("acme"), "secret", "acme only")
    appliance.workspaces.create("globex")
    appliance.workspaces.close()

    with pytest.raises(DatabaseUnreadable):
        Database(appliance.layout.workspace_db("acme"), appliance.keystore.get(workspace_db_key("globex")))


def test_open_shares_one_database_per_workspace(appliance):
    created = appliance.workspaces.create("acme")

    assert appliance.workspaces.open("acme") is created
    assert appliance.workspaces.open("acme") is created


def test_workspace_data_survives_reopening_the_appliance(appliance, clock):
    _write(appliance.workspaces.create("acme"), "motto", "kept")
    layout = appliance.layout
    appliance.close()

    reopened = open_appliance(layout, clock=clock)
    try:
        assert _read(reopened.workspaces.open("acme"), "motto") == "kept"
    finally:
        reopened.close()


def test_open_of_an_unknown_workspace_raises_database_missing_and_creates_nothing(appliance):
    with pytest.raises(DatabaseMissing, match="no key"):
        appliance.workspaces.open("nobody")

    assert not appliance.layout.workspace_db("nobody").exists()
    assert not appliance.keystore.has(workspace_db_key("nobody"))


def test_create_refuses_an_existing_workspace_and_keeps_its_key_and_data(appliance):
    db = appliance.workspaces.create("acme")
    _write(db, "motto", "kept")
    key = appliance.keystore.get(workspace_db_key("acme"))

    with pytest.raises(ApplianceExists, match="already has a database"):
        appliance.workspaces.create("acme")

    assert appliance.keystore.get(workspace_db_key("acme")) == key
    assert _read(appliance.workspaces.open("acme"), "motto") == "kept"


def test_a_create_refused_over_a_leftover_file_leaves_no_key_behind(appliance):
    # A file left without its key (a shred interrupted between key and file, a restored data directory):
    # create must refuse it without leaving a fresh key that no longer matches any file.
    path = appliance.layout.workspace_db("acme")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"left over")

    with pytest.raises(ApplianceExists, match="refusing to overwrite"):
        appliance.workspaces.create("acme")

    assert path.read_bytes() == b"left over"
    assert not appliance.keystore.has(workspace_db_key("acme"))


def test_shred_destroys_the_key_and_every_file_so_an_earlier_copy_is_unreadable(appliance, tmp_path):
    db = appliance.workspaces.create("acme")
    _write(db, "motto", "shredded")
    db.checkpoint()
    path = db.path
    copy = tmp_path / "backup-of-acme.db"
    shutil.copyfile(path, copy)
    assert path.with_name("acme.db-wal").exists()

    appliance.workspaces.shred("acme")

    assert not appliance.keystore.has(workspace_db_key("acme"))
    assert [p.name for p in path.parent.iterdir() if p.name.startswith("acme.db")] == []
    # The copy is intact, but nothing on this appliance can open it any more.
    shutil.copyfile(copy, path)
    with pytest.raises(DatabaseMissing, match="no key"):
        appliance.workspaces.open("acme")
    records = appliance.keystore.records()
    remaining_db_keys = [appliance.keystore.get(r.name) for r in records if r.name.startswith("db:")]
    assert remaining_db_keys
    for key in remaining_db_keys:
        with pytest.raises(DatabaseUnreadable):
            Database.check_file(copy, key)


def test_shred_destroys_the_key_before_touching_the_file(appliance, monkeypatch):
    appliance.workspaces.create("acme")
    path = appliance.layout.workspace_db("acme")

    def destroy_fails(name):
        raise OSError("disk full")

    monkeypatch.setattr(appliance.keystore, "destroy", destroy_fails)

    with pytest.raises(OSError, match="disk full"):
        appliance.workspaces.shred("acme")

    assert path.exists()
    assert appliance.keystore.has(workspace_db_key("acme"))


def test_shred_of_an_unknown_workspace_raises_unknown_key(appliance):
    with pytest.raises(UnknownKey):
        appliance.workspaces.shred("nobody")


def test_shred_leaves_other_workspaces_alone(appliance):
    appliance.workspaces.create("acme")
    _write(appliance.workspaces.create("globex"), "motto", "still here")

    appliance.workspaces.shred("acme")

    assert _read(appliance.workspaces.open("globex"), "motto") == "still here"


@pytest.mark.parametrize("workspace_id", ["../x", "A", "", "-a", "a/b", "a.b", "a_b", "a" * 64, "é"])
def test_invalid_ids_raise_invalid_identifier_and_create_nothing(appliance, workspace_id):
    before = [r.name for r in appliance.keystore.records()]

    with pytest.raises(InvalidIdentifier):
        appliance.workspaces.create(workspace_id)
    with pytest.raises(InvalidIdentifier):
        appliance.workspaces.open(workspace_id)
    with pytest.raises(InvalidIdentifier):
        appliance.workspaces.shred(workspace_id)

    assert [r.name for r in appliance.keystore.records()] == before
    assert not appliance.layout.workspaces_dir.exists()
