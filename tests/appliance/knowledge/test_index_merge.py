"""Once a workspace's queued sources are indexed, its passage and Q&A indexes are merged into one segment each, a
short transaction at a time: searched as before, only faster (appliance/storage/fts_merge.py)."""

from __future__ import annotations

import pytest

from appliance.knowledge import search
from appliance.knowledge.sources import INDEXES, SourceService
from appliance.storage import fts_merge
from tests.appliance.operator_workspace import operator_workspace

TOPICS = ("parking garage", "annual leave", "expense claims", "laptop repair", "badge office", "printer toner",
          "payroll dates", "visitor wifi", "fire drills", "desk booking")


def _segments(db, table: str) -> int:
    return fts_merge.segments(db.connection, table)


def _add_one_at_a_time(services, workspace_id: str, *, glossary: int = 0) -> None:
    """Each topic's handbook and FAQ, waiting for each to be indexed; `glossary` adds as many words of its own to
    each handbook, so the index spans more pages."""
    sources = services.knowledge.sources(workspace_id)
    for number, topic in enumerate(TOPICS):
        words = " ".join(f"term{number}x{n}" for n in range(glossary))
        sources.add_text(title=f"Handbook {number}", text=f"# {topic.title()}\n\nAll about the {topic}, section "
                                                          f"{number}, for every member of staff. {words}\n")
        sources.add_qa(title=f"FAQ {number}", pairs=[(f"What about the {topic}?", f"See section {number}.")])
        assert services.knowledge.wait_idle(30)


def _check(db, table: str) -> None:
    with db.transaction() as conn:
        conn.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)")


def test_sources_indexed_one_by_one_leave_one_segment_per_index_and_every_source_is_found(services):
    workspace_id, db = operator_workspace(services)

    _add_one_at_a_time(services, workspace_id)

    assert [_segments(db, table) for table in INDEXES] == [1, 1]
    for table in INDEXES:
        _check(db, table)
    for number, topic in enumerate(TOPICS):
        assert f"Handbook {number}" in [h.title for h in search.search(db, f"{topic}?", limit=2)]
        assert [h.answer for h in search.search_qa(db, f"What about the {topic}?", limit=1)] \
            == [f"See section {number}."]
    services.knowledge.close()


def test_without_the_merge_the_same_sources_leave_several_segments(services, monkeypatch):
    """What the test above would see if nothing merged: FTS5's own merging, four segments at a time, leaves more."""
    monkeypatch.setattr(SourceService, "merge_index", lambda self: 0)
    workspace_id, db = operator_workspace(services)

    _add_one_at_a_time(services, workspace_id)

    assert all(_segments(db, table) > 1 for table in INDEXES)
    services.knowledge.close()


@pytest.fixture
def many_segments(services, monkeypatch):
    """A workspace whose passage index has several segments (FTS5's own merging off but for its crisis merges)."""
    monkeypatch.setattr(SourceService, "merge_index", lambda self: 0)
    workspace_id, db = operator_workspace(services)
    with db.transaction() as conn:
        conn.execute("INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('automerge', 0)")
    _add_one_at_a_time(services, workspace_id, glossary=300)
    services.knowledge.close()
    assert _segments(db, "chunks_fts") > 1
    return db


def test_a_merge_ranks_every_question_as_before(many_segments):
    db = many_segments
    questions = [f"Where is the {topic} of section {n}?" for n, topic in enumerate(TOPICS)]
    before = [[(h.chunk_id, round(h.score, 9)) for h in search.search(db, q)] for q in questions]

    assert fts_merge.merge_fully(db, "chunks_fts") >= 1

    assert _segments(db, "chunks_fts") == 1
    assert [[(h.chunk_id, round(h.score, 9)) for h in search.search(db, q)] for q in questions] == before
    _check(db, "chunks_fts")
    assert fts_merge.merge_fully(db, "chunks_fts") == 0  # nothing left to merge


def test_a_merge_stops_between_steps_when_the_service_stops(many_segments, monkeypatch):
    db = many_segments
    monkeypatch.setattr(fts_merge, "PAGES", 1)  # this small index would otherwise be merged in one step
    asked = []

    def stopping() -> bool:
        asked.append(True)
        return len(asked) > 1  # the service stops after the first step

    assert fts_merge.merge_fully(db, "chunks_fts", stopping=stopping) == 1
    _check(db, "chunks_fts")  # a merge cut short leaves the index whole
    assert fts_merge.merge_fully(db, "chunks_fts") >= 1  # and the next merge carries it on
    assert _segments(db, "chunks_fts") == 1


def test_the_server_start_merges_an_index_left_unmerged(services, monkeypatch):
    """A workspace indexed before this version (its merge never ran) is merged as the server starts."""
    from appliance.services import resume_workspaces

    with monkeypatch.context() as before_the_upgrade:
        before_the_upgrade.setattr(SourceService, "merge_index", lambda self: 0)
        workspace_id, db = operator_workspace(services)
        _add_one_at_a_time(services, workspace_id)
    assert all(_segments(db, table) > 1 for table in INDEXES)

    assert resume_workspaces(services, [workspace_id]) == 0  # nothing to index again
    assert services.knowledge.wait_idle(30)

    assert [_segments(db, table) for table in INDEXES] == [1, 1]
    for table in INDEXES:
        _check(db, table)
    services.knowledge.close()


def test_an_index_of_one_segment_is_not_written_again(services, monkeypatch):
    workspace_id, db = operator_workspace(services)
    _add_one_at_a_time(services, workspace_id)
    sources = services.knowledge.sources(workspace_id)
    writes = []
    real = type(sources._db).transaction
    monkeypatch.setattr(type(sources._db), "transaction", lambda self: writes.append(self.path) or real(self))

    assert sources.merge_index() == 0

    assert writes == []
    services.knowledge.close()
