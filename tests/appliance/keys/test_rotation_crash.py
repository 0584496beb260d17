"""`chatspark keys rotate` killed (SIGKILL) at many moments: every database opens afterwards, holding what it held."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from appliance.audit.keys import audit_log
from appliance.bootstrap import initialise, open_appliance
from appliance.keys import masterkey
from appliance.keys.keystore import Keystore
from appliance.storage.layout import Layout
from tests.appliance.keys.populated import canary_found, contents, populate
from tests.running import CHATSPARK

# Kills at fractions of a rotation's duration (any moment: between files, in a rekey, around the audit rows)...
TIMED_KILLS = (0.0, 0.2, 0.4, 0.6, 0.8)
# ...and while a given workspace's rekey has written this share of the file into its write-ahead log: the middle of
# the rekey, and its very end, around the commit (each kill costs a child's start-up and a full check).
REKEY_KILLS = (0.3, 0.7, 0.97)


def rotate_command(layout: Layout) -> list[str]:
    return [*CHATSPARK, "keys", "rotate", "--data-dir", str(layout.data_dir), "--key-dir", str(layout.key_dir)]


def holds_exclusive_lock(path: Path) -> bool:
    """Whether some process holds an exclusive flock on `path` (read from /proc/locks: taking the lock ourselves,
    even for a moment, would make the rotation's own non-blocking attempt fail)."""
    inode = str(os.stat(path).st_ino)
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[3] == "WRITE" and fields[5].split(":")[-1] == inode:
            return True
    return False


def size(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def start_rotation(layout: Layout) -> tuple[subprocess.Popen, float]:
    """A rotating child and the moment it took the data directory (from then on it is rotating)."""
    child = subprocess.Popen(rotate_command(layout), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not holds_exclusive_lock(layout.lock_file):
        if child.poll() is not None:
            raise AssertionError(f"rotate exited {child.returncode} early: {child.communicate()[1].decode()}")
        assert time.monotonic() < deadline, "rotate never took the data directory"
        time.sleep(0.002)
    return child, time.monotonic()


def key_state(layout: Layout, clock) -> tuple[list[str], dict[str, int]]:
    """Pending keys and database key versions, as the keystore holds them before anything settles them."""
    keystore = Keystore.open(layout.key_dir, masterkey.load(layout.key_dir), clock=clock)
    try:
        versions = {r.name: r.version for r in keystore.records() if r.name.startswith("db:")}
        return keystore.pending_names(), versions
    finally:
        keystore.close()


def check_everything_opens_unchanged(layout: Layout, clock, workspaces: list[str], baseline: dict) -> None:
    appliance = open_appliance(layout, clock=clock)
    try:
        assert contents(appliance, workspaces) == baseline
        assert all(canary_found(appliance, workspace_id) for workspace_id in workspaces)
        assert audit_log(appliance.control_db, keystore=appliance.keystore, clock=clock).verify().ok
        assert appliance.keystore.pending_names() == []
    finally:
        appliance.close()


def test_a_rotation_killed_at_any_moment_leaves_every_database_openable_and_rotating_again_completes(
        tmp_path, clock, settings):
    layout = Layout.of(tmp_path / "data", tmp_path / "keys")
    initialise(layout, clock=clock)
    workspaces = populate(layout, clock=clock, settings=settings, workspaces=4, messages_per_workspace=12_000)
    appliance = open_appliance(layout, clock=clock)
    baseline = contents(appliance, workspaces)
    appliance.close()

    # One rotation unharmed, to learn how long one takes on this machine.
    child, started = start_rotation(layout)
    errors = child.communicate(timeout=120)[1].decode()
    assert child.returncode == 0, errors
    duration = time.monotonic() - started
    check_everything_opens_unchanged(layout, clock, workspaces, baseline)

    timed = []
    for fraction in TIMED_KILLS:
        child, started = start_rotation(layout)
        time.sleep(max(0.0, started + duration * fraction - time.monotonic()))
        child.kill()
        child.communicate()
        pending, versions = key_state(layout, clock)
        timed.append((fraction, child.returncode, pending, versions))
        check_everything_opens_unchanged(layout, clock, workspaces, baseline)
    # Some of them landed in the middle: a key pending, or some databases rotated and others not yet.
    assert any(code != 0 and (pending or len(set(versions.values())) > 1) for _, code, pending, versions in timed), \
        timed

    for number, share in enumerate(REKEY_KILLS):
        workspace_id = workspaces[number % len(workspaces)]
        path = layout.workspace_db(workspace_id)
        child, _ = start_rotation(layout)
        wal = path.with_name(path.name + "-wal")
        threshold = share * os.path.getsize(path)
        while child.poll() is None and size(wal) < threshold:
            time.sleep(0.0005)
        assert child.poll() is None, f"the rotation finished before the rekey of {workspace_id} was caught"
        child.kill()
        child.communicate()
        pending, _ = key_state(layout, clock)
        assert pending == [f"db:workspace:{workspace_id}"]
        check_everything_opens_unchanged(layout, clock, workspaces, baseline)

    _, before = key_state(layout, clock)
    result = subprocess.run(rotate_command(layout), capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    _, after = key_state(layout, clock)
    assert after == {name: version + 1 for name, version in before.items()}
    check_everything_opens_unchanged(layout, clock, workspaces, baseline)
