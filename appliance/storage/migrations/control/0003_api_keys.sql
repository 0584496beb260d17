-- API keys for integrators: bound to one workspace, scoped, expiring, rotatable with a grace period; hashes only.
CREATE TABLE api_keys (
    id                     TEXT PRIMARY KEY,             -- the public part of csk_<id>_<secret>
    workspace_id           TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name                   TEXT NOT NULL,
    scopes                 TEXT NOT NULL,                -- JSON list
    secret_hash            BLOB NOT NULL,                -- SHA-256 of the whole key
    previous_secret_hash   BLOB,                         -- the secret before the last rotation...
    previous_valid_until   TEXT,                         -- ...accepted until then
    allowed_addresses      TEXT NOT NULL DEFAULT '[]',   -- JSON list of addresses or networks; empty: any
    rate_limit_per_minute  INTEGER NOT NULL DEFAULT 120,
    created_by             TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at             TEXT NOT NULL,
    expires_at             TEXT,                         -- NULL only when "never" was chosen explicitly
    rotated_at             TEXT,
    revoked_at             TEXT,
    last_used_at           TEXT,
    last_used_address      TEXT
);
CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id);
