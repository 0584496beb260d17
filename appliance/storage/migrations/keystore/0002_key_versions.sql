-- Key rotation. `version` counts the materials a key has had (1: as created). While a database is rekeyed its next
-- key waits in `pending_material`: a crash then leaves the file under exactly one of the two, and opening it tries
-- the current key, then the pending one (which it then promotes).
ALTER TABLE keys ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE keys ADD COLUMN pending_material BLOB;
ALTER TABLE keys ADD COLUMN pending_since TEXT;

-- The materials a key had before a rotation, kept so that backups made under them stay readable; destroying a key
-- (a purged workspace's) destroys these with it.
CREATE TABLE retired_keys (
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    material    BLOB NOT NULL,
    retired_at  TEXT NOT NULL,
    PRIMARY KEY (name, version)
) WITHOUT ROWID;
