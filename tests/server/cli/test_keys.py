"""`chatspark keys list|rotate|change-passphrase|export-recovery-kit` as an operator runs them."""

from __future__ import annotations

import contextlib
import os
import stat

import pytest

from appliance.audit.keys import audit_log
from appliance.bootstrap import open_appliance
from appliance.clock import SystemClock
from appliance.errors import DatabaseUnreadable
from appliance.keys import masterkey
from appliance.keys.keystore import CONTROL_DB_KEY, workspace_db_key
from appliance.keys.recovery_kit import read_kit
from appliance.storage.data_lock import DataLock
from appliance.storage.database import Database
from appliance.storage.layout import Layout
from tests.appliance.on_disk import snapshot
from tests.running import chatspark
from tests.server.conftest import init_appliance

OLD = "the passphrase the operator chose first"
NEW = "and the one they chose after that"
KIT = "a passphrase only for the recovery kit"


@contextlib.contextmanager
def opened(data_dir, key_dir, passphrase=None):
    appliance = open_appliance(Layout.of(data_dir, key_dir), clock=SystemClock(), passphrase=passphrase)
    try:
        yield appliance
    finally:
        appliance.close()


def dirs(data_dir, key_dir) -> list[str]:
    return ["--data-dir", str(data_dir), "--key-dir", str(key_dir)]


def written(path, text: str) -> str:
    path.write_text(text + "\n")
    return str(path)


def audited(data_dir, key_dir, action: str, passphrase=None) -> list:
    with opened(data_dir, key_dir, passphrase) as appliance:
        return audit_log(appliance.control_db, keystore=appliance.keystore, clock=appliance.clock).events(
            action=action)


@pytest.fixture
def with_workspace(tmp_path):
    """An initialised appliance with one workspace (made in-process, then closed)."""
    data_dir, key_dir = init_appliance(tmp_path)
    with opened(data_dir, key_dir) as appliance:
        appliance.workspaces.create("sales").close()
    return data_dir, key_dir


# --- list ---------------------------------------------------------------------------------------------------------


def test_keys_list_shows_names_purposes_versions_and_dates_but_never_material(with_workspace):
    result = chatspark("keys", "list", *dirs(*with_workspace))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "PURPOSE", "VERSION", "CREATED", "ROTATED"]
    assert any(line.startswith("db:control ") and " control database " in line for line in lines)
    assert any(line.startswith("db:workspace:sales ") for line in lines)
    with opened(*with_workspace) as appliance:
        for record in appliance.keystore.records():
            material = appliance.keystore.get(record.name)
            assert material.hex() not in result.stdout and material not in result.stdout.encode()


# --- rotate -------------------------------------------------------------------------------------------------------


def test_keys_rotate_rekeys_every_database_and_says_what_it_rotated(with_workspace):
    data_dir, key_dir = with_workspace
    layout = Layout.of(data_dir, key_dir)
    with opened(data_dir, key_dir) as appliance:
        old = {layout.control_db: appliance.keystore.get(CONTROL_DB_KEY),
               layout.workspace_db("sales"): appliance.keystore.get(workspace_db_key("sales"))}

    result = chatspark("keys", "rotate", *dirs(data_dir, key_dir))

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Rotated 4 keys:"
    assert [line.split()[0] for line in result.stdout.splitlines()[1:5]] == [
        "db:control", "db:workspace:sales", "backup:1", "audit:mac:2"]
    assert "db:control                               version 1 -> 2, database rekeyed" in result.stdout
    assert "export-recovery-kit" in result.stdout
    for path, key in old.items():
        with pytest.raises(DatabaseUnreadable):
            Database.check_file(path, key)
    verified = chatspark("audit", "verify", *dirs(data_dir, key_dir))
    assert (verified.returncode, verified.stdout.strip()) == (0, "audit log intact: 4 rows"), verified.stderr
    listed = chatspark("keys", "list", *dirs(data_dir, key_dir)).stdout
    assert any(line.startswith("db:workspace:sales ") and " 2 " in line for line in listed.splitlines())


