-- The audit MAC key rotates: each row names the version of the key that signed it, so rows signed before a rotation
-- stay verifiable. The column is outside the MAC: a row given another version no longer verifies under that key.
ALTER TABLE audit_log ADD COLUMN key_version INTEGER NOT NULL DEFAULT 1;
