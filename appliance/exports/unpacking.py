"""Opening an export: decrypt it, then unpack it only if every entry is safe (no paths out of the directory, no links,
no zip bomb) and every file matches the manifest; the target directory appears whole or not at all."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from appliance.errors import Conflict, ValidationError
from appliance.exports.archive import (
    KINDS,
    MANIFEST,
    PURPOSE,
    VERSION,
    ExportArchiveError,
    ManifestFile,
    check_path,
)
from appliance.storage.encrypted_files import EncryptedFileError, decrypt_stream

READ_SIZE = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class UnpackLimits:
    """What an export may unpack to: enough for any real workspace, too little for a zip bomb."""

    max_entries: int = 200_000
    max_total_bytes: int = 64 << 30
    max_ratio: int = 200                  # unpacked bytes per byte of the archive...
    ratio_free_bytes: int = 64 << 20      # ...above this much, which any archive may unpack to
    max_manifest_bytes: int = 64 << 20

    def allowance(self, archive_bytes: int) -> int:
        return min(self.max_total_bytes, max(self.ratio_free_bytes, self.max_ratio * archive_bytes))


DEFAULT_LIMITS = UnpackLimits()


@dataclass(frozen=True)
class OpenedExport:
    directory: Path
    manifest: dict
    files: int
    content_bytes: int

    @property
    def kind(self) -> str:
        return self.manifest["kind"]


def decrypt_export(path: Path, passphrase: str, out_dir: Path, *,
                   limits: UnpackLimits = DEFAULT_LIMITS) -> OpenedExport:
    """Decrypt an export and unpack it into `out_dir` (new, or empty), every file checked against the manifest.

    Everything happens in a temporary sibling of `out_dir` that is renamed into place at the end, so a wrong
    passphrase, a damaged or altered file, or an unsafe archive leaves `out_dir` as it was.
    """
    path, out_dir = Path(path), Path(out_dir).absolute()
    if not passphrase:
        raise ValidationError("give the passphrase the export was encrypted to")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise Conflict(f"{out_dir} already exists and is not an empty directory; choose a new directory")
    if not out_dir.parent.is_dir():
        raise ValidationError(f"the directory {out_dir.parent} does not exist")
    try:
        source = path.open("rb")
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}") from None
    with source:
        try:
            scratch = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
        except OSError as exc:
            raise ValidationError(f"cannot write in {out_dir.parent}: {exc.strerror}") from None
        try:
            manifest, files, size = _decrypt_and_unpack(source, path.name, passphrase, scratch, limits)
            if out_dir.exists():
                out_dir.rmdir()  # empty, as checked above; rmdir refuses if that changed meanwhile
            (scratch / "content").rename(out_dir)
        except OSError as exc:  # a full disk, say: nothing is kept
            raise ValidationError(f"cannot unpack into {out_dir}: {exc.strerror}; nothing was kept") from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return OpenedExport(out_dir, manifest, files, size)


def _decrypt_and_unpack(source, name: str, passphrase: str, scratch: Path,
                        limits: UnpackLimits) -> tuple[dict, int, int]:
    """Decrypt into scratch/archive.zip, unpack it into scratch/content, then drop the plain zip."""
    plain = scratch / "archive.zip"
    with plain.open("xb") as target:
        try:
            decrypt_stream(source, target, purpose=PURPOSE, passphrase=passphrase)
        except EncryptedFileError as exc:
            raise ExportArchiveError(f"{name} cannot be opened: {exc}; nothing was unpacked") from None
    (scratch / "content").mkdir()
    unpacked = _unpack(plain, scratch / "content", limits)
    plain.unlink()
    return unpacked


def _unpack(archive_path: Path, target: Path, limits: UnpackLimits) -> tuple[dict, int, int]:
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise ExportArchiveError("the export decrypted, but the archive inside is damaged") from None
    with archive:
        members = _checked_members(archive, archive_path.stat().st_size, limits)
        manifest = _read_manifest(archive, members, limits)
        listed = {f.path: f for f in _manifest_files(manifest)}
        present = {name for name in members if name != MANIFEST}
        missing, unlisted = sorted(listed.keys() - present), sorted(present - listed.keys())
        if missing:
            raise ExportArchiveError(f"the archive lacks {len(missing)} file(s) its manifest lists (first: "
                                     f"{missing[0]}); it was altered or cut")
        if unlisted:
            raise ExportArchiveError(f"the archive holds {len(unlisted)} file(s) its manifest does not list (first: "
                                     f"{unlisted[0]}); it was altered")
        for name in present:
            if members[name].file_size != listed[name].size:
                raise ExportArchiveError(f"{name} is not the size its manifest gives; the archive was altered")
        for name in sorted(present):
            _extract(archive, members[name], listed[name], target)
        _write_file(target / MANIFEST, _read_member(archive, members[MANIFEST], limits.max_manifest_bytes))
    return manifest, len(listed), sum(f.size for f in listed.values())


def _checked_members(archive: zipfile.ZipFile, archive_bytes: int,
                     limits: UnpackLimits) -> dict[str, zipfile.ZipInfo]:
    """Every entry by name, once every one is known safe: path, kind, count and total size."""
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise ExportArchiveError(f"the archive holds {len(infos)} entries, more than the {limits.max_entries} an "
                                 "export may; refusing it")
    members: dict[str, zipfile.ZipInfo] = {}
    folded: set[str] = set()
    for info in infos:
        kind = stat.S_IFMT(info.external_attr >> 16)
        if info.is_dir() or kind not in (0, stat.S_IFREG):
            what = "a symbolic link" if kind == stat.S_IFLNK else "a directory" if info.is_dir() else "a special file"
            raise ExportArchiveError(f"the archive holds {what} ({info.filename[:80]!r}); exports hold only files, "
                                     "refusing it")
        name = check_path(info.filename)
        if info.flag_bits & 0x1:
            raise ExportArchiveError(f"the archive holds a separately encrypted entry ({name[:80]}); refusing it")
        if name.casefold() in folded:
            raise ExportArchiveError(f"the archive holds two entries named {name[:80]}; refusing it")
        folded.add(name.casefold())
        members[name] = info
    total, allowance = sum(info.file_size for info in infos), limits.allowance(archive_bytes)
    if total > allowance:
        raise ExportArchiveError(f"the archive would unpack {archive_bytes} bytes into {total}, more than the "
                                 f"{allowance} allowed (a zip bomb?); refusing it")
    if MANIFEST not in members:
        raise ExportArchiveError(f"the archive has no {MANIFEST}; it is not a ChatSpark export")
    return members


def _read_manifest(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], limits: UnpackLimits) -> dict:
    raw = b"".join(_read_member(archive, members[MANIFEST], limits.max_manifest_bytes))
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise ExportArchiveError(f"the archive's {MANIFEST} is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("kind") not in KINDS:
        raise ExportArchiveError(f"the archive's {MANIFEST} is not a ChatSpark export manifest")
    if manifest.get("version") != VERSION:
        raise ExportArchiveError("this export was made by a newer release; open it with that release")
    return manifest


def _manifest_files(manifest: dict) -> list[ManifestFile]:
    files, seen = [], set()
    entries = manifest.get("files")
    if not isinstance(entries, list):
        raise ExportArchiveError(f"the archive's {MANIFEST} lists no files")
    for entry in entries:
        try:
            item = ManifestFile(check_path(entry["path"]), entry["size"], entry["sha256"])
        except (KeyError, TypeError):
            raise ExportArchiveError(f"the archive's {MANIFEST} has an entry without path, size and hash") from None
        if (not isinstance(item.size, int) or isinstance(item.size, bool) or item.size < 0
                or not isinstance(item.sha256, str) or not _SHA256.fullmatch(item.sha256)):
            raise ExportArchiveError(f"the archive's {MANIFEST} gives no valid size and hash for {item.path}")
        if item.path == MANIFEST or item.path.casefold() in seen:
            raise ExportArchiveError(f"the archive's {MANIFEST} lists {item.path} twice")
        seen.add(item.path.casefold())
        files.append(item)
    return files


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> Iterator[bytes]:
    """A member's bytes in pieces, never more than it declares (or `limit`), with zipfile's CRC check at the end."""
    if info.file_size > limit:
        raise ExportArchiveError(f"{info.filename} is larger than the archive may hold; refusing it")
    read = 0
    try:
        with archive.open(info) as member:
            while piece := member.read(min(READ_SIZE, info.file_size - read + 1)):
                read += len(piece)
                if read > info.file_size:
                    raise ExportArchiveError(f"{info.filename} unpacks to more than it declares; refusing the "
                                             "archive")
                yield piece
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise ExportArchiveError(f"{info.filename} in the archive is damaged ({exc})") from None
    if read != info.file_size:
        raise ExportArchiveError(f"{info.filename} in the archive is cut short")


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, expected: ManifestFile, target: Path) -> None:
    destination = target.joinpath(*expected.path.split("/"))
    if target.resolve() not in destination.resolve().parents:  # check_path already ensures it; this costs nothing
        raise ExportArchiveError(f"{expected.path} would unpack outside the directory; refusing the archive")
    digest = hashlib.sha256()

    def hashed() -> Iterator[bytes]:
        for piece in _read_member(archive, info, expected.size):
            digest.update(piece)
            yield piece

    _write_file(destination, hashed())
    if digest.hexdigest() != expected.sha256:
        raise ExportArchiveError(f"{expected.path} does not match the hash in the manifest; the archive was altered")


def _write_file(destination: Path, pieces: Iterable[bytes]) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # O_EXCL and O_NOFOLLOW: nothing already there (a link planted by an earlier entry) is ever written through.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    with os.fdopen(os.open(destination, flags, 0o600), "wb") as out:
        for piece in pieces:
            out.write(piece)