def test_keys_rotate_only_the_parts_asked_for(with_workspace):
    result = chatspark("keys", "rotate", "--only", "backup", "--only", "audit", *dirs(*with_workspace))

    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()[1:3]] == ["backup:1", "audit:mac:2"]
    assert "export-recovery-kit" not in result.stdout
    with opened(*with_workspace) as appliance:
        assert appliance.keystore.version(CONTROL_DB_KEY) == 1
        assert appliance.keystore.version(workspace_db_key("sales")) == 1


def test_keys_rotate_refuses_while_serve_runs_and_the_server_serves_after_a_rotation(own_appliance):
    data_dir, key_dir = own_appliance.data_dir, own_appliance.key_dir
    own_appliance.start()
    try:
        refused = chatspark("keys", "rotate", *dirs(data_dir, key_dir))
        assert refused.returncode == 1
        assert "key rotation needs the appliance to itself: stop the service" in refused.stderr
    finally:
        own_appliance.stop()
    with opened(data_dir, key_dir) as appliance:
        assert appliance.keystore.version(CONTROL_DB_KEY) == 1

    rotated = chatspark("keys", "rotate", *dirs(data_dir, key_dir))
    assert rotated.returncode == 0, rotated.stderr

    own_appliance.start()
    try:
        status, _, _ = own_appliance.get("/healthz")
        assert status == 200
    finally:
        own_appliance.stop()


def test_serve_refuses_to_start_while_a_rotation_holds_the_data_directory(own_appliance):
    lock = DataLock.acquire(Layout.of(own_appliance.data_dir, own_appliance.key_dir).lock_file, exclusive=True)
    try:
        with pytest.raises(RuntimeError, match="a key rotation is running"):
            own_appliance.start()
    finally:
        lock.close()


# --- change-passphrase ----------------------------------------------------------------------------------------------


def test_change_passphrase_round_trip_keeps_the_key_and_audits_each_change(tmp_path):
    old_file, new_file = written(tmp_path / "old", OLD), written(tmp_path / "new", NEW)
    data_dir, key_dir = init_appliance(tmp_path, "--passphrase-file", old_file)
    key = masterkey.load(key_dir, passphrase=OLD)

    changed = chatspark("keys", "change-passphrase", "--passphrase-file", old_file, "--new-passphrase-file",
                        new_file, *dirs(data_dir, key_dir))
    assert changed.returncode == 0, changed.stderr
    assert "No data was re-encrypted" in changed.stdout
    assert masterkey.load(key_dir, passphrase=NEW) == key
    refused = chatspark("keys", "list", "--passphrase-file", old_file, *dirs(data_dir, key_dir))
    assert refused.returncode == 1 and "does not unwrap" in refused.stderr
    assert chatspark("keys", "list", "--passphrase-file", new_file, *dirs(data_dir, key_dir)).returncode == 0

    to_clear = chatspark("keys", "change-passphrase", "--passphrase-file", new_file, "--to-clear-key",
                         *dirs(data_dir, key_dir))
    assert to_clear.returncode == 0, to_clear.stderr
    assert {p.name for p in key_dir.iterdir()} == {masterkey.PLAIN_NAME, "keys.db"}
    assert masterkey.load(key_dir) == key

    wrapped = chatspark("keys", "change-passphrase", "--new-passphrase-file", old_file, *dirs(data_dir, key_dir))
    assert wrapped.returncode == 0, wrapped.stderr
    assert {p.name for p in key_dir.iterdir()} == {masterkey.WRAPPED_NAME, "keys.db"}
    assert masterkey.load(key_dir, passphrase=OLD) == key
    events = audited(data_dir, key_dir, "key.change_master_key_protection", passphrase=OLD)
    assert [(e.details["before"], e.details["after"]) for e in events] == [
        ("passphrase", "passphrase"), ("passphrase", "clear"), ("clear", "passphrase")]


