"""The backup file: a tar of the manifest and the staged files, encrypted as it is written (appliance/crypto_files).

Packing streams the tar straight into the encryption; unpacking decrypts into a scratch directory, checking each
file against the manifest (which comes first) as it arrives. Nothing unencrypted but the manifest, the identity file
and public certificates ever passes through, and those only inside the encrypted stream.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path
from typing import BinaryIO, Callable

from appliance.backups.manifest import NAME as MANIFEST_NAME
from appliance.backups.manifest import BackupInvalid, Manifest
from appliance.backups.streams import piped
from appliance.storage.encrypted_files import Header, decrypt_stream, encrypt_stream

PURPOSE = "backup"
_BLOCK = 1 << 20


def pack(staging: Path, manifest: Manifest, target: BinaryIO, *, key: bytes, key_id: str) -> None:
    """Write the manifest, then every file it lists from `staging`, as one tar encrypted under `key`."""

    def write_tar(out: BinaryIO) -> None:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            data = manifest.to_json()
            tar.addfile(_member(MANIFEST_NAME, len(data)), io.BytesIO(data))
            for entry in manifest.files:
                with (staging / entry.name).open("rb") as handle:
                    tar.addfile(_member(entry.name, entry.size), handle)

    piped(write_tar, lambda source: encrypt_stream(source, target, purpose=PURPOSE, key=key, key_id=key_id))


def unpack(source: BinaryIO, scratch: Path, *, key: Callable[[Header], bytes | None]) -> Manifest:
    """Decrypt `source` into `scratch`, refusing anything the manifest does not list or whose hash differs.

    Raises EncryptedFileError (wrong key, cut short, altered) or BackupInvalid; on error `scratch` may hold part of
    the files, so it must be a throwaway directory.
    """
    return piped(lambda out: decrypt_stream(source, out, purpose=PURPOSE, key=key),
                 lambda stream: _extract(stream, scratch))


def read_manifest(source: BinaryIO, *, key: Callable[[Header], bytes | None]) -> Manifest:
    """Only the manifest, after decrypting (and so authenticating) the whole file."""
    return piped(lambda out: decrypt_stream(source, out, purpose=PURPOSE, key=key), _first_manifest)


def _first_manifest(stream: BinaryIO) -> Manifest:
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            return _manifest_of(tar, next(iter(tar), None))
    except tarfile.TarError as exc:
        raise BackupInvalid(f"the backup's archive is damaged ({exc})") from None


def _manifest_of(tar: tarfile.TarFile, member: tarfile.TarInfo | None) -> Manifest:
    if member is None or member.name != MANIFEST_NAME or not member.isfile():
        raise BackupInvalid("the backup does not start with its manifest")
    return Manifest.from_json(tar.extractfile(member).read())


def _extract(stream: BinaryIO, scratch: Path) -> Manifest:
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            members = iter(tar)
            manifest = _manifest_of(tar, next(members, None))
            arrived: set[str] = set()
            for member in members:
                entry = manifest.file(member.name)
                if entry is None or member.name in arrived or not member.isfile():
                    raise BackupInvalid(f"the backup holds {member.name!r}, which its manifest does not list")
                size, digest = _write(tar.extractfile(member), scratch / entry.name)
                if size != entry.size or digest != entry.sha256:
                    raise BackupInvalid(f"{entry.name} in the backup does not match its manifest (SHA-256 differs)")
                arrived.add(member.name)
    except tarfile.TarError as exc:
        raise BackupInvalid(f"the backup's archive is damaged ({exc})") from None
    missing = sorted(f.name for f in manifest.files if f.name not in arrived)
    if missing:
        raise BackupInvalid(f"the backup lacks {', '.join(missing)}, which its manifest lists")
    return manifest


def _write(source: BinaryIO, target: Path) -> tuple[int, str]:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        while block := source.read(_BLOCK):
            digest.update(block)
            size += len(block)
            out.write(block)
    return size, digest.hexdigest()


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, 0
    return info
