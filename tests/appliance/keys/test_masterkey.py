"""The master key file: plain (0600) or wrapped under a passphrase, refused when shared or garbled."""

from __future__ import annotations

import base64
import json
import stat

import pytest

from appliance.errors import (
    ApplianceExists,
    InsecureKeyFile,
    NotInitialised,
    PassphraseRequired,
    WeakPassphrase,
    WrongMasterKey,
)
from appliance.keys import masterkey
from appliance.keys.masterkey import KdfParameters
from appliance.storage.layout import make_private_dir
from tests.conftest import FAST_KDF

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def key_dir(tmp_path):
    path = tmp_path / "keys"
    make_private_dir(path)
    return path


def _wrapped(key_dir) -> bytes:
    return masterkey.create(key_dir, passphrase=PASSPHRASE, kdf=FAST_KDF)


def test_plain_key_is_32_bytes_in_a_0600_file_in_a_0700_dir(key_dir):
    key = masterkey.create(key_dir)

    path = key_dir / masterkey.PLAIN_NAME
    assert path.read_bytes() == key
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert not masterkey.is_wrapped(key_dir)
    assert masterkey.load(key_dir) == key


def test_each_new_key_is_random(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    make_private_dir(first)
    make_private_dir(second)
    assert masterkey.create(first) != masterkey.create(second)


def test_wrapped_key_round_trips_with_its_passphrase(key_dir):
    key = _wrapped(key_dir)

    path = key_dir / masterkey.WRAPPED_NAME
    assert masterkey.is_wrapped(key_dir)
    assert not (key_dir / masterkey.PLAIN_NAME).exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert masterkey.load(key_dir, passphrase=PASSPHRASE) == key


def test_wrapped_file_records_its_format_and_does_not_contain_the_raw_key(key_dir):
    key = _wrapped(key_dir)

    raw = (key_dir / masterkey.WRAPPED_NAME).read_bytes()
    doc = json.loads(raw)
    assert (doc["format"], doc["version"], doc["cipher"], doc["kdf"]["name"]) == (
        "chatspark-wrapped-master-key", 1, "AES-256-GCM", "argon2id")
    for form in (key, key.hex().encode(), key.hex().upper().encode(), base64.b64encode(key)):
        assert form not in raw


def test_wrong_passphrase_raises_wrong_master_key(key_dir):
    _wrapped(key_dir)

    with pytest.raises(WrongMasterKey, match="passphrase does not unwrap"):
        masterkey.load(key_dir, passphrase="not the right passphrase")


def test_wrapped_key_without_a_passphrase_raises_passphrase_required(key_dir):
    _wrapped(key_dir)

    with pytest.raises(PassphraseRequired, match="--passphrase-file"):
        masterkey.load(key_dir)


@pytest.mark.parametrize("wrapped", [False, True], ids=["plain", "wrapped"])
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o660, 0o644])
def test_key_file_open_to_group_or_other_is_refused(key_dir, wrapped, mode):
    if wrapped:
        _wrapped(key_dir)
    else:
        masterkey.create(key_dir)
    path = key_dir / (masterkey.WRAPPED_NAME if wrapped else masterkey.PLAIN_NAME)
    path.chmod(mode)

    with pytest.raises(InsecureKeyFile, match=f"chmod 600 {path}"):
        masterkey.load(key_dir, passphrase=PASSPHRASE)


@pytest.mark.parametrize("second_wrapped", [False, True], ids=["then-plain", "then-wrapped"])
@pytest.mark.parametrize("first_wrapped", [False, True], ids=["plain", "wrapped"])
def test_create_refuses_when_a_key_exists_and_keeps_it(key_dir, first_wrapped, second_wrapped):
    key = _wrapped(key_dir) if first_wrapped else masterkey.create(key_dir)
    before = {p.name: p.read_bytes() for p in key_dir.iterdir()}

    with pytest.raises(ApplianceExists, match="already holds a master key"):
        masterkey.create(key_dir, passphrase=PASSPHRASE if second_wrapped else None, kdf=FAST_KDF)

    assert {p.name: p.read_bytes() for p in key_dir.iterdir()} == before
    assert masterkey.load(key_dir, passphrase=PASSPHRASE) == key


