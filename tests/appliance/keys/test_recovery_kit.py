"""Recovery kits: every key out under a passphrase, and into a fresh key directory."""

from __future__ import annotations

import pytest

from appliance.errors import WeakPassphrase
from appliance.keys import masterkey
from appliance.keys.keystore import CONTROL_DB_KEY, Keystore
from appliance.keys.recovery_kit import export_kit, install_kit, read_kit
from appliance.storage.encrypted_files import EncryptedFileError, ScryptParameters

FAST = ScryptParameters(n=1 << 10)


def test_a_kit_carries_every_key_into_a_fresh_key_directory(appliance, clock, tmp_path):
    keystore = appliance.keystore
    data = export_kit(keystore, passphrase="kit passphrase 42", clock=clock, scrypt=FAST)
    assert keystore.get(CONTROL_DB_KEY) not in data
    kit = read_kit(data, passphrase="kit passphrase 42")
    assert kit.appliance_id == keystore.appliance_id and kit.created_at == "2026-11-29T12:00:00Z"
    assert set(kit.keys) == {r.name for r in keystore.records()}

    target = tmp_path / "new-keys"
    target.mkdir(mode=0o700)
    installed = install_kit(kit, target, clock=clock)
    try:
        assert installed.appliance_id == keystore.appliance_id
        assert all(installed.get(r.name) == keystore.get(r.name) for r in keystore.records())
    finally:
        installed.close()
    reopened = Keystore.open(target, masterkey.load(target), clock=clock)
    assert reopened.get(CONTROL_DB_KEY) == keystore.get(CONTROL_DB_KEY)
    reopened.close()


def test_a_wrong_passphrase_or_a_damaged_kit_is_refused(appliance, clock):
    data = export_kit(appliance.keystore, passphrase="kit passphrase 42", clock=clock, scrypt=FAST)
    with pytest.raises(EncryptedFileError, match="wrong passphrase"):
        read_kit(data, passphrase="kit passphrase 43")
    with pytest.raises(EncryptedFileError):
        read_kit(data[:-1], passphrase="kit passphrase 42")
    with pytest.raises(WeakPassphrase, match="at least 12"):
        export_kit(appliance.keystore, passphrase="short", clock=clock, scrypt=FAST)


def test_installing_refuses_a_key_directory_that_holds_keys(appliance, clock, layout):
    kit = read_kit(export_kit(appliance.keystore, passphrase="kit passphrase 42", clock=clock, scrypt=FAST),
                   passphrase="kit passphrase 42")
    with pytest.raises(Exception, match="refusing to overwrite"):
        install_kit(kit, layout.key_dir, clock=clock)
