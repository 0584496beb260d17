-- The index of backups: one row per backup file (its outcome and latest verification) and the workspaces it holds.
CREATE TABLE backups (
    id                   TEXT PRIMARY KEY,
    created_at           TEXT NOT NULL,
    file_name            TEXT NOT NULL UNIQUE,               -- in the backup directory
    key_id               TEXT NOT NULL,                      -- the backup key it is encrypted under (backup:<n>)
    status               TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'complete', 'failed')),
    size                 INTEGER,
    sha256               TEXT,                               -- of the encrypted file
    finished_at          TEXT,
    error                TEXT,                               -- why it failed
    verified_at          TEXT,
    verification_status  TEXT CHECK (verification_status IN ('passed', 'failed')),
    verification         TEXT                                -- JSON: what the latest verification found per file
);
CREATE INDEX backups_by_created ON backups (created_at);

CREATE TABLE backup_workspaces (
    backup_id     TEXT NOT NULL REFERENCES backups (id) ON DELETE CASCADE,
    workspace_id  TEXT NOT NULL,                             -- no foreign key: purges drop these rows themselves
    PRIMARY KEY (backup_id, workspace_id)
) WITHOUT ROWID;
CREATE INDEX backup_workspaces_by_workspace ON backup_workspaces (workspace_id);