def test_short_passphrase_is_refused_and_writes_nothing(key_dir):
    with pytest.raises(WeakPassphrase, match="at least 12 characters"):
        masterkey.create(key_dir, passphrase="elevenchars", kdf=FAST_KDF)
    assert list(key_dir.iterdir()) == []


def test_plain_key_of_the_wrong_size_is_refused(key_dir):
    path = key_dir / masterkey.PLAIN_NAME
    path.write_bytes(b"\x00" * 31)
    path.chmod(0o600)

    with pytest.raises(WrongMasterKey, match="31 bytes, expected 32"):
        masterkey.load(key_dir)


def test_missing_key_dir_or_key_raises_not_initialised(tmp_path, key_dir):
    with pytest.raises(NotInitialised, match="does not exist"):
        masterkey.load(tmp_path / "nowhere")
    with pytest.raises(NotInitialised, match="no master key"):
        masterkey.load(key_dir)
    assert not (tmp_path / "nowhere").exists()


def _garble(doc: dict, change: str) -> str:
    if change == "not json":
        return "this is not json"
    if change == "a list":
        return "[]"
    if change == "no nonce":
        del doc["nonce"]
    elif change == "badly padded base64":
        doc["ciphertext"] = "abc"
    elif change == "empty nonce":
        doc["nonce"] = ""
    elif change == "empty salt":
        doc["kdf"]["salt"] = ""
    elif change == "zero time cost":
        doc["kdf"]["time_cost"] = 0
    elif change == "time cost as text":
        doc["kdf"]["time_cost"] = "one"
    return json.dumps(doc)


@pytest.mark.parametrize("change", [
    "not json", "a list", "no nonce", "badly padded base64",
    "empty nonce", "empty salt", "zero time cost", "time cost as text",
])
def test_garbled_wrapped_file_raises_wrong_master_key_with_a_clear_message(key_dir, change):
    _wrapped(key_dir)
    path = key_dir / masterkey.WRAPPED_NAME
    path.write_text(_garble(json.loads(path.read_text()), change))

    with pytest.raises(WrongMasterKey) as caught:
        masterkey.load(key_dir, passphrase=PASSPHRASE)

    assert f"{path} is not a wrapped master key" in str(caught.value)
    assert "restore it from the recovery kit" in str(caught.value)


def test_tampered_ciphertext_raises_wrong_master_key(key_dir):
    _wrapped(key_dir)
    path = key_dir / masterkey.WRAPPED_NAME
    doc = json.loads(path.read_text())
    ciphertext = bytearray(base64.b64decode(doc["ciphertext"]))
    ciphertext[0] ^= 0x01
    doc["ciphertext"] = base64.b64encode(bytes(ciphertext)).decode()
    path.write_text(json.dumps(doc))

    with pytest.raises(WrongMasterKey, match=f"in {key_dir}"):
        masterkey.load(key_dir, passphrase=PASSPHRASE)


def test_default_kdf_parameters_are_recorded_and_round_trip(key_dir):
    key = masterkey.create(key_dir, passphrase=PASSPHRASE)

    kdf = json.loads((key_dir / masterkey.WRAPPED_NAME).read_text())["kdf"]
    assert (kdf["time_cost"], kdf["memory_cost_kib"], kdf["parallelism"]) == (3, 65_536, 4)
    assert KdfParameters() == KdfParameters(time_cost=3, memory_cost_kib=65_536, parallelism=4)
    assert len(base64.b64decode(kdf["salt"])) == 16
    assert masterkey.load(key_dir, passphrase=PASSPHRASE) == key
