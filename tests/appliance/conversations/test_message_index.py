"""The message index kept up to date in batches: new messages wait by id, a batch's commit indexes them, searches
see the waiting ones too, and deleting a message waiting or indexed leaves the index whole."""

from __future__ import annotations

from appliance.conversations import message_index
from appliance.conversations.records import ConversationFilters
from appliance.conversations.subjects import find_subject
from appliance.storage import migrations
from appliance.storage.migrations import migrate, migrations_for
from tests.appliance.conversations.chats import ANSWERED, PARKING


def waiting(chats) -> int:
    return chats.sql("SELECT count(*) FROM messages_unindexed")[0][0]


def indexed(chats, word: str) -> list[int]:
    return [r[0] for r in chats.sql("SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid",
                                    (word,))]


def index_is_whole(db) -> bool:
    message_index.check(db.connection)  # raises if an entry or a message is missing, or one too many
    return True


def searched(chats, q: str) -> list[str]:
    return [c.id for c in chats.services.conversations.records(chats.workspace_id).list(
        ConversationFilters(q=q)).items]


def test_messages_wait_until_a_batch_of_them_is_indexed_in_one_commit(chats):
    asks = message_index.BATCH // 2  # each ask keeps a question and its reply
    for n in range(asks - 1):
        chats.ask(f"Where do visitors park their bike number {n}?")
    assert waiting(chats) == message_index.BATCH - 2 and indexed(chats, "bike") == []

    chats.ask("Where do visitors park their last bike?")

    assert waiting(chats) == 0
    questions = [r[0] for r in chats.sql("SELECT id FROM messages WHERE role = 'visitor' ORDER BY id")]
    assert len(questions) == asks and set(questions) <= set(indexed(chats, "bike"))
    assert index_is_whole(chats.services.conversations.records(chats.workspace_id)._db)


def test_a_search_finds_a_message_sent_a_moment_ago_and_indexes_what_waited(chats):
    older = chats.conversation(ANSWERED)
    newest = chats.conversation("Is the zeppelinmobile parking free?")
    assert waiting(chats) == 4
    assert index_is_whole(chats.services.conversations.records(chats.workspace_id)._db) and waiting(chats) == 4

    assert searched(chats, "zeppelinmobile") == [newest]
    assert searched(chats, "paid leave") == [older]
    assert waiting(chats) == 0


def test_a_search_with_nothing_waiting_writes_nothing(chats):
    chats.conversation(PARKING)
    searched(chats, "park")
    db = chats.services.conversations.records(chats.workspace_id)._db
    before = db.connection.total_changes

    assert searched(chats, "park") != []
    assert db.connection.total_changes == before


def test_deleting_waiting_and_indexed_conversations_leaves_the_index_whole(chats):
    indexed_one = chats.conversation("Where does the zeppelinmobile park?")
    searched(chats, "anything")  # indexes it
    waiting_one = chats.conversation("Can a zeppelinmobile park on level B2?")
    assert waiting(chats) == 2 and len(indexed(chats, "zeppelinmobile")) == 1
    records = chats.services.conversations.records(chats.workspace_id)

    records.delete_many([indexed_one, waiting_one])

    assert waiting(chats) == 0 and indexed(chats, "zeppelinmobile") == []
    assert index_is_whole(records._db)
    assert searched(chats, "zeppelinmobile") == []


def test_a_new_message_that_reuses_a_deleted_messages_id_is_indexed_as_itself(chats):
    chats.conversation(ANSWERED)
    newest = chats.conversation("Where does the zeppelinmobile park?")
    searched(chats, "anything")
    last_id = chats.sql("SELECT max(id) FROM messages")[0][0]
    records = chats.services.conversations.records(chats.workspace_id)
    records.delete(newest)  # its messages had the highest ids, which SQLite gives out again

    again = chats.conversation("Is the airship hangar open?")

    assert chats.sql("SELECT max(id) FROM messages")[0][0] == last_id
    assert searched(chats, "airship") == [again] and searched(chats, "zeppelinmobile") == []
    records.delete(again)
    assert index_is_whole(records._db) and indexed(chats, "airship") == []


def test_a_data_subject_search_finds_an_address_in_a_message_not_yet_indexed(chats):
    conversation_id = chats.conversation("Please write to jane.roe@example.org about parking", widget=True)
    db = chats.services.conversations.records(chats.workspace_id)._db
    assert waiting(chats) == 2

    found = find_subject(db.connection, "jane.roe@example.org")

    assert found.conversations == [conversation_id]
    assert waiting(chats) == 2  # found without writing


def test_a_workspace_from_before_batches_keeps_its_indexed_messages_searchable_and_deletable(fresh_db, monkeypatch):
    shipped = migrations_for("workspace")
    monkeypatch.setattr(migrations, "migrations_for", lambda kind: shipped[:8])
    migrate(fresh_db, "workspace")
    with fresh_db.transaction() as conn:
        conn.execute("INSERT INTO agents (id, public_id, name, fallback_text, created_at, updated_at) "
                     "VALUES ('a1', 'ag_1', 'Helper', 'Sorry.', '2026-01-01', '2026-01-01')")
        conn.execute("INSERT INTO conversations (id, agent_id, started_at, updated_at) "
                     "VALUES ('c1', 'a1', '2026-01-01', '2026-01-01')")
        conn.execute("INSERT INTO messages (conversation_id, role, text, created_at) "
                     "VALUES ('c1', 'visitor', 'Where is the zeppelinmobile?', '2026-01-01')")
    monkeypatch.setattr(migrations, "migrations_for", lambda kind: shipped)

    assert migrate(fresh_db, "workspace") == [m.name for m in shipped[8:]]

    assert fresh_db.query_one("SELECT count(*) FROM messages_unindexed")[0] == 0
    assert [r[0] for r in fresh_db.query("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'zeppelinmobile'")]
    with fresh_db.transaction() as conn:
        conn.execute("DELETE FROM conversations WHERE id = 'c1'")
    assert fresh_db.query("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'zeppelinmobile'") == []
    assert index_is_whole(fresh_db)
