"""Writing export archives: a deflated zip with a manifest of sizes and hashes, streamed straight into a file
encrypted to a passphrase, so no plaintext touches the disk and one entry at a time is in memory."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, TypeVar

from appliance.accounts import strength
from appliance.errors import Conflict, ValidationError
from appliance.storage.encrypted_files import DEFAULT_SCRYPT, ScryptParameters, encrypt_stream

PURPOSE = "export"
MANIFEST = "manifest.json"
KINDS = ("chatspark-workspace-export", "chatspark-subject-export")
VERSION = 1
MIN_PASSPHRASE_CHARS = strength.MIN_LENGTH
MAX_PASSPHRASE_CHARS = 1024
MAX_PATH_CHARS = 400
_UNSAFE_NAME_CHARS = re.compile(r"[^\w .()+-]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
T = TypeVar("T")
# An archive entry: its path, and its content whole or as chunks (written one at a time, never held together).
Entry = tuple[str, bytes | Iterable[bytes]]


class ExportArchiveError(ValidationError):
    """An export that cannot be opened: wrong passphrase, cut short, altered, or an archive that is not safe."""

    code = "export_invalid"


@dataclass(frozen=True)
class ManifestFile:
    path: str
    size: int
    sha256: str

    def public(self) -> dict:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class WrittenArchive:
    files: list[ManifestFile]       # every file but the manifest itself
    content_bytes: int              # the files' total size, unpacked
    archive_bytes: int              # the encrypted file's size


def check_passphrase(passphrase: object, *, context: Iterable[str | None] = ()) -> str:
    """The passphrase an export is encrypted to, if it resists guessing (the one secret policy, strength.py);
    `context` names what an attacker would try first, such as the workspace's name and the exporter's address."""
    if not isinstance(passphrase, str) or not passphrase:
        raise ValidationError("'passphrase' is required: the export is encrypted to it")
    return strength.check_passphrase(passphrase, context=context, max_length=MAX_PASSPHRASE_CHARS)


def safe_filename(name: str | None, *, default: str = "original") -> str:
    """A file name as uploaded, made into one path component that unpacks the same on every system."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = _UNSAFE_NAME_CHARS.sub("_", base).strip(" .")[:120].strip(" .")
    return base or default


def check_path(path: object) -> str:
    """A member path that stays inside the directory it is unpacked into, on any system; raises otherwise."""
    if not isinstance(path, str) or not path or len(path) > MAX_PATH_CHARS:
        raise ExportArchiveError(f"the archive holds an entry with no usable name ({str(path)[:80]!r}); refusing it")
    if path.startswith("/") or "\\" in path or ":" in path or _CONTROL.search(path):
        raise ExportArchiveError(f"the archive holds an entry with an absolute or foreign path ({path[:80]!r}); "
                                 "refusing it")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise ExportArchiveError(f"the archive holds an entry that would leave its directory ({path[:80]!r}); "
                                 "refusing it")
    return path


