-- Each full-text index's leaves fit on one encrypted page. SQLCipher keeps 80 bytes of every 4096-byte page for the
-- page's IV and HMAC, so a row keeps at most 4016 - 35 = 3981 bytes on its page and the rest goes to an overflow
-- page. FTS5 writes leaves of 4050 bytes by default, so every leaf took two pages: read, decrypted and authenticated
-- twice. 3900 leaves room for the row's header and for FTS5 passing its target by a few bytes. Leaves written before
-- keep their size until the index next merges or is rebuilt (appliance/storage/fts_merge.py).
INSERT INTO messages_fts (messages_fts, rank) VALUES ('pgsz', 3900);
INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('pgsz', 3900);
INSERT INTO qa_fts (qa_fts, rank) VALUES ('pgsz', 3900);
