-- Security alerts: a condition the operators are told about once, by mail, when it starts; open until it is gone.
CREATE TABLE alerts (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,                 -- sign_in_failures_account, backup_stale, disk_low, ...
    subject       TEXT NOT NULL DEFAULT '',      -- what it is about: an account, an address, a key id; '' for the appliance
    summary       TEXT NOT NULL,
    details       TEXT NOT NULL DEFAULT '{}',    -- JSON
    opened_at     TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    mailed_at     TEXT,                          -- NULL: not mailed (over the hourly limit, or no operator)
    resolved_at   TEXT
);
CREATE UNIQUE INDEX alerts_open_once ON alerts (kind, subject) WHERE resolved_at IS NULL;
CREATE INDEX alerts_by_opening ON alerts (opened_at);
