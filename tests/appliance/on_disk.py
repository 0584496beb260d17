"""What is actually on disk: file snapshots, raw bytes, and SQLCipher pages decrypted with their key.

Tests use these to look past the storage layer: an encrypted file never shows plaintext in its raw bytes, so the
only way to see whether deleted content was overwritten is to decrypt every page ourselves.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# SQLCipher 4 defaults: 4 KiB pages ending in a 16-byte IV and a 64-byte HMAC-SHA512 (80 bytes reserved);
# the first 16 bytes of page 1 are the plaintext salt. A raw 32-byte key is the AES-256 key itself.
PAGE_SIZE = 4096
RESERVED = 80
SALT_BYTES = 16
_WAL_HEADER = 32
_FRAME_HEADER = 24


def snapshot(*directories: Path) -> dict[str, bytes | None]:
    """Every file and directory under `directories`, by path, with its bytes (None for a directory)."""
    found: dict[str, bytes | None] = {}
    for directory in directories:
        if not directory.exists():
            continue
        for path in sorted(directory.rglob("*")):
            found[str(path)] = None if path.is_dir() else path.read_bytes()
    return found


def files_containing(needle: bytes, *directories: Path) -> list[str]:
    """The files under `directories` whose raw bytes contain `needle`."""
    return [path for path, data in snapshot(*directories).items() if data is not None and needle in data]


def _decrypt_page(page: bytes, key: bytes, *, first: bool) -> bytes:
    start = SALT_BYTES if first else 0
    iv = page[PAGE_SIZE - RESERVED:PAGE_SIZE - RESERVED + 16]
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return decryptor.update(page[start:PAGE_SIZE - RESERVED]) + decryptor.finalize()


def decrypted_pages(db_file: Path, key: bytes) -> list[bytes]:
    """The plaintext of every page of a SQLCipher database file (the main file only)."""
    data = db_file.read_bytes()
    return [
        _decrypt_page(data[offset:offset + PAGE_SIZE], key, first=offset == 0)
        for offset in range(0, len(data) - PAGE_SIZE + 1, PAGE_SIZE)
    ]


def decrypted_wal_pages(db_file: Path, key: bytes) -> list[bytes]:
    """The plaintext of every page image in the database's write-ahead log (empty when there is none)."""
    wal = db_file.with_name(db_file.name + "-wal")
    data = wal.read_bytes() if wal.exists() else b""
    pages = []
    for offset in range(_WAL_HEADER, len(data) - _FRAME_HEADER - PAGE_SIZE + 1, _FRAME_HEADER + PAGE_SIZE):
        page_number = int.from_bytes(data[offset:offset + 4], "big")
        page = data[offset + _FRAME_HEADER:offset + _FRAME_HEADER + PAGE_SIZE]
        pages.append(_decrypt_page(page, key, first=page_number == 1))
    return pages


def plaintext_contains(db_file: Path, key: bytes, needle: bytes) -> bool:
    """Whether `needle` survives anywhere in the decrypted pages of the file or its write-ahead log."""
    return any(needle in page for page in decrypted_pages(db_file, key) + decrypted_wal_pages(db_file, key))
