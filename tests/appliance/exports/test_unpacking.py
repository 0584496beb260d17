"""Opening an export refuses, by name and before touching the target directory, a wrong passphrase, a file cut short
or altered, and archives made to escape the directory, plant links, or unpack into far more than they are."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import stat
import zipfile
from pathlib import Path

import pytest

from appliance.errors import Conflict, ValidationError
from appliance.exports.archive import write_archive
from appliance.exports.unpacking import DEFAULT_LIMITS, ExportArchiveError, UnpackLimits, decrypt_export
from appliance.storage.encrypted_files import encrypt_bytes
from tests.appliance.exports.workspaces import CHEAP_SCRYPT, PASSPHRASE

MOMENT = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.timezone.utc)
CONTENT = [("notes/a.txt", b"alpha " * 100), ("b.json", b'{"b": 1}')]


def manifest_for(entries: list[tuple[str, bytes]], **changes) -> bytes:
    files = [{"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()} for path, data in entries]
    return json.dumps({"kind": "chatspark-workspace-export", "version": 1, "files": files, **changes}).encode()


def sealed_zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]], *, manifest: bytes | None) -> bytes:
    """A zip of exactly these entries (and the manifest given), encrypted as an export is: an attacker who knows the
    passphrase can make any of these."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
        if manifest is not None:
            archive.writestr("manifest.json", manifest)
    return encrypt_bytes(buffer.getvalue(), purpose="export", passphrase=PASSPHRASE, scrypt=CHEAP_SCRYPT)


def genuine() -> bytes:
    target = io.BytesIO()
    write_archive(target, CONTENT, manifest=lambda files: {"kind": "chatspark-workspace-export", "version": 1},
                  passphrase=PASSPHRASE, moment=MOMENT, scrypt=CHEAP_SCRYPT)
    return target.getvalue()


def refused(place: Path, data: bytes, match: str, *, limits: UnpackLimits = DEFAULT_LIMITS,
            passphrase: str = PASSPHRASE, out: Path | None = None) -> None:
    """Opening `data` fails saying `match`, and the directory around it is exactly as it was."""
    (place / "export").write_bytes(data)
    before = sorted(p.relative_to(place) for p in place.rglob("*"))
    with pytest.raises(ExportArchiveError, match=match):
        decrypt_export(place / "export", passphrase, out or place / "opened", limits=limits)
    assert sorted(p.relative_to(place) for p in place.rglob("*")) == before


def test_a_genuine_export_unpacks_into_a_new_directory(place):
    (place / "export").write_bytes(genuine())

    opened = decrypt_export(place / "export", PASSPHRASE, place / "opened")

    assert (place / "opened/notes/a.txt").read_bytes() == b"alpha " * 100
    assert (place / "opened/b.json").read_bytes() == b'{"b": 1}'
    assert opened.files == 2 and opened.content_bytes == 608 and opened.kind == "chatspark-workspace-export"
    assert sorted(p.name for p in place.iterdir()) == ["export", "opened"]  # no temporary sibling left behind
    assert stat.S_IMODE((place / "opened/b.json").stat().st_mode) == 0o600


def test_an_existing_empty_directory_is_used_and_a_non_empty_one_refused(place):
    (place / "export").write_bytes(genuine())
    (place / "empty").mkdir()
    (place / "full").mkdir()
    (place / "full/keep.txt").write_text("mine")

    decrypt_export(place / "export", PASSPHRASE, place / "empty")
    with pytest.raises(Conflict, match="not an empty directory"):
        decrypt_export(place / "export", PASSPHRASE, place / "full")

    assert (place / "empty/b.json").exists()
    assert [p.name for p in (place / "full").iterdir()] == ["keep.txt"]


def test_a_wrong_passphrase_is_refused_by_name_and_leaves_an_empty_target_empty(place):
    (place / "opened").mkdir()

    refused(place, genuine(), "wrong passphrase", passphrase="not the passphrase at all")

    assert list((place / "opened").iterdir()) == []


@pytest.mark.parametrize("cut", [10, 200, -1, -40])
def test_a_file_cut_short_is_refused(place, cut):
    data = genuine()

    refused(place, data[:cut], "cut (short|off)|damaged")


@pytest.mark.parametrize("where", [0.3, 0.6, 0.99])
def test_a_flipped_byte_is_refused(place, where):
    data = bytearray(genuine())
    data[int(len(data) * where)] ^= 0x01

    refused(place, bytes(data), "damaged|altered|wrong passphrase")


