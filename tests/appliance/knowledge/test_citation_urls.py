"""Only a crawled page has an address: a citation never links to an upload's name, pasted text or a Q&A pair's title,
not even where an older release stored one."""

from __future__ import annotations

import os

from appliance.knowledge import search
from appliance.storage.database import Database
from appliance.storage.migrations import migrate, migrations_for
from tests.appliance.conversations.chats import PARKING, start_chats

PLANTED = "https://evil.example/steal"
CITATION_FIX = 6   # the workspace migration that clears them


def test_a_url_an_older_release_stored_on_an_uploads_passages_is_never_cited(services, clock):
    chats = start_chats(services, clock)
    try:
        db = services.appliance.workspaces.open(chats.workspace_id)
        with db.transaction() as conn:
            conn.execute("UPDATE chunks SET url = ?", (PLANTED,))

        exchange = chats.ask(PARKING)

        assert exchange.reply.citations and [c.url for c in exchange.reply.citations] == [None]
        hits = search.search(db, PARKING)
        assert hits and {h.url for h in hits} == {None}
        assert {h.url for h in search.hits_by_id(db, [h.chunk_id for h in hits]).values()} == {None}
        [_, reply] = services.conversations.chat(chats.workspace_id).messages(exchange.conversation_id)
        assert [s.url for s in reply.sources] == [None]
        transcript = services.conversations.records(chats.workspace_id).get(exchange.conversation_id)
        assert [s.url for m in transcript.messages for s in m.sources] == [None]
    finally:
        services.knowledge.close()


def test_a_crawled_pages_address_that_is_not_http_is_not_a_link_either():
    assert search.citation_url("url", "https://intranet.example/hours") == "https://intranet.example/hours"
    assert search.citation_url("sitemap", "http://intranet.example/a") == "http://intranet.example/a"
    for kind, url in (("url", "javascript:alert(1)"), ("url", "data:text/html,<b>x</b>"), ("url", "//evil.example"),
                      ("url", "https://"), ("url", "http://[::1"), ("file", PLANTED), ("text", PLANTED),
                      ("qa", PLANTED), (None, PLANTED), ("url", None)):
        assert search.citation_url(kind, url) is None, (kind, url)


def test_the_migration_clears_the_urls_of_uploads_pasted_text_and_qa_pairs_and_keeps_crawled_pages(tmp_path):
    db = Database(tmp_path / "old.db", os.urandom(32), create=True)
    try:
        for migration in migrations_for("workspace")[:CITATION_FIX - 1]:
            db.execute_script_in_transaction(f"{migration.sql}\nPRAGMA user_version = {migration.number};")
        with db.transaction() as conn:
            for kind, url in (("file", PLANTED), ("text", PLANTED), ("qa", PLANTED), ("url", "https://docs.test/a")):
                conn.execute("INSERT INTO sources (id, kind, title, url, created_at, updated_at) "
                             "VALUES (?, ?, 't', ?, 'now', 'now')", (kind, kind, url))
                conn.execute("INSERT INTO chunks (source_id, ordinal, title, url, text, content_hash) "
                             "VALUES (?, 0, 't', ?, 'text', 'hash')", (kind, url))

        assert "0006_citation_urls.sql" in migrate(db, "workspace")

        assert dict(db.query("SELECT source_id, url FROM chunks")) == {
            "file": None, "text": None, "qa": None, "url": "https://docs.test/a"}
        assert dict(db.query("SELECT id, url FROM sources")) == {
            "file": None, "text": None, "qa": None, "url": "https://docs.test/a"}
    finally:
        db.close()
