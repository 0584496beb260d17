"""Exports: one workspace or one data subject as an archive encrypted to a passphrase, opening it again, and the CSV
and streamed JSON that every export (conversations, leads, analytics, audit) is written in."""
