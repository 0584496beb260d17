"""Deleted text leaves the disk: after a retention sweep, an erasure and a cancellation purge, a canary is in no file
under the data and key directories, neither in the raw bytes nor in any decrypted page (free pages and the write-ahead
log included), nor in any column or full-text index that SQL can read."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from appliance.errors import UnknownKey
from appliance.keys import masterkey
from appliance.keys.keystore import CONTROL_DB_KEY, workspace_db_key
from appliance.retention import deletions, sweep
from appliance.retention.purge import purge_cancelled_workspaces
from appliance.retention.service import sweep_retention
from appliance.storage.database import Database
from tests.appliance.backups.conftest import unpack
from tests.appliance.on_disk import files_containing, plaintext_contains
from tests.appliance.retention.places import CANARY, CANARY_TAIL, PARKING, Place, rows_containing

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.timezone.utc)
QUESTION = f"Is the {CANARY} allowed in the visitor car park?"


def _canary_places(place: Place, other_place: Place) -> None:
    """The canary in a workspace's messages, index, analytics and leads; the other workspace never holds it."""
    place.at(NOW - 100 * dt.timedelta(days=1))
    conversation = place.conversation(QUESTION, PARKING, visitor="canary-visitor")
    place.lead(f"{CANARY}@example.com", conversation_id=conversation, visitor="canary-visitor", name=CANARY,
               notes=f"call {CANARY} back")
    place.at(NOW).conversation(PARKING)
    other_place.conversation(PARKING)


def _assert_stored(place: Place) -> None:
    """The canary is really there before: the checks below could fail."""
    place.db.checkpoint()
    assert plaintext_contains(place.db.path, place.key(), CANARY_TAIL)
    assert rows_containing(place.db, CANARY)


def _assert_gone(services, *remaining: Place) -> None:
    layout = services.appliance.layout
    services.appliance.control_db.checkpoint()
    assert files_containing(CANARY_TAIL, layout.data_dir, layout.key_dir) == []
    assert files_containing(CANARY.upper().encode(), layout.data_dir, layout.key_dir) == []
    control_key = services.appliance.keystore.get(CONTROL_DB_KEY)
    assert not plaintext_contains(layout.control_db, control_key, CANARY_TAIL)
    assert rows_containing(services.appliance.control_db, CANARY) == []
    for place in remaining:
        assert not plaintext_contains(place.db.path, place.key(), CANARY_TAIL)
        assert rows_containing(place.db, CANARY) == []


def test_a_retention_sweep_leaves_no_trace_of_the_canary(services, place, other_place):
    _canary_places(place, other_place)
    _assert_stored(place)
    place.set_policy(conversations_days=30, leads_days=30)

    sweep_retention(services.retention)

    assert place.count("conversations") == 1
    _assert_gone(services, place, other_place)


def test_a_large_sweep_that_defers_the_index_deletions_leaves_no_trace_of_the_canary(services, place, other_place,
                                                                                       monkeypatch):
    """Past LARGE_PURGE_MESSAGES, deletions leave markers in the index and full merges drop the words."""
    monkeypatch.setattr(sweep, "LARGE_PURGE_MESSAGES", 1)
    _canary_places(place, other_place)
    _assert_stored(place)
    place.set_policy(conversations_days=30, leads_days=30)

    summary = sweep_retention(services.retention)

    assert summary["totals"]["messages"] == 4 and place.count("conversations") == 1
    assert index_config(place.db) == {"secure-delete": 1, "automerge": 4}
    assert not deletions.index_merge_owed(place.db.connection)
    _assert_gone(services, place, other_place)


