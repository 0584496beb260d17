"""Backups: encrypted snapshots of every database with a manifest of hashes, their verification, and restore."""
