"""The master key file: 32 random bytes (0600), or the same wrapped under a passphrase (argon2id + AES-256-GCM)."""

from __future__ import annotations

import base64
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from appliance.accounts import strength
from appliance.errors import (
    ApplianceExists,
    DatabaseUnreadable,
    InsecureKeyFile,
    NotInitialised,
    PassphraseRequired,
    WrongMasterKey,
)
from appliance.keys.keystore import FILE_NAME as KEYSTORE_FILE_NAME
from appliance.storage.database import Database
from appliance.storage.durable import sync_directory

PLAIN_NAME = "master.key"
WRAPPED_NAME = "master.key.wrapped"
KEY_BYTES = 32
_AAD = b"chatspark-master-key-v1"


@dataclass(frozen=True)
class KdfParameters:
    """argon2id cost; the defaults follow RFC 9106's second recommended option (64 MiB, 3 passes)."""

    time_cost: int = 3
    memory_cost_kib: int = 65_536
    parallelism: int = 4


DEFAULT_KDF = KdfParameters()


def exists(key_dir: Path) -> bool:
    return (key_dir / PLAIN_NAME).exists() or (key_dir / WRAPPED_NAME).exists()


def is_wrapped(key_dir: Path) -> bool:
    return (key_dir / WRAPPED_NAME).exists()


def create(key_dir: Path, *, passphrase: str | None = None, kdf: KdfParameters = DEFAULT_KDF) -> bytes:
    """Make a new master key in `key_dir` (which must exist, 0700) and return it."""
    if exists(key_dir):
        raise ApplianceExists(f"{key_dir} already holds a master key; refusing to overwrite it")
    key = os.urandom(KEY_BYTES)
    if passphrase is None:
        _write_new(key_dir / PLAIN_NAME, key)
    else:
        _check_passphrase(passphrase)
        _write_new(key_dir / WRAPPED_NAME, json.dumps(_wrap(key, passphrase, kdf), indent=2).encode())
    return key


def load(key_dir: Path, *, passphrase: str | None = None) -> bytes:
    """Read the master key, unwrapping it with `passphrase` when it is wrapped."""
    if not key_dir.is_dir():
        raise NotInitialised(f"key directory {key_dir} does not exist; run `chatspark init` or give --key-dir")
    plain, wrapped = key_dir / PLAIN_NAME, key_dir / WRAPPED_NAME
    if plain.exists():
        _refuse_if_shared(plain)
        key = plain.read_bytes()
        if len(key) != KEY_BYTES:
            raise WrongMasterKey(f"{plain} is not a master key ({len(key)} bytes, expected {KEY_BYTES})")
        return key
    if wrapped.exists():
        _refuse_if_shared(wrapped)
        if passphrase is None:
            raise PassphraseRequired(
                f"the master key in {key_dir} is protected by a passphrase; give --passphrase-file "
                "(or CHATSPARK_PASSPHRASE_FILE), or run on a terminal to be asked"
            )
        return _unwrap(wrapped, passphrase)
    raise NotInitialised(f"no master key in {key_dir}; run `chatspark init` or point --key-dir at the right one")


def change_protection(key_dir: Path, *, passphrase: str | None, new_passphrase: str | None,
                      kdf: KdfParameters = DEFAULT_KDF) -> None:
    """Keep the same master key, wrapped under `new_passphrase`, or in clear when it is None; no data is re-encrypted.

    `passphrase` unwraps the present file (a key in clear needs none). The key must open the keystore before anything
    is written; the new file then replaces the old by one rename, and the other form is removed only after, so the
    directory holds a working key file at every moment. The master key itself is unchanged, so a copy of the old file
    still opens the keystore under the old passphrase: destroy such copies.
    """
    if new_passphrase is not None:
        _check_passphrase(new_passphrase)
    key = load(key_dir, passphrase=passphrase)
    try:
        Database.check_file(key_dir / KEYSTORE_FILE_NAME, key)
    except DatabaseUnreadable:
        raise WrongMasterKey(f"the master key in {key_dir} does not open the keystore beside it; nothing was "
                             "changed (restore the key directory from the recovery kit)") from None
    if new_passphrase is None:
        _replace(key_dir / PLAIN_NAME, key)
        (key_dir / WRAPPED_NAME).unlink(missing_ok=True)
    else:
        _replace(key_dir / WRAPPED_NAME, json.dumps(_wrap(key, new_passphrase, kdf), indent=2).encode())
        (key_dir / PLAIN_NAME).unlink(missing_ok=True)
    sync_directory(key_dir)


