-- Bearer tokens for scraping /metrics (Prometheus): appliance-wide, made and revoked by operators; hashes only.
CREATE TABLE metrics_tokens (
    id                 TEXT PRIMARY KEY,             -- the public part of csm_<id>_<secret>
    name               TEXT NOT NULL,
    secret_hash        BLOB NOT NULL,                -- SHA-256 of the whole token
    created_by         TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at         TEXT NOT NULL,
    expires_at         TEXT,                         -- NULL only when "never" was chosen explicitly
    revoked_at         TEXT,
    last_used_at       TEXT,
    last_used_address  TEXT
);
