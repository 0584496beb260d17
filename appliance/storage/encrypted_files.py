"""Encrypted files (backups, exports, recovery kits): AES-256-GCM in authenticated chunks, under a raw key or a key
derived from a passphrase with scrypt. Truncation, reordering, a flipped byte and a wrong key are each told apart.

Layout: MAGIC, a 4-byte header length, the JSON header, then chunks of (4-byte length, ciphertext with its tag).
Every chunk's nonce is the header's random prefix and the chunk's number; its associated data binds the header, the
chunk's number and whether it is the last, so chunks cannot be dropped, moved or cut off unnoticed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO, Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from appliance.errors import ValidationError

MAGIC = b"CHATSPARK-ENC\x01"
CHUNK_SIZE = 1 << 20
MAX_HEADER_BYTES = 4096
MAX_SCRYPT_N = 1 << 20  # a file cannot make the reader spend more than ~1 GiB deriving its key
_LENGTH = struct.Struct(">I")


class EncryptedFileError(ValidationError):
    """The encrypted file cannot be opened: not one of ours, wrong key or passphrase, cut short or altered."""

    code = "encrypted_file_invalid"


@dataclass(frozen=True)
class ScryptParameters:
    n: int = 1 << 17   # 128 MiB with r=8: about a third of a second here
    r: int = 8
    p: int = 1


DEFAULT_SCRYPT = ScryptParameters()


@dataclass(frozen=True)
class Header:
    purpose: str                 # backup, export, recovery-kit...
    kdf: str                     # "scrypt" or "raw"
    key_id: str | None           # which raw key (e.g. the backup key's name), None for a passphrase
    salt: bytes
    nonce_prefix: bytes
    check: bytes                 # HMAC of the key: tells a wrong key from a damaged file
    scrypt: ScryptParameters | None
    raw: bytes                   # the header bytes as written, bound into every chunk


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _key_check(key: bytes) -> bytes:
    return hmac.new(key, b"chatspark encrypted-file key check", hashlib.sha256).digest()[:16]


def derive_key(passphrase: str, salt: bytes, parameters: ScryptParameters) -> bytes:
    if not passphrase:
        raise EncryptedFileError("the passphrase is empty")
    return Scrypt(salt=salt, length=32, n=parameters.n, r=parameters.r, p=parameters.p).derive(
        passphrase.encode("utf-8"))


def encrypt_stream(source: BinaryIO, target: BinaryIO, *, purpose: str, key: bytes | None = None,
                   key_id: str | None = None, passphrase: str | None = None,
                   scrypt: ScryptParameters = DEFAULT_SCRYPT, chunk_size: int = CHUNK_SIZE) -> int:
    """Encrypt everything `source` yields into `target`; returns the plaintext length. Give a key or a passphrase."""
    if (key is None) == (passphrase is None):
        raise ValueError("give exactly one of key and passphrase")
    salt = os.urandom(16)
    if passphrase is not None:
        key = derive_key(passphrase, salt, scrypt)
        fields = {"kdf": "scrypt", "n": scrypt.n, "r": scrypt.r, "p": scrypt.p}
    else:
        if len(key) != 32:
            raise ValueError("an AES-256 key is 32 bytes")
        fields = {"kdf": "raw", "key_id": key_id}
    header = json.dumps({"v": 1, "purpose": purpose, **fields, "salt": _b64(salt),
                         "nonce_prefix": _b64(os.urandom(4)), "check": _b64(_key_check(key))},
                        sort_keys=True).encode()
    target.write(MAGIC + _LENGTH.pack(len(header)) + header)
    cipher, prefix = AESGCM(key), base64.b64decode(json.loads(header)["nonce_prefix"])
    total, number = 0, 0
    pending = source.read(chunk_size)
    while True:
        following = source.read(chunk_size) if pending else b""
        last = not following
        sealed = cipher.encrypt(prefix + struct.pack(">Q", number), pending, _aad(header, number, last))
        target.write(_LENGTH.pack(len(sealed)) + sealed)
        total += len(pending)
        if last:
            return total
        pending, number = following, number + 1


def read_header(source: BinaryIO) -> Header:
    """The header of an encrypted file, checked for shape; raises EncryptedFileError for anything else."""
    start = source.read(len(MAGIC) + _LENGTH.size)
    if len(start) < len(MAGIC) + _LENGTH.size or not start.startswith(MAGIC):
        raise EncryptedFileError("this is not a ChatSpark encrypted file (or it is cut off at the start)")
    (length,) = _LENGTH.unpack(start[len(MAGIC):])
    raw = source.read(length) if length <= MAX_HEADER_BYTES else b""
    try:
        fields = json.loads(raw)
        scrypt = None
        if fields["kdf"] == "scrypt":
            scrypt = ScryptParameters(int(fields["n"]), int(fields["r"]), int(fields["p"]))
            if not (2 <= scrypt.n <= MAX_SCRYPT_N and 1 <= scrypt.r <= 32 and 1 <= scrypt.p <= 16):
                raise ValueError("scrypt parameters out of range")
        elif fields["kdf"] != "raw":
            raise ValueError("unknown key derivation")
        header = Header(str(fields["purpose"]), fields["kdf"], fields.get("key_id"),
                        base64.b64decode(fields["salt"]), base64.b64decode(fields["nonce_prefix"]),
                        base64.b64decode(fields["check"]), scrypt, raw)
    except (ValueError, KeyError, TypeError):
        raise EncryptedFileError("the encrypted file's header is damaged") from None
    if fields.get("v") != 1 or len(header.nonce_prefix) != 4:
        raise EncryptedFileError("the encrypted file's header is damaged or from a newer release")
    return header


def decrypt_stream(source: BinaryIO, target: BinaryIO, *, purpose: str,
                   key: bytes | Callable[[Header], bytes] | None = None, passphrase: str | None = None) -> Header:
    """Decrypt into `target`, checking every chunk; `key` may be a function of the header (to pick a key by id).

    Raises EncryptedFileError naming what is wrong. On error `target` may hold a prefix of verified plaintext, so
    write to a temporary place and keep it only when this returns.
    """
    header = read_header(source)
    if header.purpose != purpose:
        raise EncryptedFileError(f"this file is a {header.purpose}, not a {purpose}")
    if header.kdf == "scrypt":
        if passphrase is None:
            raise EncryptedFileError("this file is encrypted to a passphrase; give the passphrase")
        material = derive_key(passphrase, header.salt, header.scrypt)
        wrong = "wrong passphrase"
    else:
        material = key(header) if callable(key) else key
        if material is None:
            raise EncryptedFileError(f"no key to open this file (it needs {header.key_id or 'a raw key'})")
        wrong = f"wrong key (this file needs {header.key_id})" if header.key_id else "wrong key"
    if not hmac.compare_digest(_key_check(material), header.check):
        raise EncryptedFileError(wrong)
    cipher, number, offset = AESGCM(material), 0, 0
    while True:
        start = source.read(_LENGTH.size)
        if len(start) < _LENGTH.size:
            raise EncryptedFileError(f"the file is cut short after {offset} bytes of content")
        (length,) = _LENGTH.unpack(start)
        sealed = source.read(length) if length <= CHUNK_SIZE * 4 + 16 else b""
        if len(sealed) != length or length < 16:
            raise EncryptedFileError(f"the file is cut short or damaged after {offset} bytes of content")
        nonce = header.nonce_prefix + struct.pack(">Q", number)
        last = True
        try:
            plain = cipher.decrypt(nonce, sealed, _aad(header.raw, number, last=True))
        except InvalidTag:
            last = False
            try:
                plain = cipher.decrypt(nonce, sealed, _aad(header.raw, number, last=False))
            except InvalidTag:
                raise EncryptedFileError(f"the file is damaged (altered after {offset} bytes of content)") from None
        target.write(plain)
        offset += len(plain)
        if last:
            if source.read(1):
                raise EncryptedFileError("the file has data after its end; it was altered")
            return header
        number += 1


def encrypt_bytes(data: bytes, **options) -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, **options)
    return out.getvalue()


def decrypt_bytes(data: bytes, **options) -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(data), out, **options)
    return out.getvalue()


def _aad(header: bytes, number: int, last: bool) -> bytes:
    return hashlib.sha256(header).digest() + struct.pack(">Q?", number, last)
