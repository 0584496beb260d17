"""Backups are consistent copies, still encrypted: taken while the server writes, no plaintext anywhere on disk."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid

from appliance.backups.snapshot import PLAINTEXT_HEADER
from appliance.keys.keystore import CONTROL_DB_KEY, workspace_db_key
from tests.appliance.backups.conftest import CANARY, add_ballast, unpack
from tests.appliance.on_disk import files_containing, plaintext_contains


def _count(db, table: str) -> int:
    return db.query_one(f"SELECT count(*) FROM {table}")[0]


def test_a_backup_taken_while_another_thread_writes_is_one_consistent_moment(services, chats, backups, tmp_path):
    add_ballast(services, chats.workspace_id, megabytes=24)  # so that many writes land while the copy is taken
    db = services.appliance.workspaces.open(chats.workspace_id)
    before = {t: _count(db, t) for t in ("conversations", "messages")}
    stop, written = threading.Event(), []

    def write() -> None:
        # Each conversation arrives with its two messages in one transaction: a consistent copy never splits them.
        while not stop.is_set():
            with db.transaction() as conn:
                conversation = uuid.uuid4().hex
                conn.execute("INSERT INTO conversations (id, agent_id, started_at, updated_at) VALUES "
                             "(?, ?, '2026-11-29T12:00:00Z', '2026-11-29T12:00:00Z')", (conversation, chats.agent.id))
                for role in ("visitor", "agent"):
                    conn.execute("INSERT INTO messages (conversation_id, role, text, created_at) VALUES "
                                 "(?, ?, 'hello', '2026-11-29T12:00:00Z')", (conversation, role))
            written.append(conversation)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(written) < 20:
            stop.wait(0.001)
        during_start = len(written)
        backup = backups.create()
        during_end = len(written)
    finally:
        stop.set()
        writer.join()

    assert during_end > during_start  # the writer kept committing while the backup was taken
    manifest = unpack(backups, backup, tmp_path / "scratch", services.appliance.keystore)
    counts = manifest.file(f"workspaces/{chats.workspace_id}.db").counts
    new_conversations = counts["conversations"] - before["conversations"]
    assert counts["messages"] - before["messages"] == 2 * new_conversations
    assert during_start <= new_conversations <= during_end
    assert backups.verify(backup.id).verification_status == "passed"  # the copy's rows are what the manifest says


def test_neither_the_backup_file_nor_its_database_copies_hold_plaintext(services, chats, backups, tmp_path):
    backup = backups.create()

    assert CANARY.encode() not in backups.path_of(backup).read_bytes()
    assert files_containing(CANARY.encode(), backups.directory) == []
    scratch = tmp_path / "scratch"
    unpack(backups, backup, scratch, services.appliance.keystore)
    assert files_containing(CANARY.encode(), scratch) == []
    keystore = services.appliance.keystore
    for name in ("control.db", f"workspaces/{chats.workspace_id}.db"):
        assert (scratch / name).read_bytes()[:len(PLAINTEXT_HEADER)] != PLAINTEXT_HEADER
    assert plaintext_contains(scratch / "control.db", keystore.get(CONTROL_DB_KEY), b"op@example.com")
    # The copy is the same content under the same key: decrypting its pages with the live key finds the canary.
    workspace_copy = scratch / "workspaces" / f"{chats.workspace_id}.db"
    assert plaintext_contains(workspace_copy, keystore.get(workspace_db_key(chats.workspace_id)), CANARY.encode())
    assert not plaintext_contains(workspace_copy, os.urandom(32), CANARY.encode())


def test_the_manifest_lists_every_file_with_its_hash_and_the_row_counts(services, chats, backups, tmp_path):
    backup = backups.create()
    scratch = tmp_path / "scratch"

    manifest = unpack(backups, backup, scratch, services.appliance.keystore)

    assert manifest.backup_id == backup.id and manifest.appliance_id == services.appliance.appliance_id
    assert manifest.created_at == "2026-11-29T12:00:00Z"
    assert {(f.name, f.kind, f.workspace_id) for f in manifest.files} == {
        ("control.db", "control", None), (f"workspaces/{chats.workspace_id}.db", "workspace", chats.workspace_id),
        ("appliance.json", "identity", None), ("tls/ca.crt", "certificate", None),
        ("tls/server.crt", "certificate", None)}
    for entry in manifest.files:
        data = (scratch / entry.name).read_bytes()
        assert (entry.size, entry.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    workspace = manifest.file(f"workspaces/{chats.workspace_id}.db").counts
    records = services.conversations.records(chats.workspace_id)
    assert workspace["conversations"] == len(records.list().items) == 1
    assert workspace["messages"] == 4 and workspace["leads"] == 1 and workspace["sources"] == 3
    control = manifest.file("control.db").counts
    assert control["workspaces"] == 1 and control["users"] == 1
    assert not any(name.endswith(("keys.db", ".key", ".wrapped")) for name in (f.name for f in manifest.files))
    assert sorted(p.name for p in backups.directory.iterdir()) == [".lock", backup.file_name]  # no staging left
