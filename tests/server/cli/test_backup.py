"""`chatspark backup ...` against real appliances: create, list, verify, prune, a SIGKILL mid-backup, and a restore
onto a fresh machine that `chatspark serve` then serves."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time

import pytest

from appliance import settings as settings_module
from appliance.backups import index
from appliance.backups.service import INTERRUPTED, PARTIAL
from appliance.bootstrap import open_appliance
from appliance.clock import SystemClock
from appliance.keys.recovery_kit import export_kit
from appliance.services import build_services
from appliance.storage.encrypted_files import ScryptParameters
from appliance.storage.layout import Layout
from tests.running import CHATSPARK, RunningAppliance, chatspark, free_port
from tests.server.conftest import init_appliance

OPERATOR = ("operator@example.com", "plum orbit lantern 42")
KIT_PASSPHRASE = "a recovery kit passphrase"
CHEAP = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


def dirs(data_dir, key_dir) -> list[str]:
    return ["--data-dir", str(data_dir), "--key-dir", str(key_dir)]


@contextlib.contextmanager
def services_of(data_dir, key_dir):
    """The appliance's services in this process, as `chatspark serve` builds them; closed again after."""
    appliance = open_appliance(Layout.of(data_dir, key_dir), clock=SystemClock())
    services = build_services(appliance, settings_module.load(environ={}).replace(**CHEAP))
    try:
        yield services
    finally:
        services.knowledge.close()
        appliance.close()


