"""Text extraction: turns an uploaded file, a crawled page or pasted text into a Document of sections or Q&A pairs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath

from appliance.knowledge.extract.detect import DOCX, SUPPORTED, XLSX, check_contents, declared_type, sniff
from appliance.knowledge.extract.document import Document, ExtractionError, Section
from appliance.knowledge.extract.docx import read_docx
from appliance.knowledge.extract.html import extract_html, read_html
from appliance.knowledge.extract.limits import DEFAULT_LIMITS, Limits, check_size
from appliance.knowledge.extract.markdown import extract_text, read_markdown
from appliance.knowledge.extract.pdf import read_pdf
from appliance.knowledge.extract.tables import read_csv, read_xlsx
from appliance.knowledge.extract.text import read_txt

__all__ = ["SUPPORTED", "Document", "ExtractionError", "Limits", "Section", "extract", "extract_html", "extract_text"]

_READERS: dict[str, Callable[..., Document]] = {
    "text/plain": read_txt,
    "text/markdown": read_markdown,
    "text/html": read_html,
    "application/pdf": read_pdf,
    DOCX: read_docx,
    "text/csv": read_csv,
    XLSX: read_xlsx,
}


def extract(data: bytes, *, filename: str, media_type: str | None = None, limits: Limits = DEFAULT_LIMITS) -> Document:
    """Read an uploaded file as the type its extension (or else `media_type`) names, once its bytes agree.

    Raises ExtractionError, with a sentence for the uploader, for unsupported, oversized, damaged or disguised files.
    """
    name = PurePath(filename.replace("\\", "/")).name or "The file"
    declared = declared_type(name, media_type)
    check_size(data, name=name, limits=limits)
    check_contents(declared, sniff(data), name=name)
    return _READERS[declared](data, name=name, limits=limits)
