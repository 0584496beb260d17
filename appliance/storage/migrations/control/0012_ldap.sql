-- Sign-in through an LDAP or Active Directory directory: a directory is a sign-in provider of kind 'ldap', so its
-- accounts, group-to-role mapping and granted roles use the same tables as OpenID Connect (0011); the columns only
-- OpenID Connect uses (issuer, client_id, client_secret, groups_claim) are empty for a directory, whose settings are
-- here. Binds go over LDAPS or StartTLS only: a plain ldap:// URL needs start_tls.
ALTER TABLE sso_providers ADD COLUMN kind TEXT NOT NULL DEFAULT 'oidc';
CREATE TABLE ldap_directories (
    provider_id      TEXT PRIMARY KEY REFERENCES sso_providers (id) ON DELETE CASCADE,
    url              TEXT NOT NULL,                  -- ldaps://host[:port] or ldap://host[:port] (then start_tls = 1)
    start_tls        INTEGER NOT NULL DEFAULT 0,
    bind_dn          TEXT,                           -- the service account that finds users; NULL: anonymous search
    bind_password    TEXT NOT NULL DEFAULT '',       -- inside the encrypted control database, never shown again
    user_base        TEXT NOT NULL,
    user_filter      TEXT NOT NULL,                  -- with {login}: what the person typed, escaped
    group_base       TEXT,                           -- NULL: groups from the user's memberOf
    group_filter     TEXT NOT NULL,                  -- with {dn}: the user's DN, escaped
    email_attribute  TEXT NOT NULL DEFAULT 'mail',
    name_attribute   TEXT NOT NULL DEFAULT 'cn'
);
-- Where a directory's person is (their DN), to check their password again when they confirm a change.
ALTER TABLE sso_identities ADD COLUMN directory_dn TEXT;
