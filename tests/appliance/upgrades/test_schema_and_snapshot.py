"""What an upgrade reads and keeps before it migrates: each database's schema version against the shipped migrations
(read without changing a byte), and the snapshot that puts every state file back byte for byte."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from appliance import resources
from appliance.bootstrap import open_appliance
from appliance.errors import StorageError
from appliance.services import build_services
from appliance.storage.migrations import KINDS
from appliance.upgrades import schema, snapshot
from tests.appliance.upgrades.conftest import PASSWORD

# Counted from the folders, not asked of the code under test.
SHIPPED = {kind: len(list(resources.migrations_dir(kind).glob("[0-9][0-9][0-9][0-9]_*.sql"))) for kind in KINDS}
EXTRA = "CREATE TABLE upgrade_probe (id INTEGER PRIMARY KEY);"


def migrations_with(tmp_path, monkeypatch, extra: dict[str, dict[str, str]]) -> None:
    """The shipped migrations copied aside with `extra` files added per kind, found where the code looks."""
    root = tmp_path / "migrations"
    shutil.copytree(resources.shipped("migrations"), root)
    for kind, files in extra.items():
        for name, sql in files.items():
            (root / kind / name).write_text(sql, encoding="utf-8")
    monkeypatch.setattr(resources, "migrations_dir", lambda kind: root / kind)


def tree(layout) -> dict[str, str]:
    """Every file under the data and key directories with its sha256."""
    return {f"{name}/{path.relative_to(root)}": hashlib.sha256(path.read_bytes()).hexdigest()
            for name, root in (("data", layout.data_dir), ("keys", layout.key_dir))
            for path in sorted(root.rglob("*")) if path.is_file()}


def state_hashes(layout) -> dict[str, str]:
    """What a snapshot covers (databases, certificates, identity) with each file's sha256."""
    return {str(path.relative_to(layout.key_dir if root == "keys" else layout.data_dir)):
            hashlib.sha256(path.read_bytes()).hexdigest() for root, path in snapshot.state_files(layout)}


def change_everything(layout, clock, settings, workspace_id: str) -> str:
    """Rows written through the appliance into the keystore, the control and the workspace database, and a new
    workspace (a new database file); returns the new workspace's id."""
    appliance = open_appliance(layout, clock=clock)
    services = build_services(appliance, settings)
    try:
        owner = services.users.create_operator(email="otto@example.com", password=PASSWORD)
        services.agents.of(workspace_id).create({"name": "Second helper"})
        return services.workspaces.create(name="Sales", owner_id=owner.id, actor_id=owner.id,
                                          client_address=None).id
    finally:
        services.knowledge.close()
        appliance.close()


# Schema ---------------------------------------------------------------------------------------------------------


def test_inspect_finds_every_database_at_the_shipped_version_with_nothing_pending(layout, workspace_id):
    found = schema.inspect(layout)

    assert [(d.name, d.kind, d.version, d.latest, d.pending, d.newer_than_release) for d in found] == [
        ("keys.db", "keystore", SHIPPED["keystore"], SHIPPED["keystore"], (), False),
        ("control.db", "control", SHIPPED["control"], SHIPPED["control"], (), False),
        (f"workspaces/{workspace_id}.db", "workspace", SHIPPED["workspace"], SHIPPED["workspace"], (), False),
    ]
    assert schema.latest_versions() == SHIPPED


def test_inspect_lists_a_migration_this_release_adds_as_pending_for_its_kind_only(layout, workspace_id, tmp_path,
                                                                                    monkeypatch):
    migrations_with(tmp_path, monkeypatch, {"workspace": {f"{SHIPPED['workspace'] + 1:04d}_x.sql": EXTRA}})
    added = f"{SHIPPED['workspace'] + 1:04d}_x.sql"

    found = {d.name: d for d in schema.inspect(layout)}

    workspace = found[f"workspaces/{workspace_id}.db"]
    assert (workspace.version, workspace.latest, workspace.pending) == (SHIPPED["workspace"],
                                                                        SHIPPED["workspace"] + 1, (added,))
    assert found["control.db"].pending == () and found["keys.db"].pending == ()
    assert workspace.public() == {"name": f"workspaces/{workspace_id}.db", "kind": "workspace",
                                  "version": SHIPPED["workspace"], "latest": SHIPPED["workspace"] + 1,
                                  "pending": [added], "newer_than_release": False}


def test_inspect_against_another_releases_latest_flags_the_databases_newer_than_it(layout, workspace_id):
    target = {"keystore": SHIPPED["keystore"], "control": SHIPPED["control"] - 1,
              "workspace": SHIPPED["workspace"] + 3}

    found = {d.name: d for d in schema.inspect(layout, latest=target)}

    assert [name for name, d in found.items() if d.newer_than_release] == ["control.db"]
    assert {name: d.latest for name, d in found.items()} == {
        "keys.db": target["keystore"], "control.db": target["control"],
        f"workspaces/{workspace_id}.db": target["workspace"]}
    # Another release's migrations are only numbers here: none of this release's names is claimed as pending.
    assert all(d.pending == () for d in found.values())


