"""Keys: the master key (plain or passphrase-wrapped), the keystore it opens, each database's key and its rotation,
recovery kits, and the appliance's TLS certificate authority with the client that pins it."""
