"""Encrypted storage: where files live (layout), the SQLCipher driver, migrations, the per-workspace database files,
encrypted files for backups and exports, and the data directory's lock."""
