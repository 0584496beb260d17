"""PDF files through pypdf: lines rebuilt with their position and size, joined into paragraphs and headings."""

from __future__ import annotations

import io
import math
import re
import statistics
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import PurePath

from pypdf import PageObject, PasswordType, PdfReader
from pypdf.errors import FileNotDecryptedError, PyPdfError

from appliance.knowledge.extract.document import Document, ExtractionError, SectionBuilder, one_line
from appliance.knowledge.extract.limits import Limits

# pypdf says broken files "might cause other exceptions" than its own; these are the ones damaged files raise.
_DAMAGED = (PyPdfError, ValueError, KeyError, IndexError, TypeError, AttributeError, NotImplementedError, zlib.error,
            RecursionError)
HEADING_SIZE_RATIO = 1.15  # a line this much larger than body text is taken for a heading
PARAGRAPH_GAP_RATIO = 1.4  # a gap this much taller than the usual line spacing ends a paragraph
MAX_HEADING_CHARS = 150
_BULLET = re.compile(r"^(?:[-•·–▪◦*]|\d{1,3}[.)])\s")
_SENTENCE_END = re.compile(r"[.!?:;…][\"'”’)]*$")
_BROKEN_WORD = re.compile(r"[^\W\d_]-$")
_GENERIC_TITLE = re.compile(r"^(untitled|document\d*|microsoft word - .*|.*\.(docx?|pdf|odt|rtf|pptx?|xlsx?))$", re.I)


@dataclass
class _Line:
    text: str
    y: float | None
    size: float
    level: int = 0  # 0 for body text, else the heading level


def read_pdf(data: bytes, *, name: str, limits: Limits) -> Document:
    reader = _open(data, name=name)
    try:
        count = len(reader.pages)
        if count > limits.max_pdf_pages:
            raise ExtractionError(
                f"“{name}” has {count:,} pages; at most {limits.max_pdf_pages:,} can be read. Split it into parts."
            )
        pages = [_page_lines(page) for page in reader.pages]
        metadata_title = (reader.metadata.title if reader.metadata else None) or ""
    except _DAMAGED as error:
        raise ExtractionError(f"“{name}” is damaged and cannot be read as a PDF.") from error
    if not any(line.text.strip() for lines in pages for line in lines):
        raise ExtractionError(
            f"“{name}” has no text layer: it seems to hold only scanned images, and text recognition (OCR) is not "
            "supported. Upload a PDF exported with its text, or paste the text instead."
        )
    _assign_levels(pages)
    pages = _without_running_lines(pages)
    builder = SectionBuilder(max_chars=limits.max_text_chars, name=name)
    _build(pages, builder)
    sections = builder.sections()
    if not sections:
        raise ExtractionError(f"“{name}” contains no text to learn from.")
    metadata_title = one_line(str(metadata_title))
    title = (None if _GENERIC_TITLE.match(metadata_title) else metadata_title) or builder.first_heading()
    return Document(title=title or PurePath(name).stem, sections=sections, qa_pairs=[], media_type="application/pdf")


def _open(data: bytes, *, name: str) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise FileNotDecryptedError("a password is required")
    except FileNotDecryptedError as error:
        raise ExtractionError(
            f"“{name}” is protected by a password. Save a copy without the password and upload that."
        ) from error
    except _DAMAGED as error:
        raise ExtractionError(
            f"“{name}” is damaged or incomplete and cannot be read as a PDF; export or download it again."
        ) from error
    return reader


def _page_lines(page: PageObject) -> list[_Line]:
    """The page's text lines in content order, each with its baseline height and its largest font size."""
    lines: list[_Line] = []
    current = _Line("", None, 0.0)

    def visit(text: str, cm: list[float], tm: list[float], _font: object, font_size: float) -> None:
        nonlocal current
        for index, piece in enumerate(text.split("\n")):
            if index:
                lines.append(current)
                current = _Line("", None, 0.0)
            if piece.strip():
                if current.y is None:
                    current.y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                scale = math.sqrt(abs(tm[0] * tm[3] - tm[1] * tm[2]) * abs(cm[0] * cm[3] - cm[1] * cm[2]))
                current.size = max(current.size, round(font_size * scale, 1))
            current.text += piece

    page.extract_text(visitor_text=visit)
    lines.append(current)
    return [line for line in lines if line.text.strip()]


