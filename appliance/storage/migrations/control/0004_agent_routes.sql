-- Which workspace holds the agent a widget names, so a widget call opens only that workspace's database.
CREATE TABLE agent_routes (
    public_id     TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    agent_id      TEXT NOT NULL
);
CREATE INDEX agent_routes_by_workspace ON agent_routes (workspace_id);
