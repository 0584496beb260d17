"""The shape every extractor returns, the error it raises, and the text normalisation all formats share."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from appliance.errors import ValidationError


class ExtractionError(ValidationError):
    """A file that cannot be turned into text; the message is a sentence for the person who uploaded it."""

    code = "extraction_failed"


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path; paragraphs are separated by blank lines."""

    heading_path: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Document:
    """A file's text: prose as sections, or question/answer pairs from a table; `media_type` is what was read."""

    title: str
    sections: list[Section]
    qa_pairs: list[tuple[str, str]]
    media_type: str


# C0/C1 control characters except tab and newline, which normalisation turns into spaces and line breaks.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_LINE_SEPARATORS = str.maketrans({"\u2028": "\n", "\u2029": "\n\n", "\x0c": "\n\n", "\x0b": "\n"})


def normalise(text: str) -> str:
    """NFC, unified line breaks, no control characters, single spaces, no trailing spaces; line breaks kept."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text.translate(_LINE_SEPARATORS))
    lines = (_SPACES.sub(" ", line).rstrip() for line in text.split("\n"))
    return "\n".join(lines).strip("\n")


def one_line(text: str) -> str:
    """Normalised text with every line break folded into a space: the form of a paragraph, heading or cell."""
    return " ".join(normalise(text).split())


class SectionBuilder:
    """Collects headings and paragraphs in reading order and groups the paragraphs by heading path."""

    def __init__(self, *, max_chars: int, name: str) -> None:
        self._max_chars = max_chars
        self._name = name
        self._chars = 0
        self._headings: list[tuple[int, str]] = []
        self._paragraphs: list[str] = []
        self._sections: list[Section] = []
        self._seen: list[tuple[int, str]] = []

    def heading(self, level: int, text: str) -> None:
        text = one_line(text)
        if not text:
            return
        self._flush()
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, text))
        self._seen.append((level, text))
        self._count(text)

    def first_heading(self, *, up_to_level: int = 1) -> str | None:
        """The first heading at `up_to_level` or above, the usual stand-in for a missing title."""
        return next((text for level, text in self._seen if level <= up_to_level), None)

    def paragraph(self, text: str, *, keep_lines: bool = False) -> None:
        """Add one paragraph; `keep_lines` keeps its line breaks (code, preformatted text)."""
        # Kept lines lose blank ones: a blank line is what separates paragraphs.
        text = "\n".join(line for line in normalise(text).split("\n") if line.strip()) if keep_lines else one_line(text)
        if text:
            self._paragraphs.append(text)
            self._count(text)

    def sections(self) -> list[Section]:
        self._flush()
        return list(self._sections)

    def _count(self, text: str) -> None:
        self._chars += len(text)
        if self._chars > self._max_chars:
            raise ExtractionError(
                f"“{self._name}” holds more than {self._max_chars:,} characters of text, the most one source may "
                "hold; split it into smaller files."
            )

    def _flush(self) -> None:
        if self._paragraphs:
            path = tuple(text for _, text in self._headings)
            self._sections.append(Section(heading_path=path, text="\n\n".join(self._paragraphs)))
            self._paragraphs = []


def require_text(sections: list[Section], *, name: str) -> list[Section]:
    """The sections, unless there are none: a file without text teaches the agent nothing."""
    if not sections:
        raise ExtractionError(f"“{name}” contains no text to learn from.")
    return sections
