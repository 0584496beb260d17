"""Keys: the master key (plain or passphrase-wrapped) and the keystore it opens."""
