"""Encrypted storage: the SQLCipher driver, migrations and the per-workspace database files."""
