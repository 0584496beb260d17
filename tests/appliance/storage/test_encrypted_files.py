"""Encrypted files: round trips under a key and a passphrase, and a clear refusal of every kind of damage."""

from __future__ import annotations

import io
import os

import pytest

from appliance.storage.encrypted_files import (
    EncryptedFileError,
    ScryptParameters,
    decrypt_bytes,
    decrypt_stream,
    encrypt_bytes,
    encrypt_stream,
    read_header,
)

FAST = ScryptParameters(n=1 << 10)
KEY = bytes(range(32))


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 1001, 5000])
def test_round_trip_under_a_key_across_chunk_boundaries(size):
    data = os.urandom(size)
    sealed = io.BytesIO()
    assert encrypt_stream(io.BytesIO(data), sealed, purpose="backup", key=KEY, key_id="backup:1",
                          chunk_size=1000) == size
    header = read_header(io.BytesIO(sealed.getvalue()))
    assert header.key_id == "backup:1" and header.kdf == "raw"
    assert decrypt_bytes(sealed.getvalue(), purpose="backup", key=lambda h: {"backup:1": KEY}[h.key_id]) == data


def test_round_trip_under_a_passphrase():
    sealed = encrypt_bytes(b"secret export", purpose="export", passphrase="correct horse", scrypt=FAST)
    assert b"secret export" not in sealed
    assert decrypt_bytes(sealed, purpose="export", passphrase="correct horse") == b"secret export"


def test_wrong_passphrase_wrong_key_and_wrong_purpose_are_named():
    sealed = encrypt_bytes(b"x" * 100, purpose="export", passphrase="correct horse", scrypt=FAST)
    with pytest.raises(EncryptedFileError, match="wrong passphrase"):
        decrypt_bytes(sealed, purpose="export", passphrase="Correct horse")
    with pytest.raises(EncryptedFileError, match="not a export|is a export"):
        decrypt_bytes(sealed, purpose="backup", key=KEY)
    keyed = encrypt_bytes(b"x", purpose="backup", key=KEY, key_id="backup:1")
    with pytest.raises(EncryptedFileError, match="wrong key .*backup:1"):
        decrypt_bytes(keyed, purpose="backup", key=bytes(32))
    with pytest.raises(EncryptedFileError, match="give the passphrase"):
        decrypt_bytes(sealed, purpose="export", key=KEY)


def test_truncation_at_every_point_is_refused():
    sealed = encrypt_bytes(os.urandom(3000), purpose="backup", key=KEY, chunk_size=1000)
    for cut in range(0, len(sealed), 97):
        with pytest.raises(EncryptedFileError):
            decrypt_bytes(sealed[:cut], purpose="backup", key=KEY)
    # Cut exactly at a chunk boundary: the content so far is genuine, but the last chunk is missing.
    header_end = len(sealed) - 3 * (4 + 1000 + 16)
    with pytest.raises(EncryptedFileError, match="cut short"):
        decrypt_bytes(sealed[:header_end + 2 * (4 + 1016)], purpose="backup", key=KEY)


def test_a_flipped_byte_anywhere_is_refused():
    sealed = bytearray(encrypt_bytes(os.urandom(2500), purpose="backup", key=KEY, chunk_size=1000))
    for position in range(0, len(sealed), 53):
        damaged = bytearray(sealed)
        damaged[position] ^= 0x01
        with pytest.raises(EncryptedFileError):
            decrypt_bytes(bytes(damaged), purpose="backup", key=KEY)


def test_reordered_chunks_and_trailing_data_are_refused():
    sealed = encrypt_bytes(b"a" * 1000 + b"b" * 1000 + b"c" * 10, purpose="backup", key=KEY, chunk_size=1000)
    chunk = 4 + 1016
    body_start = len(sealed) - 2 * chunk - (4 + 26)
    swapped = (sealed[:body_start] + sealed[body_start + chunk:body_start + 2 * chunk]
               + sealed[body_start:body_start + chunk] + sealed[body_start + 2 * chunk:])
    with pytest.raises(EncryptedFileError, match="damaged"):
        decrypt_bytes(swapped, purpose="backup", key=KEY)
    with pytest.raises(EncryptedFileError, match="after its end"):
        decrypt_bytes(sealed + b"extra", purpose="backup", key=KEY)


def test_a_foreign_file_and_absurd_kdf_parameters_are_refused():
    with pytest.raises(EncryptedFileError, match="not a ChatSpark encrypted file"):
        decrypt_bytes(b"PK\x03\x04 a zip file", purpose="backup", key=KEY)
    sealed = encrypt_bytes(b"x", purpose="export", passphrase="pw", scrypt=FAST)
    hostile = sealed.replace(b'"n": 1024', b'"n": 1073741824')
    with pytest.raises(EncryptedFileError, match="header"):
        decrypt_bytes(hostile, purpose="export", passphrase="pw")


def test_a_stream_decrypts_into_the_target_only_what_was_verified():
    sealed = encrypt_bytes(b"a" * 1000 + b"b" * 500, purpose="backup", key=KEY, chunk_size=1000)
    target = io.BytesIO()
    with pytest.raises(EncryptedFileError):
        decrypt_stream(io.BytesIO(sealed[:-5]), target, purpose="backup", key=KEY)
    assert target.getvalue() in (b"", b"a" * 1000)
