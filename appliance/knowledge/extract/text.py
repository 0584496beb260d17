"""Plain text files: decoding bytes of unknown encoding, and paragraphs split on blank lines."""

from __future__ import annotations

import codecs
import re
import unicodedata
from pathlib import PurePath

from appliance.knowledge.extract.document import Document, ExtractionError, SectionBuilder, require_text
from appliance.knowledge.extract.limits import Limits

_BOMS = [
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16: its BOM starts with UTF-16 LE's
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
# Share of control characters above which bytes are taken for binary data rather than text.
MAX_CONTROL_RATIO = 0.05
_CONTROL_BYTES = bytes(byte for byte in range(0x20) if byte not in b"\t\n\r\x0c\x1b")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•·–]|\d{1,3}[.)])\s+")


def has_bom(data: bytes) -> bool:
    return any(data.startswith(bom) for bom, _ in _BOMS)


def looks_binary(data: bytes) -> bool:
    """NUL bytes (outside a UTF-16/32 file) or many control bytes: what text files never have."""
    if has_bom(data):
        return False
    if b"\x00" in data:
        return True
    controls = len(data) - len(data.translate(None, _CONTROL_BYTES))
    return controls > len(data) * MAX_CONTROL_RATIO


def decode_text(data: bytes, *, name: str) -> str:
    """UTF-8 (BOM or not), UTF-16/32 with a BOM, else Windows-1252 if the bytes look like text at all."""
    not_text = ExtractionError(
        f"“{name}” does not look like text: it contains binary data. Upload the original document "
        "(PDF, Word, HTML, ...) or save it as UTF-8 text."
    )
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as error:
                raise not_text from error
    if looks_binary(data):
        raise not_text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    strange = sum(1 for char in text if char == "\ufffd" or unicodedata.category(char) == "Cc" and char not in "\t\n\r")
    if strange > len(text) * MAX_CONTROL_RATIO:
        raise not_text
    return text


def paragraphs(text: str) -> list[str]:
    """Blocks separated by blank lines; a line that starts a list item also starts a paragraph."""
    found: list[list[str]] = [[]]
    for line in text.splitlines():
        if not line.strip():
            found.append([])
        elif _LIST_ITEM.match(line) and found[-1]:
            found.append([line])
        else:
            found[-1].append(line)
    return [" ".join(lines) for lines in found if lines]


def read_txt(data: bytes, *, name: str, limits: Limits) -> Document:
    builder = SectionBuilder(max_chars=limits.max_text_chars, name=name)
    for paragraph in paragraphs(decode_text(data, name=name)):
        builder.paragraph(paragraph)
    sections = require_text(builder.sections(), name=name)
    return Document(title=PurePath(name).stem, sections=sections, qa_pairs=[], media_type="text/plain")