def created_id(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return re.search(r"^backup (\w+) written to", result.stdout, re.M)[1]


@pytest.mark.parametrize("action", ["create", "list", "verify", "prune", "restore"])
def test_every_backup_command_has_help_naming_the_directories(action):
    result = chatspark("backup", action, "--help")

    assert result.returncode == 0 and "--data-dir" in result.stdout and "--key-dir" in result.stdout


def test_backups_are_created_listed_verified_and_pruned_from_the_command_line(tmp_path):
    data_dir, key_dir = init_appliance(tmp_path)
    first = created_id(chatspark("backup", "create", *dirs(data_dir, key_dir)))
    second = created_id(chatspark("backup", "create", *dirs(data_dir, key_dir)))

    listed = chatspark("backup", "list", *dirs(data_dir, key_dir))
    assert listed.returncode == 0 and first in listed.stdout and second in listed.stdout
    verified = chatspark("backup", "verify", second, *dirs(data_dir, key_dir))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"backup {second} passed its verification" in verified.stdout and "ok      control.db" in verified.stdout

    pruned = chatspark("backup", "prune", *dirs(data_dir, key_dir), env={"CHATSPARK_BACKUP_KEEP": "1"})

    assert pruned.returncode == 0 and f"deleted 1 backups: {first}" in pruned.stdout
    remaining = [p.name for p in (data_dir / "backups").glob("*.backup")]
    assert len(remaining) == 1 and second in remaining[0]
    with services_of(data_dir, key_dir) as services:
        actions = [(e.action, e.actor_id, e.outcome) for e in services.audit.events(action="backup")]
    assert actions == [("backup.create", "cli", "success")] * 2 + [("backup.verify", "cli", "success"),
                                                                  ("backup.prune", "cli", "success")]


def test_a_failed_verification_exits_4_naming_the_problem(tmp_path):
    data_dir, key_dir = init_appliance(tmp_path)
    backup_id = created_id(chatspark("backup", "create", *dirs(data_dir, key_dir)))
    [path] = (data_dir / "backups").glob("*.backup")
    path.write_bytes(path.read_bytes()[:-1])

    result = chatspark("backup", "verify", backup_id, *dirs(data_dir, key_dir))

    assert result.returncode == 4 and f"backup {backup_id} FAILED its verification" in result.stdout
    assert chatspark("backup", "verify", "nope", *dirs(data_dir, key_dir)).stderr.startswith(
        "chatspark: no backup nope")


def test_the_backup_directory_setting_puts_backups_on_another_disk(tmp_path):
    data_dir, key_dir = init_appliance(tmp_path)
    elsewhere = tmp_path / "other-disk" / "backups"

    result = chatspark("backup", "create", *dirs(data_dir, key_dir), env={"CHATSPARK_BACKUP_DIR": str(elsewhere)})

    assert str(elsewhere) in result.stdout and len(list(elsewhere.glob("*.backup"))) == 1
    assert not (data_dir / "backups").exists()


def test_a_backup_killed_mid_way_leaves_the_index_and_directory_consistent(tmp_path):
    data_dir, key_dir = init_appliance(tmp_path)
    with services_of(data_dir, key_dir) as services:
        owner = services.users.create_operator(email=OPERATOR[0], password=OPERATOR[1])
        workspace = services.workspaces.create(name="Big", owner_id=owner.id, actor_id=owner.id, client_address=None)
        db = services.appliance.workspaces.open(workspace.id)
        for n in range(64):  # 64 MiB, so the archive is still being written when the kill comes
            with db.transaction() as conn:
                conn.execute("INSERT INTO sources (id, kind, title, status, original, created_at, updated_at) "
                             "VALUES (?, 'text', 'ballast', 'ready', ?, '2026-11-29T12:00:00Z', "
                             "'2026-11-29T12:00:00Z')", (f"ballast-{n}", os.urandom(1 << 20)))
    backups_dir = data_dir / "backups"
    child = subprocess.Popen([*CHATSPARK, "backup", "create", *dirs(data_dir, key_dir)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        archive = [p for p in backups_dir.glob(f"*.backup{PARTIAL}") if p.is_file()] if backups_dir.exists() else []
        if archive and archive[0].stat().st_size > (4 << 20):
            break
        time.sleep(0.002)
    assert child.poll() is None, "the backup ended before it could be killed mid-way"
    child.send_signal(signal.SIGKILL)
    child.wait()

    assert not list(backups_dir.glob("*.backup"))  # no file that looks complete
    assert any(p.name.endswith(PARTIAL) for p in backups_dir.iterdir())
    with services_of(data_dir, key_dir) as services:  # everything opens, integrity-checked
        [killed] = index.all_backups(services.appliance.control_db)
        assert killed.status == "running"

    listed = chatspark("backup", "list", *dirs(data_dir, key_dir))  # the next run settles what the kill left

    assert listed.returncode == 0 and "failed" in listed.stdout and INTERRUPTED in listed.stdout
    assert not any(p.name.endswith(PARTIAL) for p in backups_dir.iterdir())
    backup_id = created_id(chatspark("backup", "create", *dirs(data_dir, key_dir), timeout=120))
    assert chatspark("backup", "verify", backup_id, *dirs(data_dir, key_dir), timeout=120).returncode == 0
    assert sorted(p.name for p in backups_dir.iterdir()) == [".lock", next(backups_dir.glob("*.backup")).name]


def _original(tmp_path):
    """An appliance with an operator who owns a workspace with a source and a conversation; its kit beside it."""
    (tmp_path / "operator.txt").write_text(OPERATOR[1])
    data_dir, key_dir = init_appliance(tmp_path / "original", "--operator-email", OPERATOR[0],
                                       "--password-file", str(tmp_path / "operator.txt"))
    with services_of(data_dir, key_dir) as services:
        owner = next(u for u in services.users.list_all() if u.email == OPERATOR[0])
        workspace = services.workspaces.create(name="Acme", owner_id=owner.id, actor_id=owner.id,
                                               client_address=None)
        services.knowledge.sources(workspace.id).add_text(title="Lunch", text="Lunch is served at noon in hall B.")
        assert services.knowledge.wait_idle(30)
        agent = services.agents.of(workspace.id).create({"name": "Helper"})
        services.conversations.chat(workspace.id).ask(agent, "When is lunch served?")
    return data_dir, key_dir, workspace.id


def _kit(data_dir, key_dir, path) -> None:
    with services_of(data_dir, key_dir) as services:
        services.backups.create()  # makes backup:1, which the kit must hold; the test restores a later backup
        path.write_bytes(export_kit(services.appliance.keystore, passphrase=KIT_PASSPHRASE,
                                    clock=services.appliance.clock, scrypt=ScryptParameters(n=1 << 12)))


def test_a_restored_appliance_serves_the_same_workspace_over_https(tmp_path):
    data_dir, key_dir, workspace_id = _original(tmp_path)
    _kit(data_dir, key_dir, tmp_path / "appliance.kit")
    backup_id = created_id(chatspark("backup", "create", *dirs(data_dir, key_dir)))
    [backup_file] = (data_dir / "backups").glob(f"*{backup_id}.backup")
    (tmp_path / "kit-passphrase.txt").write_text(KIT_PASSPHRASE + "\n")
    new_data, new_keys = tmp_path / "new-machine" / "data", tmp_path / "new-machine" / "keys"

    result = chatspark("backup", "restore", str(backup_file), "--kit", str(tmp_path / "appliance.kit"),
                       "--kit-passphrase-file", str(tmp_path / "kit-passphrase.txt"), *dirs(new_data, new_keys))

    assert result.returncode == 0, result.stderr
    assert f"Restored backup {backup_id}" in result.stdout and "workspaces:     1" in result.stdout
    served = {}
    for name, (data, keys) in {"original": (data_dir, key_dir), "restored": (new_data, new_keys)}.items():
        running = RunningAppliance(data, keys, free_port()).start()
        try:
            status, body = running.api("POST", "/api/v1/auth/login", {"email": OPERATOR[0], "password": OPERATOR[1]})
            assert status == 200, body
            token = body["token"]
            base = f"/api/v1/workspaces/{workspace_id}"
            _, sources = running.api("GET", f"{base}/sources", token=token)
            _, conversations = running.api("GET", f"{base}/conversations", token=token)
            conversation_id = conversations["conversations"][0]["id"]
            _, transcript = running.api("GET", f"{base}/conversations/{conversation_id}", token=token)
            served[name] = ([(s["title"], s["status"]) for s in sources["sources"]], conversations["conversations"],
                            transcript["conversation"])
        finally:
            assert running.stop() == 0
    assert served["restored"] == served["original"]
    assert served["restored"][0] == [("Lunch", "ready")]
    assert "When is lunch served?" in str(served["restored"][2])


def test_a_restore_with_a_wrong_kit_passphrase_fails_with_one_line_and_writes_nothing(tmp_path):
    data_dir, key_dir = init_appliance(tmp_path / "original")
    _kit(data_dir, key_dir, tmp_path / "appliance.kit")
    [backup_file] = (data_dir / "backups").glob("*.backup")
    (tmp_path / "wrong.txt").write_text("not the kit passphrase")
    new_data, new_keys = tmp_path / "new" / "data", tmp_path / "new" / "keys"

    result = chatspark("backup", "restore", str(backup_file), "--kit", str(tmp_path / "appliance.kit"),
                       "--kit-passphrase-file", str(tmp_path / "wrong.txt"), *dirs(new_data, new_keys))

    assert result.returncode == 1
    assert result.stderr == ("chatspark: the recovery kit cannot be opened (wrong passphrase); nothing was written "
                             "to the target directories\n")
    assert not (tmp_path / "new").exists()


def test_a_restore_needs_explicit_target_directories_and_a_kit_passphrase(tmp_path):
    data_dir, key_dir = init_appliance(tmp_path / "original")
    _kit(data_dir, key_dir, tmp_path / "appliance.kit")
    [backup_file] = (data_dir / "backups").glob("*.backup")

    no_targets = chatspark("backup", "restore", str(backup_file), "--kit", str(tmp_path / "appliance.kit"))
    no_passphrase = chatspark("backup", "restore", str(backup_file), "--kit", str(tmp_path / "appliance.kit"),
                              *dirs(tmp_path / "new" / "data", tmp_path / "new" / "keys"))

    assert no_targets.returncode == 1 and "give --data-dir and --key-dir" in no_targets.stderr
    assert no_passphrase.returncode == 1 and "--kit-passphrase-file" in no_passphrase.stderr
    assert not (tmp_path / "new").exists()
