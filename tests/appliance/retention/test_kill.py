"""A sweep and a purge killed (SIGKILL) half-way in a real `chatspark retention ...` process: on restart every
database opens and passes its checks, nothing half-deleted is visible, and the next run completes the work."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time

from appliance.bootstrap import open_appliance
from appliance.conversations import message_index
from appliance.keys.keystore import workspace_db_key
from appliance.retention.service import Actor
from appliance.services import build_services
from appliance.storage.database import Database
from tests.appliance.accounts.account_steps import make_user
from tests.appliance.retention.places import fill_conversations, make_place
from tests.running import CHATSPARK, chatspark

OLD = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
CONVERSATIONS = 3000
ENV = {"CHATSPARK_RETENTION_BATCH_ROWS": "200", "CHATSPARK_RETENTION_BATCH_PAUSE_MS": "5"}


def _child(layout, *args: str) -> subprocess.Popen:
    return subprocess.Popen([*CHATSPARK, "retention", *args, "--data-dir", str(layout.data_dir), "--key-dir",
                             str(layout.key_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env={**os.environ, **ENV})


def _kill_when(process: subprocess.Popen, ready, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the child never got half-way"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.communicate()


def _reopen(layout, settings, clock):
    appliance = open_appliance(layout, clock=clock)
    return appliance, build_services(appliance, settings)


def test_a_sweep_killed_half_way_leaves_whole_conversations_and_the_next_run_finishes(layout, initialised, clock,
                                                                                      settings):
    appliance, services = _reopen(layout, settings, clock)
    place = make_place(services, clock)
    recent = place.conversation()
    fill_conversations(place.db, place.agent.id, count=CONVERSATIONS, messages_each=10, first=OLD,
                       spacing=dt.timedelta(minutes=1))
    place.set_policy(conversations_days=30)
    key = place.key()
    services.knowledge.close()
    appliance.close()
    reader = Database(layout.workspace_db(place.workspace_id), key)

    def half_way() -> bool:
        left = reader.query_one("SELECT count(*) FROM conversations")[0]
        return 1 < left < CONVERSATIONS * 0.8

    _kill_when(_child(layout, "sweep"), half_way)
    reader.close()

    appliance, services = _reopen(layout, settings, clock)
    db = Database.open_verified(layout.workspace_db(place.workspace_id), key)
    left = db.query_one("SELECT count(*) FROM conversations")[0]
    assert 1 < left < CONVERSATIONS
    # Every conversation is whole: all ten messages, index entries for each, question text with it.
    assert db.query("SELECT conversation_id FROM messages GROUP BY conversation_id HAVING count(*) != 10 "
                    "AND conversation_id != ?", (recent,)) == []
    assert db.query_one("SELECT count(*) FROM messages WHERE conversation_id NOT IN "
                        "(SELECT id FROM conversations)")[0] == 0
    assert db.query("PRAGMA foreign_key_check") == []
    message_index.check(db.connection)
    assert db.query_one("SELECT count(*) FROM analytics_events WHERE question IS NOT NULL AND conversation_id "
                        "NOT IN (SELECT id FROM conversations)")[0] == 0
    db.close()
    services.knowledge.close()
    appliance.close()

    finished = chatspark("retention", "sweep", "--json", "--data-dir", str(layout.data_dir), "--key-dir",
                         str(layout.key_dir), env=ENV, timeout=300)

    assert finished.returncode == 0, finished.stderr
    appliance, services = _reopen(layout, settings, clock)
    try:
        workspace = appliance.workspaces.open(place.workspace_id)
        assert [r[0] for r in workspace.query("SELECT id FROM conversations")] == [recent]
        assert workspace.query_one("SELECT count(*) FROM messages_fts")[0] == 2
        assert services.audit.verify().ok
    finally:
        services.knowledge.close()
        appliance.close()


def test_a_purge_killed_half_way_leaves_each_workspace_whole_or_unreachable_and_the_next_run_finishes(
        layout, initialised, clock, settings):
    appliance, services = _reopen(layout, settings, clock)
    owner = make_user(services, "owner@example.com")
    clock._now = OLD  # cancelled long ago: due now for the child's real clock
    workspaces = []
    for n in range(40):
        workspace = services.workspaces.create(name=f"W{n}", owner_id=owner.id, actor_id=owner.id,
                                               client_address=None)
        services.cancellation.cancel(workspace.id, actor=Actor("user", owner.id))
        workspaces.append(workspace.id)
    services.knowledge.close()
    appliance.close()
    files = [layout.workspace_db(w) for w in workspaces]

    # As soon as one workspace is gone, whichever it is: the purge's order is not the order they were made in, so
    # waiting for the first one made could let the child finish (seen in CI).
    _kill_when(_child(layout, "purge-due"), lambda: not all(file.exists() for file in files))

    appliance, services = _reopen(layout, settings, clock)
    try:
        rows = {r["id"]: r for r in appliance.control_db.query("SELECT id, purge_started_at FROM workspaces")}
        assert rows, "the child finished before it was killed; nothing half-way was tested"
        visible = {w.id for w, _ in services.workspaces.list_for_user(owner.id)}
        for workspace_id in workspaces:
            has_key = appliance.keystore.has(workspace_db_key(workspace_id))
            if workspace_id not in rows:  # finished: nothing left anywhere
                assert not has_key and not layout.workspace_db(workspace_id).exists()
            elif rows[workspace_id]["purge_started_at"] is None:  # not begun: whole, reachable, openable
                assert has_key and workspace_id in visible
                appliance.workspaces.open(workspace_id).verify_integrity()
            else:  # begun: nobody reaches it, whatever of its key and file is left
                assert workspace_id not in visible
        assert services.audit.verify().ok
    finally:
        services.knowledge.close()
        appliance.close()

    finished = chatspark("retention", "purge-due", "--json", "--data-dir", str(layout.data_dir), "--key-dir",
                         str(layout.key_dir), timeout=300)

    assert finished.returncode == 0, finished.stderr
    appliance, services = _reopen(layout, settings, clock)
    try:
        assert appliance.control_db.query("SELECT id FROM workspaces") == []
        assert not any(layout.workspaces_dir.iterdir())
        assert not any(appliance.keystore.has(workspace_db_key(w)) for w in workspaces)
        assert {r[0] for r in appliance.control_db.query("SELECT workspace_id FROM purged_workspaces")} == \
            set(workspaces)
        assert services.audit.verify().ok
    finally:
        services.knowledge.close()
        appliance.close()
