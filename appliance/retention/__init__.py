"""Retention: per-workspace policies and legal holds, the sweep enforcing them, purges of cancelled workspaces."""
