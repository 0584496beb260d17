"""Exports: one workspace or one data subject, as an archive encrypted to a passphrase, and opening it again."""
