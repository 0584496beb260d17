"""Retention: per-workspace policies and legal holds, the sweep enforcing them, purges of cancelled workspaces, and
data-subject erasure."""
