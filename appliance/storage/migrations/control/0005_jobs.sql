-- Scheduled jobs: one row per run (its outcome and what it did), and one lease per job so it never runs twice at
-- once, not even when the CLI runs a job while the server is running it.
CREATE TABLE job_runs (
    id            INTEGER PRIMARY KEY,
    job_id        TEXT NOT NULL,
    trigger       TEXT NOT NULL CHECK (trigger IN ('schedule', 'catch_up', 'manual')),
    requested_by  TEXT,                               -- who ran it by hand: a user id, or 'cli'
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    duration_ms   INTEGER,                            -- measured, so sub-second runs show their time
    outcome       TEXT NOT NULL CHECK (outcome IN ('running', 'success', 'failure', 'interrupted', 'skipped')),
    summary       TEXT NOT NULL DEFAULT '{}',         -- JSON: what the run did, e.g. {"sent": 3}
    error         TEXT,                               -- the failure's message; the traceback is in the log
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL
);
CREATE INDEX job_runs_by_job ON job_runs (job_id, id);
CREATE INDEX job_runs_running ON job_runs (outcome) WHERE outcome = 'running';

CREATE TABLE job_leases (
    job_id       TEXT PRIMARY KEY,
    run_id       INTEGER NOT NULL,                    -- the run holding it
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    process      TEXT NOT NULL,                       -- random per process: tells a reused pid from its holder
    acquired_at  TEXT NOT NULL,
    expires_at   TEXT NOT NULL                        -- renewed while the run lasts; a crashed holder's lease lapses
) WITHOUT ROWID;
