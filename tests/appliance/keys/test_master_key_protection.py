"""Changing how the master key is kept (new passphrase, wrapped, clear) without changing the key or any data."""

from __future__ import annotations

import os
import stat

import pytest

from appliance.errors import PassphraseRequired, WeakPassphrase, WrongMasterKey
from appliance.keys import masterkey
from appliance.keys.keystore import Keystore
from tests.appliance.on_disk import snapshot
from tests.conftest import FAST_KDF

OLD = "correct horse battery staple"
NEW = "a different and longer passphrase"


def key_files(key_dir) -> set[str]:
    return {p.name for p in key_dir.iterdir() if p.name.startswith(("master", ".master"))}


def opens_keystore(key_dir, key, clock) -> bool:
    Keystore.open(key_dir, key, clock=clock).close()
    return True


def test_a_clear_key_is_wrapped_rewrapped_and_unwrapped_and_stays_the_same_key(initialised, clock):
    key_dir = initialised.key_dir
    key = masterkey.load(key_dir)

    masterkey.change_protection(key_dir, passphrase=None, new_passphrase=OLD, kdf=FAST_KDF)
    assert key_files(key_dir) == {masterkey.WRAPPED_NAME}
    assert masterkey.load(key_dir, passphrase=OLD) == key

    masterkey.change_protection(key_dir, passphrase=OLD, new_passphrase=NEW, kdf=FAST_KDF)
    assert key_files(key_dir) == {masterkey.WRAPPED_NAME}
    assert masterkey.load(key_dir, passphrase=NEW) == key
    with pytest.raises(WrongMasterKey, match="does not unwrap"):
        masterkey.load(key_dir, passphrase=OLD)

    masterkey.change_protection(key_dir, passphrase=NEW, new_passphrase=None)
    assert key_files(key_dir) == {masterkey.PLAIN_NAME}
    assert masterkey.load(key_dir) == key
    assert stat.S_IMODE(os.stat(key_dir / masterkey.PLAIN_NAME).st_mode) == 0o600
    assert opens_keystore(key_dir, key, clock)


def test_new_key_files_are_private(initialised):
    masterkey.change_protection(initialised.key_dir, passphrase=None, new_passphrase=OLD, kdf=FAST_KDF)

    assert stat.S_IMODE(os.stat(initialised.key_dir / masterkey.WRAPPED_NAME).st_mode) == 0o600


def test_a_wrong_current_passphrase_is_refused_and_nothing_changes(initialised):
    masterkey.change_protection(initialised.key_dir, passphrase=None, new_passphrase=OLD, kdf=FAST_KDF)
    before = snapshot(initialised.key_dir)

    with pytest.raises(WrongMasterKey, match="does not unwrap"):
        masterkey.change_protection(initialised.key_dir, passphrase="not the passphrase", new_passphrase=NEW,
                                    kdf=FAST_KDF)
    with pytest.raises(PassphraseRequired):
        masterkey.change_protection(initialised.key_dir, passphrase=None, new_passphrase=NEW, kdf=FAST_KDF)

    assert snapshot(initialised.key_dir) == before


def test_a_short_new_passphrase_is_refused_and_nothing_changes(initialised):
    before = snapshot(initialised.key_dir)

    with pytest.raises(WeakPassphrase, match="at least 12 characters"):
        masterkey.change_protection(initialised.key_dir, passphrase=None, new_passphrase="short", kdf=FAST_KDF)

    assert snapshot(initialised.key_dir) == before


def test_a_master_key_that_does_not_open_the_keystore_is_not_rewrapped(initialised):
    (initialised.key_dir / masterkey.PLAIN_NAME).write_bytes(os.urandom(32))
    before = snapshot(initialised.key_dir)

    with pytest.raises(WrongMasterKey, match="does not open the keystore"):
        masterkey.change_protection(initialised.key_dir, passphrase=None, new_passphrase=NEW, kdf=FAST_KDF)

    assert snapshot(initialised.key_dir) == before


def test_a_copy_of_the_old_wrapped_file_still_opens_with_the_old_passphrase(initialised, tmp_path, clock):
    # What the help says: the key does not change, so destroy copies of the old file.
    key_dir = initialised.key_dir
    masterkey.change_protection(key_dir, passphrase=None, new_passphrase=OLD, kdf=FAST_KDF)
    old_copy = (key_dir / masterkey.WRAPPED_NAME).read_bytes()

    masterkey.change_protection(key_dir, passphrase=OLD, new_passphrase=NEW, kdf=FAST_KDF)

    elsewhere = tmp_path / "old-copy"
    elsewhere.mkdir(mode=0o700)
    (elsewhere / masterkey.WRAPPED_NAME).write_bytes(old_copy)
    os.chmod(elsewhere / masterkey.WRAPPED_NAME, 0o600)
    assert masterkey.load(elsewhere, passphrase=OLD) == masterkey.load(key_dir, passphrase=NEW)


def test_an_interrupted_wrap_is_finished_by_wrapping_again(initialised):
    # A crash after the wrapped file was written and before the clear one was removed: both are there.
    key_dir = initialised.key_dir
    key = masterkey.load(key_dir)
    masterkey.change_protection(key_dir, passphrase=None, new_passphrase=OLD, kdf=FAST_KDF)
    masterkey._write_new(key_dir / masterkey.PLAIN_NAME, key)
    (key_dir / f".{masterkey.WRAPPED_NAME}.new").write_bytes(b"half a file left by a crash")
    assert masterkey.load(key_dir) == key  # the clear file wins while both exist

    masterkey.change_protection(key_dir, passphrase=None, new_passphrase=NEW, kdf=FAST_KDF)

    assert key_files(key_dir) == {masterkey.WRAPPED_NAME}
    assert masterkey.load(key_dir, passphrase=NEW) == key