def test_change_passphrase_with_a_wrong_current_passphrase_changes_nothing(tmp_path):
    old_file, new_file = written(tmp_path / "old", OLD), written(tmp_path / "new", NEW)
    wrong_file = written(tmp_path / "wrong", "not the passphrase at all")
    data_dir, key_dir = init_appliance(tmp_path, "--passphrase-file", old_file)
    before = snapshot(key_dir, data_dir)

    result = chatspark("keys", "change-passphrase", "--passphrase-file", wrong_file, "--new-passphrase-file",
                       new_file, *dirs(data_dir, key_dir))

    assert result.returncode == 1
    assert "the passphrase does not unwrap the master key" in result.stderr
    assert snapshot(key_dir, data_dir) == before


def test_change_passphrase_refuses_a_short_new_passphrase_and_needs_one_without_a_terminal(tmp_path):
    old_file, short_file = written(tmp_path / "old", OLD), written(tmp_path / "short", "too short")
    data_dir, key_dir = init_appliance(tmp_path, "--passphrase-file", old_file)
    before = snapshot(key_dir, data_dir)

    short = chatspark("keys", "change-passphrase", "--passphrase-file", old_file, "--new-passphrase-file",
                      short_file, *dirs(data_dir, key_dir))
    missing = chatspark("keys", "change-passphrase", "--passphrase-file", old_file, *dirs(data_dir, key_dir))

    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    assert missing.returncode == 1 and "give --new-passphrase-file" in missing.stderr
    assert snapshot(key_dir, data_dir) == before


def test_change_passphrase_help_says_the_old_file_still_opens_the_key():
    result = chatspark("keys", "change-passphrase", "--help")

    text = " ".join(result.stdout.split())
    assert "The master key itself does not change" in text and "destroy such copies" in text


# --- export-recovery-kit ----------------------------------------------------------------------------------------


def test_export_recovery_kit_writes_every_key_0600_audits_it_and_warns(with_workspace, tmp_path):
    data_dir, key_dir = with_workspace
    out = tmp_path / "kit.bin"

    result = chatspark("keys", "export-recovery-kit", "--out", str(out), "--passphrase-file",
                       written(tmp_path / "kit-passphrase", KIT), *dirs(data_dir, key_dir))

    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert "A kit is a copy of keys at one moment: it opens the backups made while those keys were current." in \
        result.stdout
    kit = read_kit(out.read_bytes(), passphrase=KIT)
    with opened(data_dir, key_dir) as appliance:
        assert {name: key.material for name, key in kit.keys.items()} == {
            r.name: appliance.keystore.get(r.name) for r in appliance.keystore.records()}
    events = audited(data_dir, key_dir, "key.export_recovery_kit")
    assert [(e.actor_type, e.details["keys_exported"], e.details["file"]) for e in events] == [
        ("system", len(kit.keys), str(out.resolve()))]


def test_export_recovery_kit_refuses_to_overwrite_a_file(with_workspace, tmp_path):
    out = tmp_path / "kit.bin"
    out.write_bytes(b"something precious")

    result = chatspark("keys", "export-recovery-kit", "--out", str(out), "--passphrase-file",
                       written(tmp_path / "kit-passphrase", KIT), *dirs(*with_workspace))

    assert result.returncode == 1 and "refusing to overwrite" in result.stderr
    assert out.read_bytes() == b"something precious"
    assert audited(*with_workspace, "key.export_recovery_kit") == []


def test_export_recovery_kit_with_a_wrapped_master_key_takes_both_passphrases(tmp_path):
    master_file = written(tmp_path / "master", OLD)
    data_dir, key_dir = init_appliance(tmp_path, "--passphrase-file", master_file)
    out = tmp_path / "kit.bin"
    short = tmp_path / "short-kit.bin"

    refused = chatspark("keys", "export-recovery-kit", "--out", str(short), "--passphrase-file",
                        written(tmp_path / "short", "too short"), "--master-passphrase-file", master_file,
                        *dirs(data_dir, key_dir))
    result = chatspark("keys", "export-recovery-kit", "--out", str(out), "--passphrase-file",
                       written(tmp_path / "kit-passphrase", KIT), "--master-passphrase-file", master_file,
                       *dirs(data_dir, key_dir))

    assert refused.returncode == 1 and "at least 12 characters" in refused.stderr and not short.exists()
    assert result.returncode == 0, result.stderr
    assert CONTROL_DB_KEY in read_kit(out.read_bytes(), passphrase=KIT).keys
