"""The keystore: named keys and secrets in keys.db under the master key, gone for good when destroyed."""

from __future__ import annotations

import os

import pytest

from appliance.clock import isoformat
from appliance.errors import KeyExists, StorageError, UnknownKey, WrongMasterKey
from appliance.keys.keystore import FILE_NAME, KeyRecord, Keystore
from appliance.storage.layout import make_private_dir
from tests.appliance.on_disk import files_containing, plaintext_contains, snapshot


@pytest.fixture
def key_dir(tmp_path):
    path = tmp_path / "keys"
    make_private_dir(path)
    return path


@pytest.fixture
def master() -> bytes:
    return os.urandom(32)


@pytest.fixture
def keystore(key_dir, master, clock):
    store = Keystore.create(key_dir, master, appliance_id="appliance-1", clock=clock)
    yield store
    store.close()


def test_create_key_returns_fresh_32_bytes_readable_by_name(keystore):
    first = keystore.create_key("db:one", purpose="test")
    second = keystore.create_key("db:two", purpose="test")

    assert len(first) == 32
    assert first != second
    assert keystore.get("db:one") == first
    assert keystore.get("db:two") == second


def test_has_tells_whether_a_name_is_held(keystore):
    keystore.create_key("db:one", purpose="test")

    assert keystore.has("db:one")
    assert not keystore.has("db:other")


def test_get_of_an_unknown_name_raises_unknown_key(keystore):
    with pytest.raises(UnknownKey, match="no key named 'db:none'"):
        keystore.get("db:none")


def test_duplicate_name_is_refused_and_the_original_kept(keystore):
    original = keystore.create_key("db:one", purpose="first")

    with pytest.raises(KeyExists, match="already holds a key named 'db:one'"):
        keystore.create_key("db:one", purpose="second")
    with pytest.raises(KeyExists):
        keystore.put_secret("db:one", b"other material", purpose="second")

    assert keystore.get("db:one") == original
    assert [r.purpose for r in keystore.records()] == ["first"]


def test_destroy_removes_the_key(keystore):
    keystore.create_key("db:one", purpose="test")
    kept = keystore.create_key("db:two", purpose="test")

    keystore.destroy("db:one")

    assert not keystore.has("db:one")
    with pytest.raises(UnknownKey):
        keystore.get("db:one")
    assert keystore.get("db:two") == kept


def test_destroy_of_an_unknown_name_raises_unknown_key(keystore):
    with pytest.raises(UnknownKey, match="no key named 'db:none'"):
        keystore.destroy("db:none")


def test_records_list_names_purposes_and_times_but_no_material(keystore, clock):
    keystore.create_key("db:b", purpose="second")
    clock.advance(hours=1)
    keystore.put_secret("a:secret", b"s3cret", purpose="first")

    records = keystore.records()

    assert records == [
        KeyRecord("a:secret", "first", isoformat(clock.now()), None),
        KeyRecord("db:b", "second", "2026-11-29T12:00:00Z", None),
    ]


def test_replace_secret_swaps_the_material_and_stamps_the_rotation(keystore, clock):
    keystore.put_secret("tls:server-key", b"old pem", purpose="server key")
    clock.advance(days=3)

    keystore.replace_secret("tls:server-key", b"new pem")

    assert keystore.get("tls:server-key") == b"new pem"
    (record,) = keystore.records()
    assert (record.created_at, record.rotated_at) == ("2026-11-29T12:00:00Z", "2026-12-02T12:00:00Z")


def test_replace_secret_of_an_unknown_name_raises_unknown_key_and_adds_nothing(keystore):
    with pytest.raises(UnknownKey, match="'tls:none'"):
        keystore.replace_secret("tls:none", b"material")
    assert keystore.records() == []


def test_keys_and_appliance_id_survive_reopening_with_the_same_master_key(key_dir, master, clock, keystore):
    material = keystore.create_key("db:one", purpose="test")
    keystore.close()

    reopened = Keystore.open(key_dir, master, clock=clock)
    try:
        assert reopened.appliance_id == "appliance-1"
        assert reopened.get("db:one") == material
    finally:
        reopened.close()


def test_keystore_cannot_be_opened_with_a_different_master_key(key_dir, clock, keystore):
    keystore.create_key("db:one", purpose="test")
    keystore.close()
    before = snapshot(key_dir)

    with pytest.raises(WrongMasterKey, match="recovery kit"):
        Keystore.open(key_dir, os.urandom(32), clock=clock)

    assert snapshot(key_dir) == before


def test_create_refuses_an_existing_keystore(key_dir, master, clock, keystore):
    keystore.create_key("db:one", purpose="test")

    with pytest.raises(StorageError, match="already exists"):
        Keystore.create(key_dir, master, appliance_id="appliance-2", clock=clock)

    assert keystore.appliance_id == "appliance-1"


def test_destroyed_key_material_is_gone_from_keys_db(key_dir, master, keystore):
    doomed = keystore.create_key("db:doomed", purpose="test")
    kept = keystore.create_key("db:kept", purpose="test")
    keys_db = key_dir / FILE_NAME
    # The material is on disk (in the log or the file) until it is destroyed; only encryption hides it.
    assert plaintext_contains(keys_db, master, doomed)

    keystore.destroy("db:doomed")

    assert not plaintext_contains(keys_db, master, doomed)
    assert plaintext_contains(keys_db, master, kept)
    assert files_containing(doomed, key_dir) == []
    assert files_containing(doomed.hex().encode(), key_dir) == []