def _without_running_lines(pages: list[list[_Line]]) -> list[list[_Line]]:
    """Drop headers and footers: first or last lines of body size that recur, page numbers aside, on most pages."""
    if len(pages) < 3:
        return pages

    def key(line: _Line) -> str:
        return re.sub(r"\d+", "#", " ".join(line.text.lower().split()))

    def is_edge(index: int, lines: list[_Line]) -> bool:
        return index in (0, len(lines) - 1) and lines[index].level == 0  # numbered chapter headings must stay

    edges = Counter(text for lines in pages
                    for text in {key(line) for index, line in enumerate(lines) if is_edge(index, lines)})
    running = {text for text, count in edges.items() if count >= 0.6 * len(pages)}
    return [[line for index, line in enumerate(lines) if not (is_edge(index, lines) and key(line) in running)]
            for lines in pages]


def _assign_levels(pages: list[list[_Line]]) -> None:
    weights: Counter[float] = Counter()
    for lines in pages:
        for line in lines:
            weights[line.size] += len(line.text)
    body = weights.most_common(1)[0][0]
    heading_sizes = sorted({line.size for lines in pages for line in lines
                            if line.size >= body * HEADING_SIZE_RATIO and len(line.text.strip()) <= MAX_HEADING_CHARS
                            and any(char.isalpha() for char in line.text)}, reverse=True)
    levels = {size: min(index + 1, 6) for index, size in enumerate(heading_sizes)}
    for lines in pages:
        for line in lines:
            if len(line.text.strip()) <= MAX_HEADING_CHARS and any(char.isalpha() for char in line.text):
                line.level = levels.get(line.size, 0)


def _line_spacing(pages: list[list[_Line]]) -> float | None:
    gaps = [above.y - below.y for lines in pages for above, below in zip(lines, lines[1:], strict=False)
            if above.level == below.level == 0 and above.y is not None and below.y is not None and above.y > below.y]
    return statistics.median(gaps) if gaps else None


def _build(pages: list[list[_Line]], builder: SectionBuilder) -> None:
    spacing = _line_spacing(pages)
    paragraph: list[str] = []
    heading: _Line | None = None
    previous: _Line | None = None
    for lines in pages:
        for position, line in enumerate(lines):
            text = line.text.strip()
            if line.level:
                builder.paragraph(" ".join(paragraph))
                paragraph = []
                if heading is not None and heading.level == line.level and previous is heading:
                    heading.text = f"{heading.text} {text}"  # a heading wrapped onto two lines
                else:
                    _end_heading(builder, heading)
                    heading = _Line(text, line.y, line.size, line.level)
                previous = heading
                continue
            _end_heading(builder, heading)
            heading = None
            if paragraph and _starts_paragraph(previous, line, first_on_page=position == 0, spacing=spacing):
                builder.paragraph(" ".join(paragraph))
                paragraph = []
            _add_line(paragraph, text)
            previous = line
    _end_heading(builder, heading)
    builder.paragraph(" ".join(paragraph))


def _end_heading(builder: SectionBuilder, heading: _Line | None) -> None:
    if heading is not None:
        builder.heading(heading.level, heading.text)


def _starts_paragraph(previous: _Line | None, line: _Line, *, first_on_page: bool, spacing: float | None) -> bool:
    if previous is None or _BULLET.match(line.text.strip()):
        return True
    if first_on_page:  # a sentence may run on over the page break
        return bool(_SENTENCE_END.search(previous.text.strip()))
    if spacing is None or previous.y is None or line.y is None:
        return False
    gap = previous.y - line.y
    return gap <= 0 or gap > spacing * PARAGRAPH_GAP_RATIO


def _add_line(paragraph: list[str], line: str) -> None:
    """Add a line to its paragraph, mending a word hyphenated across the line break ("exam-" + "ple")."""
    if paragraph and _BROKEN_WORD.search(paragraph[-1]) and line[:1].islower():
        paragraph[-1] = paragraph[-1][:-1] + line
    else:
        paragraph.append(line)
