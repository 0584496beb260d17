"""Upgrades that roll back: what a newer release would migrate (schema), a byte-for-byte copy of every database taken
before it does (snapshot), and the steps that move an appliance to a new release or back (runner)."""