def test_a_large_sweep_cut_short_before_its_merge_is_finished_by_the_next_sweep_whatever_the_policy(
        services, place):
    place.at(NOW - 100 * dt.timedelta(days=1)).conversation(QUESTION, PARKING, visitor="canary-visitor")
    place.at(NOW).conversation(PARKING)
    place.index_messages()
    place.set_policy(conversations_days=30)
    db = place.db
    # What a large sweep killed after its deletions leaves: the rows gone, their words still in the index pages.
    with db.transaction() as conn:
        deletions.defer_index_deletes(conn, "2026-11-29T12:00:00Z")
    with db.transaction() as conn:
        deletions.delete_conversations(conn, "2026-10-30T12:00:00Z", budget=100)
    db.checkpoint()
    # Gone for every query; only the index's raw pages still hold the word.
    assert place.count("messages") == 2 and rows_containing(db, CANARY) == ["messages_fts_data.block"]
    assert plaintext_contains(db.path, place.key(), CANARY_TAIL)
    place.services.retention.set_legal_hold(place.workspace_id, on=True, reason="audit", actor=place.owner)

    summary = sweep_retention(services.retention)

    assert summary["held"] == [place.workspace_id]
    assert index_config(db) == {"secure-delete": 1, "automerge": 4}
    assert not deletions.index_merge_owed(db.connection)
    _assert_gone(services, place)


def index_config(db) -> dict[str, int]:
    return {row["k"]: row["v"] for row in db.query(
        "SELECT k, v FROM messages_fts_config WHERE k IN ('secure-delete', 'automerge')")}


def test_an_erasure_leaves_no_trace_of_the_canary(services, place, other_place):
    _canary_places(place, other_place)
    _assert_stored(place)

    receipt = services.erasure.erase(f"{CANARY}@example.com", actor=place.owner)

    assert receipt.totals()["leads"] == 1 and receipt.totals()["conversations"] == 1
    _assert_gone(services, place, other_place)


def test_a_cancellation_purge_leaves_no_trace_and_old_copies_unreadable(services, place, other_place, clock,
                                                                        tmp_path):
    _canary_places(place, other_place)
    services.knowledge.sources(place.workspace_id).add_text(title="Fleet", text=f"The {CANARY} is parked at B2.")
    assert services.knowledge.wait_idle(30)
    _assert_stored(place)
    copy = tmp_path / "old-backup.db"  # what an earlier backup holds
    shutil.copyfile(place.db.path, copy)
    key_name, old_key = workspace_db_key(place.workspace_id), place.key()
    Database.check_file(copy, old_key)  # readable while the key exists
    services.cancellation.cancel(place.workspace_id, actor=place.owner)
    clock.advance(days=30)

    assert purge_cancelled_workspaces(services.purges)["purged"] == [place.workspace_id]

    assert not any(services.appliance.layout.workspaces_dir.glob(f"{place.workspace_id}*"))
    with pytest.raises(UnknownKey):
        services.appliance.keystore.get(key_name)
    master = masterkey.load(services.appliance.layout.key_dir)
    assert not plaintext_contains(services.appliance.layout.keystore_db, master, old_key)
    assert files_containing(old_key, services.appliance.layout.key_dir, services.appliance.layout.data_dir) == []
    _assert_gone(services, other_place)


def test_after_a_purge_new_backups_hold_no_canary_and_old_ones_cannot_open_the_workspace(services, place,
                                                                                        other_place, clock, tmp_path):
    _canary_places(place, other_place)
    _assert_stored(place)
    old_backup = services.backups.create()
    services.cancellation.cancel(place.workspace_id, actor=place.owner)
    clock.advance(days=30)
    assert purge_cancelled_workspaces(services.purges)["purged"] == [place.workspace_id]

    new_backup = services.backups.create()
    scratch = tmp_path / "new-backup"
    manifest = unpack(services.backups, new_backup, scratch, services.appliance.keystore)
    assert place.workspace_id not in manifest.workspace_ids
    assert files_containing(CANARY_TAIL, scratch) == []
    for entry in manifest.files:
        if entry.is_database:
            assert not plaintext_contains(scratch / entry.name, services.appliance.keystore.get(entry.key_name),
                                          CANARY_TAIL), entry.name

    # The old backup still holds the purged workspace's file, which nothing can open any more.
    assert list(services.backups.get(old_backup.id).workspace_ids) == [other_place.workspace_id]  # index forgot it
    verified = services.backups.verify(old_backup.id)
    assert verified.verification_status == "passed"
    assert verified.verification["purged_workspaces"] == [place.workspace_id]
    old_scratch = tmp_path / "old-backup"
    unpack(services.backups, old_backup, old_scratch, services.appliance.keystore)
    with pytest.raises(UnknownKey):
        services.appliance.keystore.get(workspace_db_key(place.workspace_id))
    assert (old_scratch / "workspaces" / f"{place.workspace_id}.db").exists()
