-- Retention and cancellation: each workspace's retention policy, its legal hold, the purge a cancellation schedules,
-- and a record of every finished purge that outlives the workspace (ids and dates only).
ALTER TABLE workspaces ADD COLUMN purge_after TEXT;         -- cancelled: when its purge is due (at most 30 days on)
ALTER TABLE workspaces ADD COLUMN purge_started_at TEXT;    -- set as a purge begins; the row goes when it ends
ALTER TABLE workspaces ADD COLUMN legal_hold_since TEXT;    -- NULL: no hold; set: every purge is suspended
ALTER TABLE workspaces ADD COLUMN legal_hold_reason TEXT;
-- A workspace cancelled before purges were scheduled gets the 30 days the promise allows from its cancellation.
UPDATE workspaces SET purge_after = strftime('%Y-%m-%dT%H:%M:%SZ', coalesce(cancelled_at, created_at), '+30 days')
WHERE status = 'cancelled';

-- Days each kind of data is kept; NULL keeps it while the workspace is active (the default, also when no row).
CREATE TABLE retention_policies (
    workspace_id              TEXT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    conversations_days        INTEGER CHECK (conversations_days BETWEEN 1 AND 3650),
    leads_days                INTEGER CHECK (leads_days BETWEEN 1 AND 3650),
    analytics_events_days     INTEGER CHECK (analytics_events_days BETWEEN 1 AND 3650),
    visitor_addresses_days    INTEGER CHECK (visitor_addresses_days BETWEEN 1 AND 3650),
    visitor_addresses_action  TEXT NOT NULL DEFAULT 'truncate' CHECK (visitor_addresses_action IN ('truncate', 'drop')),
    uploaded_originals_days   INTEGER CHECK (uploaded_originals_days BETWEEN 1 AND 3650),
    updated_at                TEXT NOT NULL,
    updated_by                TEXT
) WITHOUT ROWID;

CREATE TABLE purged_workspaces (
    workspace_id  TEXT PRIMARY KEY,
    cancelled_at  TEXT,
    purge_after   TEXT,
    started_at    TEXT NOT NULL,
    purged_at     TEXT NOT NULL
) WITHOUT ROWID;
