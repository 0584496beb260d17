"""What SQLCipher's cipher costs by itself: its page encryption and authentication, timed outside any database."""

from __future__ import annotations

import hashlib
import hmac
import os
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PAGE = 4096
RESERVE = 80  # each page's 16-byte IV and 64-byte HMAC-SHA512 (cipher_compatibility 4)


def cipher_seconds(pages: int, rounds: int) -> float:
    """Best of `rounds` at what SQLCipher does to write `pages` pages: AES-256-CBC over each page's 4016 bytes, then
    HMAC-SHA512 over the ciphertext, its IV and the page number. Timed over one buffer of them all, so the per-page
    set-up SQLCipher also pays (a fresh IV, the contexts) is left out: this is at least the cipher's own share."""
    data = os.urandom(pages * (PAGE - RESERVE))
    authenticated = data + os.urandom(pages * 20)
    key, mac_key = os.urandom(32), os.urandom(64)
    encrypted = bytearray(len(data) + 16)  # written into, as SQLCipher writes into its page buffer
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        encryptor = Cipher(algorithms.AES(key), modes.CBC(os.urandom(16))).encryptor()
        encryptor.update_into(data, encrypted)
        encryptor.finalize()
        hmac.new(mac_key, authenticated, hashlib.sha512).digest()
        best = min(best, time.perf_counter() - started)
    return best
