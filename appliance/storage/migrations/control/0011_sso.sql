-- Single sign-on with OpenID Connect: the providers operators configure, how their groups map to workspace roles,
-- which appliance account each provider's subject is, the roles SSO granted (so it can take them back), and the
-- sign-ins under way (state, nonce and PKCE verifier, each used once), and the sessions handed to a desktop panel
-- that began its sign-in in the system browser (RFC 8252: a loopback redirect, then a code and its verifier).
CREATE TABLE sso_providers (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,                  -- on the button: "Sign in with <name>"
    issuer           TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    client_secret    TEXT NOT NULL,                  -- inside the encrypted control database, never shown again
    ca_file          TEXT,                           -- CA certificates for an internal IdP; NULL: the system's
    allowed_domains  TEXT NOT NULL DEFAULT '[]',     -- JSON: email domains that may get an account at first sign-in
    allowed_groups   TEXT NOT NULL DEFAULT '[]',     -- JSON: or groups that may
    groups_claim     TEXT NOT NULL DEFAULT 'groups',
    password_login   INTEGER NOT NULL DEFAULT 1,     -- 0: its users may not sign in with a password
    created_at       TEXT NOT NULL,
    created_by       TEXT REFERENCES users (id) ON DELETE SET NULL
);
CREATE TABLE sso_group_roles (
    provider_id   TEXT NOT NULL REFERENCES sso_providers (id) ON DELETE CASCADE,
    group_name    TEXT NOT NULL,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    PRIMARY KEY (provider_id, group_name, workspace_id)
);
CREATE TABLE sso_identities (
    provider_id     TEXT NOT NULL REFERENCES sso_providers (id) ON DELETE CASCADE,
    subject         TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    groups          TEXT NOT NULL DEFAULT '[]',
    last_sign_in_at TEXT NOT NULL,
    PRIMARY KEY (provider_id, subject)
);
CREATE TABLE sso_memberships (
    provider_id   TEXT NOT NULL REFERENCES sso_providers (id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    PRIMARY KEY (provider_id, user_id, workspace_id)
);
CREATE TABLE sso_attempts (
    state          TEXT PRIMARY KEY,
    provider_id    TEXT NOT NULL REFERENCES sso_providers (id) ON DELETE CASCADE,
    binding_hash   BLOB NOT NULL,                  -- SHA-256 of the browser's cookie: the callback must come from it
    nonce          TEXT NOT NULL,
    code_verifier  TEXT NOT NULL,
    return_to      TEXT,
    panel_port     INTEGER,                        -- a panel's loopback port: the session goes to it, not the browser
    panel_challenge TEXT,                          -- S256 of the verifier the panel keeps
    created_at     TEXT NOT NULL
);
CREATE TABLE sso_panel_handoffs (
    code_hash   BLOB PRIMARY KEY,                  -- SHA-256 of the one-time code sent to the panel's loopback port
    token       TEXT NOT NULL,                     -- the new session's token, held for two minutes at most
    challenge   TEXT NOT NULL,
    created_at  TEXT NOT NULL
) WITHOUT ROWID;
