"""Question/answer tables: CSV with a sniffed delimiter, and the first sheet of an Excel workbook."""

from __future__ import annotations

import csv
import datetime as dt
import io
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from pathlib import PurePath

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from appliance.knowledge.extract.detect import XLSX
from appliance.knowledge.extract.document import Document, ExtractionError, normalise, one_line
from appliance.knowledge.extract.limits import ZIP_ERRORS, Limits, open_zip, refuse_doctypes
from appliance.knowledge.extract.text import decode_text

DELIMITERS = (",", ";", "\t")
SNIFF_CHARS = 64 * 1024
MAX_COLUMNS = 100  # question and answer columns are looked for among the first this many
_QUESTION_HEADERS = {"q", "q.", "question", "questions", "frage"}
_ANSWER_HEADERS = {"a", "a.", "answer", "answers", "antwort"}
# openpyxl raises these, besides zip errors, for workbooks whose parts are missing or malformed.
_BROKEN_WORKBOOK = (InvalidFileException, *ZIP_ERRORS, KeyError, TypeError, IndexError, AttributeError,
                    ET.ParseError)


def _header_columns(row: list[str]) -> tuple[int, int] | None:
    """The question and answer columns named in a header row, if it is one."""
    names = [" ".join(cell.lower().split()) for cell in row]
    question = next((i for i, cell in enumerate(names) if cell in _QUESTION_HEADERS or "question" in cell), None)
    answer = next((i for i, cell in enumerate(names) if cell in _ANSWER_HEADERS or "answer" in cell), None)
    return (question, answer) if question is not None and answer is not None and question != answer else None


def qa_pairs(rows: Iterable[list[str]], *, name: str, limits: Limits) -> list[tuple[str, str]]:
    """Pairs from a header row naming question and answer columns, else from the first two columns."""
    pairs: list[tuple[str, str]] = []
    columns: tuple[int, int] | None = None
    widest = chars = count = 0
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue
        count += 1
        if count > limits.max_rows:
            raise ExtractionError(f"“{name}” has more than {limits.max_rows:,} rows; split it into smaller files.")
        widest = max(widest, max(index + 1 for index, cell in enumerate(row) if cell.strip()))
        if columns is None:
            header = _header_columns(row)
            columns = header or (0, 1)
            if header:
                continue
        question_at, answer_at = columns
        question = one_line(row[question_at]) if question_at < len(row) else ""
        answer = normalise(row[answer_at]) if answer_at < len(row) else ""
        if question and answer:
            pairs.append((question, answer))
            chars += len(question) + len(answer)
            if chars > limits.max_text_chars:
                raise ExtractionError(f"“{name}” holds more than {limits.max_text_chars:,} characters of text; "
                                      "split it into smaller files.")
    if not pairs:
        hint = "it has a single column" if widest == 1 else "no row has both a question and an answer"
        raise ExtractionError(
            f"“{name}” holds no question and answer pairs: {hint}. Put questions in the first column and answers in "
            "the second, or name the columns “question” and “answer”."
        )
    return pairs


def sniff_delimiter(text: str) -> str:
    """Comma, semicolon or tab: the one that splits the sample's rows most consistently into two or more fields."""
    sample = text[:SNIFF_CHARS]
    best, best_score = ",", (False, 0.0)
    for delimiter in DELIMITERS:
        try:
            rows = [row for row in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter) if any(row)][:50]
        except csv.Error:
            continue
        if not rows:
            continue
        columns, agreeing = Counter(len(row) for row in rows).most_common(1)[0]
        if columns < 2:
            continue
        score = (_header_columns(rows[0]) is not None, agreeing / len(rows))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def read_csv(data: bytes, *, name: str, limits: Limits) -> Document:
    text = decode_text(data, name=name)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text))
    try:
        pairs = qa_pairs(reader, name=name, limits=limits)
    except csv.Error as error:
        raise ExtractionError(f"“{name}” is not a readable CSV table ({error}).") from error
    return Document(title=PurePath(name).stem, sections=[], qa_pairs=pairs, media_type="text/csv")


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def read_xlsx(data: bytes, *, name: str, limits: Limits) -> Document:
    kind = "Excel workbook"
    with open_zip(data, name=name, kind=kind, limits=limits) as archive:
        refuse_doctypes(archive, name=name, kind=kind)
    try:
        # data_only: a formula cell gives the value Excel last computed, not the formula's text.
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except _BROKEN_WORKBOOK as error:
        raise ExtractionError(f"“{name}” is damaged and cannot be read as an Excel workbook.") from error
    try:
        if not workbook.worksheets:
            raise ExtractionError(f"“{name}” has no worksheet.")
        rows = workbook.worksheets[0].iter_rows(max_col=MAX_COLUMNS, values_only=True)
        pairs = qa_pairs(([_cell_text(value) for value in row] for row in rows), name=name, limits=limits)
        title = one_line(workbook.properties.title or "") if workbook.properties else ""
    except _BROKEN_WORKBOOK as error:
        raise ExtractionError(f"“{name}” is damaged and cannot be read as an Excel workbook.") from error
    finally:
        workbook.close()
    return Document(title=title or PurePath(name).stem, sections=[], qa_pairs=pairs, media_type=XLSX)
