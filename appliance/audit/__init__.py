"""Audit: the append-only, HMAC-chained log of auth, access decisions, settings, keys, exports, deletions and jobs."""
