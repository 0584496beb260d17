-- Accounts, sessions, workspace roles, invitations, single-use tokens, login throttling, mail outbox, audit log.
CREATE TABLE users (
    id                    TEXT PRIMARY KEY,
    email                 TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name          TEXT NOT NULL DEFAULT '',
    password_hash         TEXT,                       -- NULL until the user sets one
    is_operator           INTEGER NOT NULL DEFAULT 0 CHECK (is_operator IN (0, 1)),
    status                TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active', 'disabled')),
    email_verified_at     TEXT,
    totp_secret           BLOB,                       -- NULL: no second factor
    totp_enabled_at       TEXT,                       -- NULL while enrolment is unconfirmed
    totp_last_step        INTEGER NOT NULL DEFAULT 0, -- a code's time step is accepted once
    password_changed_at   TEXT,
    created_at            TEXT NOT NULL
);

CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    used_at    TEXT,
    PRIMARY KEY (user_id, code_hash)
) WITHOUT ROWID;

CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,                 -- public handle for listing and ending, not the token
    token_hash      BLOB NOT NULL UNIQUE,             -- SHA-256 of the bearer token; the token itself is never stored
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,
    expires_at      TEXT NOT NULL,                    -- absolute limit
    client_address  TEXT,
    user_agent      TEXT,
    enrol_only      INTEGER NOT NULL DEFAULT 0,       -- 1: may only enrol a second factor (policy requires one)
    revoked_at      TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

ALTER TABLE workspaces ADD COLUMN cancelled_at TEXT;

CREATE TABLE memberships (
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    created_at    TEXT NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX one_owner_per_workspace ON memberships (workspace_id) WHERE role = 'owner';
CREATE INDEX memberships_by_user ON memberships (user_id);

CREATE TABLE invitations (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email         TEXT NOT NULL COLLATE NOCASE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    token_hash    BLOB NOT NULL UNIQUE,
    invited_by    TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    accepted_at   TEXT,
    revoked_at    TEXT
);
CREATE INDEX invitations_by_workspace ON invitations (workspace_id);

CREATE TABLE tokens (
    token_hash  BLOB PRIMARY KEY,                     -- SHA-256 of the link token
    purpose     TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
) WITHOUT ROWID;

CREATE TABLE login_failures (
    id              INTEGER PRIMARY KEY,
    account         TEXT NOT NULL COLLATE NOCASE,
    client_address  TEXT NOT NULL,
    at              TEXT NOT NULL
);
CREATE INDEX login_failures_by_account ON login_failures (account, at);
CREATE INDEX login_failures_by_address ON login_failures (client_address, at);

CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    recipient        TEXT NOT NULL,
    subject          TEXT NOT NULL,
    body             TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    sent_at          TEXT,
    last_error       TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

CREATE TABLE audit_log (
    seq             INTEGER PRIMARY KEY,              -- consecutive from 1; a gap is a removed row
    at              TEXT NOT NULL,
    actor_type      TEXT NOT NULL,                    -- user, api_key, system, anonymous
    actor_id        TEXT,
    action          TEXT NOT NULL,                    -- e.g. auth.login, workspace.create
    target_type     TEXT,
    target_id       TEXT,
    workspace_id    TEXT,
    client_address  TEXT,
    outcome         TEXT NOT NULL,                    -- success, failure, denied
    details         TEXT NOT NULL DEFAULT '{}',       -- JSON, never secrets or message content
    mac             BLOB NOT NULL                     -- HMAC-SHA256 over this row and the previous row's mac
);
CREATE INDEX audit_by_workspace ON audit_log (workspace_id, seq);
CREATE INDEX audit_by_actor ON audit_log (actor_id, seq);
