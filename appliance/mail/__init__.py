"""Outgoing mail: the outbox table the services queue into, and the SMTP relay a job delivers through."""