def test_a_file_that_is_not_an_export_is_refused(place):
    backup = encrypt_bytes(b"not a zip", purpose="backup", passphrase=PASSPHRASE, scrypt=CHEAP_SCRYPT)

    refused(place, backup, "is a backup, not a export")
    refused(place, b"PK\x03\x04 a plain zip", "not a ChatSpark encrypted file")


@pytest.mark.parametrize("name", ["../escaped.txt", "notes/../../escaped.txt", "/tmp/escaped.txt", "C:/escaped.txt",
                                  "notes\\..\\..\\escaped.txt", "notes//a.txt", "./a.txt"])
def test_an_entry_whose_path_leaves_the_directory_is_refused_and_nothing_is_written(place, name):
    entries = [*CONTENT, (name, b"escaped")]

    refused(place, sealed_zip(entries, manifest=manifest_for(CONTENT)), "path|leave")

    assert not (place.parent / "escaped.txt").exists() and not Path("/tmp/escaped.txt").exists()


def test_a_symbolic_link_entry_is_refused(place):
    link = zipfile.ZipInfo("notes/link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    entries = [*CONTENT, (link, b"/etc/passwd")]

    refused(place, sealed_zip(entries, manifest=manifest_for(CONTENT)), "symbolic link")


def test_a_directory_entry_is_refused(place):
    refused(place, sealed_zip([*CONTENT, ("notes/", b"")], manifest=manifest_for(CONTENT)), "a directory")


def test_two_entries_of_one_name_are_refused(place):
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = sealed_zip([*CONTENT, ("b.json", b'{"b": 2}')], manifest=manifest_for(CONTENT))

    refused(place, data, "two entries named b.json")


def test_a_zip_bomb_is_refused_before_anything_is_unpacked(place):
    bomb = [("notes/a.txt", bytes(100 << 20))]  # 100 MiB of zeros deflate to about 100 KB

    refused(place, sealed_zip(bomb, manifest=manifest_for(bomb)), "zip bomb")


def test_an_archive_of_too_many_entries_is_refused(place):
    many = [(f"n/{i}", b"x") for i in range(11)]

    refused(place, sealed_zip(many, manifest=manifest_for(many)), "12 entries",
            limits=UnpackLimits(max_entries=10))


def test_an_archive_without_a_manifest_is_refused(place):
    refused(place, sealed_zip(CONTENT, manifest=None), "no manifest.json")


def test_a_file_that_does_not_match_its_manifest_hash_is_refused(place):
    listed = [("notes/a.txt", b"alpha " * 100), ("b.json", b'{"b": 9}')]  # same size, other bytes

    refused(place, sealed_zip(CONTENT, manifest=manifest_for(listed)), "b.json does not match the hash")


def test_a_file_of_another_size_than_listed_is_refused(place):
    listed = [("notes/a.txt", b"alpha " * 100), ("b.json", b'{"b": 10}')]

    refused(place, sealed_zip(CONTENT, manifest=manifest_for(listed)), "b.json is not the size")


def test_files_missing_from_the_archive_or_from_the_manifest_are_refused(place):
    refused(place, sealed_zip(CONTENT[:1], manifest=manifest_for(CONTENT)), "lacks 1 file.*b.json")
    refused(place, sealed_zip(CONTENT, manifest=manifest_for(CONTENT[:1])), "does not list.*b.json")


@pytest.mark.parametrize("changes", [{"kind": "something-else"}, {"version": 2}, {"files": "all of them"},
                                     {"files": [{"path": "b.json", "size": "8", "sha256": "0" * 64}]},
                                     {"files": [{"path": "../b.json", "size": 8, "sha256": "0" * 64}]}])
def test_a_manifest_that_is_not_one_of_ours_is_refused(place, changes):
    refused(place, sealed_zip(CONTENT, manifest=manifest_for(CONTENT, **changes)), "manifest|newer release|leave")


def test_a_missing_file_or_directory_is_named(place):
    with pytest.raises(ValidationError, match="cannot read"):
        decrypt_export(place / "missing", PASSPHRASE, place / "opened")
    (place / "export").write_bytes(genuine())
    with pytest.raises(ValidationError, match="does not exist"):
        decrypt_export(place / "export", PASSPHRASE, place / "no/such/opened")

    assert sorted(p.name for p in place.iterdir()) == ["export"]