class _Buffer:
    """Where the zip writes: bytes waiting to be read by the encryption. No tell(), so zipfile streams."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._start = 0

    def write(self, data: bytes) -> int:
        self._data += data
        return len(data)

    def flush(self) -> None:
        pass

    def __len__(self) -> int:
        return len(self._data) - self._start

    def take(self, size: int) -> bytes:
        chunk = bytes(self._data[self._start:self._start + size])
        self._start += len(chunk)
        if self._start > len(self._data) // 2:
            del self._data[:self._start]
            self._start = 0
        return chunk


@dataclass
class _OpenEntry:
    """An entry given as chunks, written into the zip one chunk per read."""

    path: str
    writer: BinaryIO
    chunks: Iterator[bytes]
    size: int = 0
    sha256: "hashlib._Hash" = field(default_factory=hashlib.sha256)


class _ArchiveStream:
    """What the encryption reads: the zip, made entry by entry only as more of it is asked for."""

    def __init__(self, entries: Iterable[Entry], manifest: Callable[[list[ManifestFile]], dict],
                 moment: dt.datetime) -> None:
        self._buffer = _Buffer()
        self._zip = zipfile.ZipFile(self._buffer, "w", compression=zipfile.ZIP_DEFLATED)
        self._entries = iter(entries)
        self._manifest = manifest
        self._date_time = moment.astimezone(dt.timezone.utc).timetuple()[:6]
        self._seen: set[str] = set()
        self._open: _OpenEntry | None = None
        self.files: list[ManifestFile] = []
        self.done = False

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self._buffer) < size) and not self.done:
            self._advance()
        return self._buffer.take(len(self._buffer) if size < 0 else size)

    def _advance(self) -> None:
        if self._open is not None:
            self._continue()
            return
        try:
            path, data = next(self._entries)
        except StopIteration:
            document = {**self._manifest(self.files), "files": [f.public() for f in self.files]}
            self._add(MANIFEST, json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8"))
            self._zip.close()
            self.done = True
            return
        if path == MANIFEST:
            raise ValueError("the manifest is written by the archive itself")
        if isinstance(data, (bytes, bytearray)):
            self.files.append(self._add(path, bytes(data)))
        else:
            self._open = _OpenEntry(path, self._zip.open(self._info(path), "w", force_zip64=True), iter(data))

    def _continue(self) -> None:
        """One more chunk of the entry being written, or its end."""
        entry = self._open
        try:
            chunk = next(entry.chunks)
        except StopIteration:
            entry.writer.close()
            self._open = None
            self.files.append(ManifestFile(entry.path, entry.size, entry.sha256.hexdigest()))
            return
        entry.writer.write(chunk)
        entry.sha256.update(chunk)
        entry.size += len(chunk)

    def _info(self, path: str) -> zipfile.ZipInfo:
        check_path(path)
        if path.casefold() in self._seen:
            raise ValueError(f"two entries named {path}")
        self._seen.add(path.casefold())
        info = zipfile.ZipInfo(path, date_time=self._date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (stat.S_IFREG | 0o600) << 16
        return info

    def _add(self, path: str, data: bytes) -> ManifestFile:
        self._zip.writestr(self._info(path), data)
        return ManifestFile(path, len(data), hashlib.sha256(data).hexdigest())

    def close(self) -> None:
        for source in (self._open.chunks if self._open else None, self._entries):
            close = getattr(source, "close", None)
            if close is not None:  # a generator holding a read transaction lets it go now, not when collected
                close()


class _Counting:
    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self.written = 0

    def write(self, data: bytes) -> int:
        self._target.write(data)
        self.written += len(data)
        return len(data)


def write_archive(target: BinaryIO, entries: Iterable[Entry], *,
                  manifest: Callable[[list[ManifestFile]], dict], passphrase: str, moment: dt.datetime,
                  scrypt: ScryptParameters = DEFAULT_SCRYPT) -> WrittenArchive:
    """Zip (path, bytes or chunks of bytes) entries and a manifest of their sizes and hashes, encrypted to
    `passphrase` into `target`.

    `manifest` gets the files written and returns the manifest's other fields. On an exception `target` holds a
    partial file: write to a temporary place and keep it only when this returns (see `write_new_file`).
    """
    check_passphrase(passphrase)
    stream = _ArchiveStream(entries, manifest, moment)
    counting = _Counting(target)
    try:
        encrypt_stream(stream, counting, purpose=PURPOSE, passphrase=passphrase, scrypt=scrypt)
    finally:
        stream.close()
    if not stream.done:  # encrypt_stream stops only at the end of what it reads; anything else is a bug
        raise RuntimeError("the export archive was not finished")
    return WrittenArchive(stream.files, sum(f.size for f in stream.files), counting.written)


def write_new_file(path: Path, write: Callable[[BinaryIO], T]) -> T:
    """Run `write` on a private temporary file beside `path`, then move it into place; nothing is left on failure."""
    path = Path(path)
    if path.exists():
        raise Conflict(f"{path} already exists; choose another name or remove it first")
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    except OSError as exc:
        raise ValidationError(f"cannot write in {path.parent}: {exc.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as out:
            result = write(out)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            raise Conflict(f"{path} appeared while the export was written; it was left alone")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return result
