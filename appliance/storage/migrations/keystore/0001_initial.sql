-- The keystore: data keys and secrets, encrypted as a whole under the master key.
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE keys (
    name        TEXT PRIMARY KEY,          -- e.g. 'db:control', 'db:workspace:<id>', 'tls:ca', 'backup'
    material    BLOB NOT NULL,
    purpose     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    rotated_at  TEXT
) WITHOUT ROWID;
