-- The questions each agent answered through the widget on a day, per client address and per network (IPv4 /24, IPv6
-- /64), so that no address or network can use up an agent's day for everyone, even across a restart. They are
-- counted under keyed hashes, never the address, and rows of past days are deleted as a new day's come in.
CREATE TABLE widget_daily_counts (
    agent_id    TEXT NOT NULL,
    day         TEXT NOT NULL,                       -- YYYY-MM-DD, UTC
    counted_as  TEXT NOT NULL,                       -- address:<hash> or network:<hash>
    questions   INTEGER NOT NULL,
    PRIMARY KEY (agent_id, day, counted_as)
) WITHOUT ROWID;

-- The mails that told a workspace's admins an agent's day was nearly (or wholly) used up: each goes once a day.
CREATE TABLE widget_cap_alerts (
    agent_id  TEXT NOT NULL,
    day       TEXT NOT NULL,
    percent   INTEGER NOT NULL,                      -- of widget_messages_per_agent_per_day
    sent_at   TEXT NOT NULL,
    PRIMARY KEY (agent_id, day, percent)
) WITHOUT ROWID;
