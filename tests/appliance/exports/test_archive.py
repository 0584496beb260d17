"""Writing an export archive: entries stream into the encryption as it asks for them, a failure half-way leaves no
file, and uploaded names become one harmless path component."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import tracemalloc

import pytest

from appliance.exports.archive import safe_filename, write_archive, write_new_file
from appliance.exports.unpacking import decrypt_export
from tests.appliance.exports.workspaces import CHEAP_SCRYPT, PASSPHRASE

MOMENT = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.timezone.utc)


def manifest(files) -> dict:
    return {"kind": "chatspark-workspace-export", "version": 1}


class Recording(io.BytesIO):
    """A target that notes how many entries had been made each time it was written to."""

    def __init__(self, made: list) -> None:
        super().__init__()
        self.made, self.seen = made, []

    def write(self, data) -> int:
        self.seen.append(len(self.made))
        return super().write(data)


def test_entries_are_made_only_as_the_encryption_needs_them(place):
    made = []

    def entries():
        for number in range(6):
            made.append(number)
            yield f"part-{number}.bin", os.urandom(700_000)  # incompressible: about 0.7 MB each in the zip

    target = Recording(made)
    write_archive(target, entries(), manifest=manifest, passphrase=PASSPHRASE, moment=MOMENT, scrypt=CHEAP_SCRYPT)

    # seen[0] is the header, written before anything is read; the first chunk goes out once the encryption has read
    # one more (to know whether it is the last): 2 MiB, three entries of the six.
    assert target.seen[1] == 3 and target.seen[-1] == 6


def test_an_entry_given_in_chunks_is_pulled_a_chunk_at_a_time_and_unpacks_whole(place):
    pulled, chunks = [], [os.urandom(700_000) for _ in range(6)]

    def big():
        for number, chunk in enumerate(chunks):
            pulled.append(number)
            yield chunk

    target = Recording(pulled)
    write_archive(target, [("small.txt", b"small"), ("big.bin", big()), ("after.txt", b"after")],
                  manifest=manifest, passphrase=PASSPHRASE, moment=MOMENT, scrypt=CHEAP_SCRYPT)
    (place / "export").write_bytes(target.getvalue())
    opened = decrypt_export(place / "export", PASSPHRASE, place / "out")

    assert target.seen[1] == 3 and target.seen[-1] == 6  # as with whole entries: pulled only as needed
    whole = b"".join(chunks)
    assert (place / "out" / "big.bin").read_bytes() == whole
    assert (place / "out" / "after.txt").read_bytes() == b"after"
    listed = {f["path"]: f for f in opened.manifest["files"]}
    assert listed["big.bin"] == {"path": "big.bin", "size": len(whole), "sha256": hashlib.sha256(whole).hexdigest()}


def test_a_chunked_entry_far_larger_than_memory_use_is_never_held_whole(place):
    def chunks():
        for number in range(64):  # 64 MiB, compressible like text
            yield bytes([65 + number % 26]) * (1 << 20)

    tracemalloc.start()
    try:
        with (place / "export").open("wb") as target:
            written = write_archive(target, [("conversations.csv", chunks())], manifest=manifest,
                                    passphrase=PASSPHRASE, moment=MOMENT, scrypt=CHEAP_SCRYPT)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert written.files[0].size == 64 << 20
    assert peak < 8 << 20  # a few chunks' worth, never the 64 MiB


def test_a_failure_half_way_leaves_no_file_and_closes_the_entries(place):
    closed = []

    def entries():
        try:
            yield "first.txt", b"first"
            raise OSError("the disk went away")
        finally:
            closed.append(True)

    with pytest.raises(OSError, match="disk went away"):
        write_new_file(place / "export", lambda target: write_archive(
            target, entries(), manifest=manifest, passphrase=PASSPHRASE, moment=MOMENT, scrypt=CHEAP_SCRYPT))

    assert list(place.iterdir()) == [] and closed == [True]


def test_a_chunked_entry_cut_short_by_a_full_disk_is_closed_and_leaves_no_file(place):
    closed = []

    def chunks():
        try:
            while True:
                yield os.urandom(500_000)
        finally:
            closed.append(True)  # an export's chunks hold a read of the database: they must let it go

    class FillsUp:
        def __init__(self, target) -> None:
            self.target, self.written = target, 0

        def write(self, data) -> int:
            if self.written > 3_000_000:
                raise OSError(28, "No space left on device")
            self.written += len(data)
            return self.target.write(data)

    with pytest.raises(OSError, match="No space left"):
        write_new_file(place / "export", lambda target: write_archive(
            FillsUp(target), [("first.txt", b"first"), ("big.csv", chunks())], manifest=manifest,
            passphrase=PASSPHRASE, moment=MOMENT, scrypt=CHEAP_SCRYPT))

    assert list(place.iterdir()) == [] and closed == [True]


@pytest.mark.parametrize(("uploaded", "kept"), [
    ("handbook.md", "handbook.md"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\ann\\Q3 plan.docx", "Q3 plan.docx"),
    ("..", "original"),
    ("", "original"),
    (None, "original"),
    ("notes:\x00\x1f.txt", "notes___.txt"),
    ("Übersicht (2026).pdf", "Übersicht (2026).pdf"),
    ("x" * 300 + ".md", "x" * 120),
])
def test_uploaded_names_become_one_harmless_path_component(uploaded, kept):
    assert safe_filename(uploaded) == kept
