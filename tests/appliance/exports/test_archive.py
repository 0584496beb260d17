"""Writing an export archive: entries stream into the encryption as it asks for them, a failure half-way leaves no
file, and uploaded names become one harmless path component."""

from __future__ import annotations

import datetime as dt
import io
import os

import pytest

from appliance.exports.archive import safe_filename, write_archive, write_new_file
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
