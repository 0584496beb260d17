"""Resource limits and the guards that enforce them: file size, zip bombs, XML entity declarations."""

from __future__ import annotations

import io
import xml.parsers.expat
import zipfile
import zlib
from dataclasses import dataclass

from appliance.knowledge.extract.document import ExtractionError

MB = 1024 * 1024
# Members smaller than this cannot hurt whatever their ratio, and repetitive XML (styles, empty sheet rows)
# legitimately compresses far past 100:1, so the ratio is only judged above it.
RATIO_FLOOR_BYTES = 1 * MB
PROLOG_BYTES = 64 * 1024
# What zipfile raises for a damaged archive: bad headers or CRC, offsets outside the file (ValueError from seek),
# an unknown zip version or compression method, an encrypted member (RuntimeError), truncated or corrupt deflate data.
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, NotImplementedError, RuntimeError, EOFError,
              OSError, zlib.error)


@dataclass(frozen=True)
class Limits:
    """Ceilings for one file, so that no upload can exhaust memory or time; tests lower them."""

    max_bytes: int = 25 * MB
    max_text_chars: int = 20_000_000
    max_uncompressed_bytes: int = 200 * MB
    max_compression_ratio: int = 100
    max_pdf_pages: int = 5000
    max_rows: int = 100_000


DEFAULT_LIMITS = Limits()


def check_size(data: bytes, *, name: str, limits: Limits) -> None:
    if len(data) > limits.max_bytes:
        raise ExtractionError(
            f"“{name}” is {len(data) / MB:.1f} MB; files may be at most {limits.max_bytes / MB:g} MB. "
            "Split it into smaller files."
        )
    if not data:
        raise ExtractionError(f"“{name}” is empty.")


def open_zip(data: bytes, *, name: str, kind: str, limits: Limits) -> zipfile.ZipFile:
    """Open an Office file's zip after checking that no member would expand past the limits."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except ZIP_ERRORS as error:
        raise ExtractionError(f"“{name}” is not a readable {kind} (its zip container is damaged).") from error
    total = 0
    for member in archive.infolist():
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        too_big = member.file_size > limits.max_uncompressed_bytes or total > limits.max_uncompressed_bytes
        if too_big or (member.file_size > RATIO_FLOOR_BYTES and ratio > limits.max_compression_ratio):
            archive.close()
            raise ExtractionError(
                f"“{name}” expands to far more data than a {kind} of this size should "
                f"(more than {limits.max_uncompressed_bytes / MB:g} MB or {limits.max_compression_ratio}:1); "
                "it was refused as a possible zip bomb."
            )
    return archive


def read_member(archive: zipfile.ZipFile, member: str, *, name: str, kind: str, limits: Limits) -> bytes:
    """A member's bytes, never more than the uncompressed limit even if the zip lies about sizes."""
    try:
        with archive.open(member) as stream:
            data = stream.read(limits.max_uncompressed_bytes + 1)
    except KeyError as error:
        raise ExtractionError(f"“{name}” is not a readable {kind}: it has no {member} part.") from error
    except ZIP_ERRORS as error:
        raise _damaged_part(name, kind, member) from error
    if len(data) > limits.max_uncompressed_bytes:
        raise ExtractionError(
            f"“{name}” expands to more than {limits.max_uncompressed_bytes / MB:g} MB "
            "and was refused as a possible zip bomb."
        )
    return data


def _damaged_part(name: str, kind: str, part: str) -> ExtractionError:
    return ExtractionError(f"“{name}” is not a readable {kind}: its {part} part is damaged.")


def refuse_doctypes(archive: zipfile.ZipFile, *, name: str, kind: str) -> None:
    """Check every XML part's prolog before a library that parses them on its own (openpyxl) gets the file."""
    for member in archive.infolist():
        if member.filename.lower().endswith((".xml", ".rels", ".vml")):
            try:
                with archive.open(member) as stream:
                    head = stream.read(PROLOG_BYTES)
            except ZIP_ERRORS as error:
                raise _damaged_part(name, kind, member.filename) from error
            # A prolog longer than this is refused as damaged: the root element never shows up in the head read.
            refuse_doctype(head, name=name, part=member.filename)


class _Doctype(Exception):
    pass


class _PrologEnd(Exception):
    pass


def refuse_doctype(content: bytes, *, name: str, part: str) -> None:
    """Refuse XML that declares a DOCTYPE (where entity expansion attacks live); Office files never need one."""
    parser = xml.parsers.expat.ParserCreate()

    def on_doctype(*_: object) -> None:
        raise _Doctype

    def on_first_element(*_: object) -> None:
        raise _PrologEnd  # a DOCTYPE can only come before the root element: no need to read further

    parser.StartDoctypeDeclHandler = on_doctype
    parser.StartElementHandler = on_first_element
    try:
        parser.Parse(content, True)
    except _Doctype:
        raise ExtractionError(
            f"“{name}” was refused: its {part} part declares a DOCTYPE or entities, which Office files never need "
            "and which can be used to attack the reader."
        ) from None
    except _PrologEnd:
        return
    except xml.parsers.expat.ExpatError as error:
        raise ExtractionError(f"“{name}” is damaged: its {part} part is not well-formed XML.") from error
