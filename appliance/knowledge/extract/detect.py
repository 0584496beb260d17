"""What a file is: its declared type from the extension (or a media type) and its real type from its first bytes."""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePath

from appliance.knowledge.extract.document import ExtractionError
from appliance.knowledge.extract.limits import ZIP_ERRORS
from appliance.knowledge.extract.text import has_bom, looks_binary

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SUPPORTED = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".docx": DOCX,
    ".csv": "text/csv",
    ".xlsx": XLSX,
}
DAMAGED_ZIP = "application/x-damaged-zip"  # not a real media type: a zip whose directory cannot be read
TEXT_TYPES = {"text/plain", "text/markdown", "text/html", "text/csv"}
DESCRIPTIONS = {
    "text/plain": "plain text",
    "text/markdown": "a Markdown file",
    "text/html": "an HTML page",
    "text/csv": "a CSV table",
    "application/pdf": "a PDF",
    DOCX: "a Word document (.docx)",
    XLSX: "an Excel workbook (.xlsx)",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "a PowerPoint presentation",
    "application/vnd.oasis.opendocument": "an OpenDocument file (save it as .docx, .xlsx or PDF)",
    "application/zip": "a zip archive",
    DAMAGED_ZIP: "a damaged zip archive",
    "application/x-ole-storage": "an old-style Office file (.doc or .xls; save it as .docx or .xlsx)",
    "application/rtf": "an RTF document (save it as .docx or PDF)",
    "image/png": "a PNG image",
    "image/jpeg": "a JPEG image",
    "image/gif": "a GIF image",
    "application/gzip": "a gzip archive",
    "application/octet-stream": "binary data",
}
_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (b"{\\rtf", "application/rtf"),
    (b"\x1f\x8b", "application/gzip"),
]
_HTML_STARTS = ("<!doctype html", "<html", "<head", "<body", "<title", "<meta", "<!--", "<div", "<p>", "<h1")


def declared_type(filename: str, media_type: str | None) -> str:
    """The type the name promises, or the given media type where the name has no supported extension."""
    extension = PurePath(filename).suffix.lower()
    if extension in SUPPORTED:
        return SUPPORTED[extension]
    essence = (media_type or "").split(";")[0].strip().lower()
    if essence in SUPPORTED.values():
        return essence
    supported = ", ".join(sorted(SUPPORTED))
    raise ExtractionError(f"“{filename}” is not a supported kind of file. Supported files end in {supported}.")


def sniff(data: bytes) -> str:
    """The media type the bytes themselves show, from magic numbers, the zip's parts, or a look at the text."""
    if b"%PDF-" in data[:1024]:
        return "application/pdf"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_type(data)
    for magic, media_type in _MAGIC:
        if data.startswith(magic):
            return media_type
    head = data[:8192]
    if looks_binary(head):
        return "application/octet-stream"
    codec = "utf-16" if has_bom(head) and not head.startswith(b"\xef\xbb\xbf") else "utf-8"
    start = head.decode(codec, errors="ignore").lstrip("\ufeff \t\r\n").lower()
    return "text/html" if start.startswith(_HTML_STARTS) else "text/plain"


def _zip_type(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except ZIP_ERRORS:
        return DAMAGED_ZIP
    if "word/document.xml" in names:
        return DOCX
    if "xl/workbook.xml" in names:
        return XLSX
    if "ppt/presentation.xml" in names:
        return "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    if "mimetype" in names and "content.xml" in names:
        return "application/vnd.oasis.opendocument"
    return "application/zip"


def check_contents(declared: str, actual: str, *, name: str) -> None:
    """Refuse a file whose bytes cannot be read as the type its name promises, saying what it seems to be."""
    if declared == actual or (declared in TEXT_TYPES and actual in ("text/plain", "text/html")):
        return
    if declared in TEXT_TYPES and actual == "application/octet-stream":
        raise ExtractionError(f"“{name}” does not look like text: it contains binary data.")
    if declared in (DOCX, XLSX) and actual == DAMAGED_ZIP:
        raise ExtractionError(f"“{name}” is damaged or incomplete: its zip container cannot be read. "
                              "Save it again or export it as PDF.")
    if declared == DOCX and actual == "application/zip":
        raise ExtractionError(f"“{name}” is not a readable Word document: the zip holds no word/document.xml.")
    if declared == XLSX and actual == "application/zip":
        raise ExtractionError(f"“{name}” is not a readable Excel workbook: the zip holds no xl/workbook.xml.")
    raise ExtractionError(
        f"“{name}” is named like {DESCRIPTIONS[declared]} but its contents look like {DESCRIPTIONS[actual]}; "
        "rename it or upload the file in a supported format."
    )