def _wrap(key: bytes, passphrase: str, kdf: KdfParameters) -> dict:
    salt = os.urandom(16)
    nonce = os.urandom(12)
    kek = _derive(passphrase, salt, kdf)
    return {
        "format": "chatspark-wrapped-master-key",
        "version": 1,
        "kdf": {
            "name": "argon2id",
            "time_cost": kdf.time_cost,
            "memory_cost_kib": kdf.memory_cost_kib,
            "parallelism": kdf.parallelism,
            "salt": _b64(salt),
        },
        "cipher": "AES-256-GCM",
        "nonce": _b64(nonce),
        "ciphertext": _b64(AESGCM(kek).encrypt(nonce, key, _AAD)),
    }


def _unwrap(path: Path, passphrase: str) -> bytes:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        params = doc["kdf"]
        kdf = KdfParameters(params["time_cost"], params["memory_cost_kib"], params["parallelism"])
        salt, nonce, ciphertext = (base64.b64decode(v, validate=True)
                                   for v in (params["salt"], doc["nonce"], doc["ciphertext"]))
        _check_wrapped_fields(kdf, salt, nonce, ciphertext)
    except (ValueError, KeyError, TypeError) as exc:
        raise WrongMasterKey(f"{path} is not a wrapped master key ({exc}); restore it from the recovery kit") from None
    try:
        key = AESGCM(_derive(passphrase, salt, kdf)).decrypt(nonce, ciphertext, _AAD)
    except InvalidTag:
        raise WrongMasterKey(f"the passphrase does not unwrap the master key in {path.parent}") from None
    if len(key) != KEY_BYTES:
        raise WrongMasterKey(f"{path} unwrapped to a key of the wrong size")
    return key


def _check_wrapped_fields(kdf: KdfParameters, salt: bytes, nonce: bytes, ciphertext: bytes) -> None:
    # Bounds as well as types: a tampered file must not make argon2 allocate gigabytes or loop for hours.
    for name, value, low, high in (("time_cost", kdf.time_cost, 1, 64),
                                   ("memory_cost_kib", kdf.memory_cost_kib, 8, 4 * 1024 * 1024),
                                   ("parallelism", kdf.parallelism, 1, 64)):
        if type(value) is not int or not low <= value <= high:
            raise ValueError(f"kdf {name} {value!r} is outside {low}..{high}")
    if len(salt) < 8:
        raise ValueError("salt is shorter than 8 bytes")
    if len(nonce) != 12:
        raise ValueError("nonce is not 12 bytes")
    if len(ciphertext) != KEY_BYTES + 16:
        raise ValueError("ciphertext is not one wrapped 256-bit key")


def _derive(passphrase: str, salt: bytes, kdf: KdfParameters) -> bytes:
    return hash_secret_raw(
        passphrase.encode("utf-8"), salt, time_cost=kdf.time_cost, memory_cost=kdf.memory_cost_kib,
        parallelism=kdf.parallelism, hash_len=KEY_BYTES, type=Type.ID,
    )


def _check_passphrase(passphrase: str) -> None:
    strength.check_passphrase(passphrase)


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(path: Path, data: bytes) -> None:
    """Write `data` beside `path` and rename it over `path`: readers see the old file or the new, never a part."""
    new = path.with_name(f".{path.name}.new")
    new.unlink(missing_ok=True)  # left by a crash before its rename
    _write_new(new, data)
    os.replace(new, path)
    sync_directory(path.parent)


def _refuse_if_shared(path: Path) -> None:
    if os.name == "posix" and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InsecureKeyFile(f"{path} is readable by other users; run `chmod 600 {path}` and start again")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
