-- The widget: agents' look and lead form, conversations' visitor context, reply feedback, leads with their consent
-- records, a full-text index over messages, and per-day analytics events.
ALTER TABLE agents ADD COLUMN color TEXT NOT NULL DEFAULT '#2563eb';
ALTER TABLE agents ADD COLUMN lead_fields TEXT NOT NULL DEFAULT
    '[{"name": "name", "label": "Name", "type": "text", "required": false}, {"name": "email", "label": "Email", "type": "email", "required": true}]';
ALTER TABLE agents ADD COLUMN consent_text TEXT NOT NULL DEFAULT
    'I agree that my details and this conversation are stored so that someone can contact me about my question.';
ALTER TABLE agents ADD COLUMN consent_version INTEGER NOT NULL DEFAULT 1;   -- raised whenever consent_text changes
ALTER TABLE agents ADD COLUMN notify_on_lead INTEGER NOT NULL DEFAULT 1;    -- mail the workspace admins per lead

ALTER TABLE conversations ADD COLUMN channel TEXT NOT NULL DEFAULT 'api' CHECK (channel IN ('api', 'widget'));
ALTER TABLE conversations ADD COLUMN visitor_id TEXT;                       -- widget: random, from the visitor token
ALTER TABLE conversations ADD COLUMN origin TEXT;                           -- widget: the page's origin
ALTER TABLE conversations ADD COLUMN page_url TEXT;                         -- widget: the page it started on
ALTER TABLE conversations ADD COLUMN client_address TEXT;                   -- widget: the visitor's address
CREATE INDEX conversations_by_start ON conversations (started_at);

ALTER TABLE messages ADD COLUMN feedback TEXT CHECK (feedback IN ('up', 'down'));
ALTER TABLE messages ADD COLUMN offer_lead_form INTEGER NOT NULL DEFAULT 0;

CREATE VIRTUAL TABLE messages_fts USING fts5 (text, content = 'messages', content_rowid = 'id',
                                              tokenize = 'porter unicode61 remove_diacritics 2');
CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');

CREATE TABLE leads (
    id               TEXT PRIMARY KEY,
    agent_id         TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    conversation_id  TEXT REFERENCES conversations (id) ON DELETE SET NULL,
    name             TEXT,
    email            TEXT,                               -- lower-cased
    phone            TEXT,
    company          TEXT,
    custom_fields    TEXT NOT NULL DEFAULT '{}',         -- JSON {field: value} of the agent's own fields
    consent_text     TEXT NOT NULL,                      -- exactly what the visitor agreed to
    consent_version  INTEGER NOT NULL,
    consented_at     TEXT NOT NULL,
    page_url         TEXT,
    origin           TEXT,
    client_address   TEXT,
    created_at       TEXT NOT NULL
);
CREATE INDEX leads_by_created ON leads (created_at);
CREATE INDEX leads_by_email ON leads (email);
CREATE INDEX leads_by_conversation ON leads (conversation_id);

-- One row per countable event; counts survive deleting the conversation (its question text does not).
CREATE TABLE analytics_events (
    id               INTEGER PRIMARY KEY,
    agent_id         TEXT NOT NULL,
    day              TEXT NOT NULL,                      -- YYYY-MM-DD, UTC
    kind             TEXT NOT NULL CHECK (kind IN ('conversation', 'question', 'lead', 'thumbs_up', 'thumbs_down')),
    conversation_id  TEXT,
    message_id       INTEGER,                            -- question: the reply; thumbs: the rated reply
    answered         INTEGER,                            -- question: 1 answered, 0 fell back, NULL handed to a person
    question         TEXT,                               -- question: the visitor's text
    created_at       TEXT NOT NULL
);
CREATE INDEX analytics_by_day ON analytics_events (day, agent_id, kind);
CREATE INDEX analytics_by_conversation ON analytics_events (conversation_id);