def test_inspect_skips_a_workspace_file_without_its_key(layout, workspace_id):
    leftover = layout.workspaces_dir / "0123456789abcdef.db"
    leftover.write_bytes(b"what a purge cut short left behind")

    names = [d.name for d in schema.inspect(layout)]

    assert names == ["keys.db", "control.db", f"workspaces/{workspace_id}.db"]


def test_inspect_changes_no_byte_of_any_file_and_creates_none(layout, workspace_id, tmp_path, monkeypatch):
    migrations_with(tmp_path, monkeypatch, {kind: {f"{SHIPPED[kind] + 1:04d}_x.sql": EXTRA} for kind in KINDS})
    before = tree(layout)

    found = schema.inspect(layout)

    assert all(len(d.pending) == 1 for d in found)
    assert tree(layout) == before
    assert not [p for p in layout.data_dir.rglob("*") if p.name.endswith(("-wal", "-shm", "-journal"))]


# Snapshot -------------------------------------------------------------------------------------------------------


def test_a_restored_snapshot_gives_back_every_state_file_byte_for_byte(layout, workspace_id, clock, settings):
    before = state_hashes(layout)
    taken = snapshot.take(layout, taken_at="2026-11-29T12:00:00Z", release="1.0")
    assert {f.path: f.sha256 for f in taken.files} == before
    change_everything(layout, clock, settings, workspace_id)
    changed = state_hashes(layout)
    assert {name for name in before if changed.get(name) != before[name]} >= {
        "keys.db", "control.db", f"workspaces/{workspace_id}.db"}

    restored = snapshot.restore(layout, snapshot.load(layout))

    assert state_hashes(layout) == before
    assert sorted(restored) == sorted(before)
    appliance = open_appliance(layout, clock=clock)
    try:
        assert [r["name"] for r in appliance.control_db.query("SELECT name FROM workspaces")] == ["Support"]
        agents = appliance.workspaces.open(workspace_id).query("SELECT name FROM agents")
        assert [r["name"] for r in agents] == ["Helper"]
    finally:
        appliance.close()


def test_restoring_removes_state_files_made_after_the_snapshot(layout, workspace_id, clock, settings):
    taken = snapshot.take(layout, taken_at="2026-11-29T12:00:00Z", release="1.0")
    new_workspace = change_everything(layout, clock, settings, workspace_id)
    journal = layout.control_db.with_name("control.db-journal")
    journal.write_bytes(b"a rollback journal a killed process left")
    next_ca = layout.tls_dir / "ca-next.crt"
    next_ca.write_bytes(b"a CA replacement begun after the snapshot")

    snapshot.restore(layout, taken)

    assert not layout.workspace_db(new_workspace).exists()
    assert not journal.exists() and not next_ca.exists()
    assert sorted(state_hashes(layout)) == sorted(f.path for f in taken.files)


def test_the_snapshot_keeps_key_material_under_the_key_directory(layout, workspace_id):
    snapshot.take(layout, taken_at="2026-11-29T12:00:00Z", release="1.0")

    folders = snapshot.folders(layout)

    assert folders["keys"].parent == layout.key_dir and folders["data"].parent == layout.data_dir
    assert (folders["keys"] / "keys.db").is_file()
    assert not list(folders["data"].rglob("keys.db"))
    assert (folders["data"] / "control.db").is_file()
    assert (folders["data"] / "workspaces" / f"{workspace_id}.db").is_file()


def test_a_snapshot_is_loaded_back_as_it_was_taken_and_is_gone_once_discarded(layout, workspace_id):
    assert snapshot.load(layout) is None
    taken = snapshot.take(layout, taken_at="2026-11-29T12:00:00Z", release="1.0")

    assert snapshot.load(layout) == taken

    snapshot.discard(layout)
    assert snapshot.load(layout) is None
    assert not any(folder.exists() for folder in snapshot.folders(layout).values())


@pytest.mark.parametrize("damage", ["altered", "missing"])
def test_a_snapshot_whose_copy_was_altered_or_lost_is_refused_and_nothing_is_restored(layout, workspace_id, clock,
                                                                                       settings, damage):
    taken = snapshot.take(layout, taken_at="2026-11-29T12:00:00Z", release="1.0")
    change_everything(layout, clock, settings, workspace_id)
    copy = snapshot.folders(layout)["data"] / "workspaces" / f"{workspace_id}.db"
    if damage == "altered":
        data = bytearray(copy.read_bytes())
        data[len(data) // 2] ^= 0x01
        copy.write_bytes(bytes(data))
    else:
        copy.unlink()
    damaged = tree(layout)

    with pytest.raises(StorageError, match=f"copy of workspaces/{workspace_id}.db is missing or altered"):
        snapshot.restore(layout, taken)

    assert tree(layout) == damaged
