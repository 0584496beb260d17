-- Deleting a row removes its words from the full-text indexes at once, not at the index's next merge, so deleted
-- conversations and training text leave the file with their rows (SQLite 3.42's FTS5 secure-delete).
INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('secure-delete', 1);
INSERT INTO qa_fts (qa_fts, rank) VALUES ('secure-delete', 1);
