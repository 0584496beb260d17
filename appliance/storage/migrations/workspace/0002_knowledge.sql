-- Agents, training sources, their chunks and full-text index, and the conversations the agents hold.
CREATE TABLE agents (
    id                    TEXT PRIMARY KEY,
    public_id             TEXT NOT NULL UNIQUE,          -- what the widget snippet names; says nothing else
    name                  TEXT NOT NULL,
    instructions          TEXT NOT NULL DEFAULT '',
    welcome_message       TEXT NOT NULL DEFAULT '',
    suggested_questions   TEXT NOT NULL DEFAULT '[]',    -- JSON list of strings
    fallback_text         TEXT NOT NULL,
    confidence_threshold  REAL NOT NULL DEFAULT 0.45 CHECK (confidence_threshold BETWEEN 0 AND 1),
    answer_length         TEXT NOT NULL DEFAULT 'medium' CHECK (answer_length IN ('short', 'medium', 'long')),
    lead_capture          TEXT NOT NULL DEFAULT 'on_fallback' CHECK (lead_capture IN ('off', 'on_fallback', 'always')),
    allowed_origins       TEXT NOT NULL DEFAULT '[]',    -- JSON list of https origins
    generator             TEXT,                          -- JSON {url, model, timeout_seconds} or NULL
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);

CREATE TABLE sources (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('file', 'text', 'qa', 'url', 'sitemap')),
    title          TEXT NOT NULL,
    url            TEXT,                                 -- url and sitemap sources
    filename       TEXT,                                 -- file sources
    media_type     TEXT,
    status         TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'indexing', 'ready', 'failed')),
    error          TEXT,                                 -- why it failed, for the person who added it
    size_bytes     INTEGER NOT NULL DEFAULT 0,
    chunk_count    INTEGER NOT NULL DEFAULT 0,
    content_hash   TEXT,
    original       BLOB,                                 -- the uploaded file or pasted text, kept for export
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    refreshed_at   TEXT
);
CREATE INDEX sources_by_status ON sources (status);

CREATE TABLE qa_pairs (
    id         INTEGER PRIMARY KEY,
    source_id  TEXT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    question   TEXT NOT NULL,
    answer     TEXT NOT NULL
);
CREATE INDEX qa_pairs_by_source ON qa_pairs (source_id);
CREATE VIRTUAL TABLE qa_fts USING fts5 (question, content = 'qa_pairs', content_rowid = 'id',
                                        tokenize = 'porter unicode61 remove_diacritics 2');
CREATE TRIGGER qa_pairs_ai AFTER INSERT ON qa_pairs BEGIN
    INSERT INTO qa_fts (rowid, question) VALUES (new.id, new.question);
END;
CREATE TRIGGER qa_pairs_ad AFTER DELETE ON qa_pairs BEGIN
    INSERT INTO qa_fts (qa_fts, rowid, question) VALUES ('delete', old.id, old.question);
END;

CREATE TABLE chunks (
    id            INTEGER PRIMARY KEY,
    source_id     TEXT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    ordinal       INTEGER NOT NULL,
    title         TEXT NOT NULL,                         -- the source's title
    heading_path  TEXT NOT NULL DEFAULT '',              -- "Chapter > Section" above the passage
    url           TEXT,                                  -- where the passage can be read (page URL or file name)
    text          TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    origin        TEXT NOT NULL DEFAULT 'passage' CHECK (origin IN ('passage', 'qa')),  -- qa: a Q&A pair's answer
    embedding     BLOB                                   -- float32 vector when a dense model is configured
);
CREATE INDEX chunks_by_source ON chunks (source_id, ordinal);
CREATE VIRTUAL TABLE chunks_fts USING fts5 (title, heading_path, text, content = 'chunks', content_rowid = 'id',
                                            tokenize = 'porter unicode61 remove_diacritics 2');
CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, title, heading_path, text) VALUES (new.id, new.title, new.heading_path, new.text);
END;
CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, title, heading_path, text)
    VALUES ('delete', old.id, old.title, old.heading_path, old.text);
END;

CREATE TABLE conversations (
    id           TEXT PRIMARY KEY,
    agent_id     TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    started_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX conversations_by_agent ON conversations (agent_id, started_at);

CREATE TABLE messages (
    id               INTEGER PRIMARY KEY,
    conversation_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role             TEXT NOT NULL CHECK (role IN ('visitor', 'agent')),
    text             TEXT NOT NULL,
    answered         INTEGER,                            -- agent replies: 1 answered, 0 fell back
    confidence       REAL,
    method           TEXT,                               -- qa, extractive, generated, fallback
    created_at       TEXT NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);

-- Which passages each reply used, with the hash of their text then, so a reply stays explainable after edits.
CREATE TABLE message_sources (
    message_id    INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    rank          INTEGER NOT NULL,
    chunk_id      INTEGER,                               -- NULL once the chunk is gone
    qa_pair_id    INTEGER,
    source_id     TEXT,
    content_hash  TEXT NOT NULL,
    PRIMARY KEY (message_id, rank)
) WITHOUT ROWID;
