"""Every full-text index writes leaves that fit on one encrypted page (workspace migration 0010): a leaf FTS5 writes
at its default size spills into an overflow page, read, decrypted and authenticated on its own."""

from __future__ import annotations

import pytest

from appliance.knowledge.sources import INDEXES as KNOWLEDGE_INDEXES
from tests.appliance.operator_workspace import operator_workspace

# A 4096-byte page less SQLCipher's 80 bytes (IV and HMAC), less the 35 SQLite keeps per row, less the row's header
# (its size, the rowid alias and the blob's type): the largest leaf that stays on its page.
LARGEST_LEAF_ON_A_PAGE = 4096 - 80 - 35 - 4
INDEXES = (*KNOWLEDGE_INDEXES, "messages_fts")


@pytest.fixture
def settings(settings):
    return settings.replace(dense_retrieval=False)  # leaves are the full-text index's alone; the model only slows this


def _index_glossaries(services, workspace_id: str) -> None:
    """Handbooks and FAQs with thousands of words of their own, so each index holds many full leaves."""
    sources = services.knowledge.sources(workspace_id)
    for number in range(4):
        words = " ".join(f"term{number}x{n} means item {n} of list {number}" for n in range(600))
        sources.add_text(title=f"Glossary {number}", text=f"# Glossary {number}\n\n{words}\n")
        sources.add_qa(title=f"FAQ {number}", pairs=[(f"What does term{number}x{n} mean?", f"Item {n}.")
                                                     for n in range(200)])
    assert services.knowledge.wait_idle(60)


def _leaves(db, table: str) -> list[int]:
    return [row[0] for row in db.query(f"SELECT length(block) FROM {table}_data WHERE id > 10")]


def test_every_index_of_a_new_workspace_writes_leaves_that_fit_on_one_page(services):
    workspace_id, db = operator_workspace(services)

    assert [db.query_one(f"SELECT v FROM {table}_config WHERE k = 'pgsz'")[0] for table in INDEXES] == [3900] * 3
    _index_glossaries(services, workspace_id)

    for table in KNOWLEDGE_INDEXES:
        leaves = _leaves(db, table)
        assert len(leaves) > 3, table
        assert max(leaves) > 3800, table  # full leaves were written, and they are this size
        assert max(leaves) <= LARGEST_LEAF_ON_A_PAGE, table
    services.knowledge.close()


def test_at_fts5s_own_leaf_size_the_same_sources_write_leaves_that_spill_over(services):
    """What the test above would see without the migration's setting."""
    workspace_id, db = operator_workspace(services)
    with db.transaction() as conn:
        for table in INDEXES:
            conn.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('pgsz', 4050)")

    _index_glossaries(services, workspace_id)

    assert max(_leaves(db, "chunks_fts")) > LARGEST_LEAF_ON_A_PAGE
    services.knowledge.close()


@pytest.mark.parametrize("table", KNOWLEDGE_INDEXES)
def test_an_index_written_before_the_migration_gets_leaves_that_fit_at_its_next_rebuild(services, table):
    workspace_id, db = operator_workspace(services)
    with db.transaction() as conn:
        conn.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('pgsz', 4050)")
    _index_glossaries(services, workspace_id)
    assert max(_leaves(db, table)) > LARGEST_LEAF_ON_A_PAGE
    with db.transaction() as conn:
        conn.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('pgsz', 3900)")
        conn.execute(f"INSERT INTO {table} ({table}) VALUES ('rebuild')")

    leaves = _leaves(db, table)
    assert leaves and max(leaves) <= LARGEST_LEAF_ON_A_PAGE
    services.knowledge.close()
