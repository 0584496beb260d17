-- A workspace database, one file per workspace under its own key. Later migrations add sources, chunks,
-- agents, conversations, leads and analytics.
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
