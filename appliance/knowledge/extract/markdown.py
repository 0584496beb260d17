"""Markdown files and pasted text: headings build the heading path, inline syntax is stripped to plain text."""

from __future__ import annotations

import re
from pathlib import PurePath

from appliance.knowledge.extract.document import Document, ExtractionError, SectionBuilder, one_line, require_text
from appliance.knowledge.extract.limits import DEFAULT_LIMITS, Limits
from appliance.knowledge.extract.text import decode_text

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_LIST_ITEM = re.compile(r"^[ \t]*(?:([-*+])|(\d{1,9}[.)]))[ \t]+")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*\S+")
_QUOTE = re.compile(r"^ {0,3}>[ ]?")
_TABLE_RULE = re.compile(r"^[\s|:-]*-{3,}[\s|:-]*$")

_SYNTAX = re.compile(r"[*_~\[<\\!]")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_INLINE = [
    (re.compile(r"<!--.*?-->"), ""),
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"<((?:https?|mailto|ftp):[^>\s]+|[^>\s@]+@[^>\s]+)>"), r"\1"),
    (re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>"), ""),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),
    (re.compile(r"\*(?=[^\s*])(.+?)(?<=[^\s*])\*"), r"\1"),
    (re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])"), r"\1"),
]
# Escaped characters are parked in the private use area while the syntax around them is stripped.
_PARK = 0xF0000


def inline_text(text: str) -> str:
    """Markdown inline syntax reduced to the text a reader sees: link text kept, emphasis and code marks dropped."""
    pieces = []
    position = 0
    for match in _CODE_SPAN.finditer(text):
        pieces.append(_strip_inline(text[position:match.start()]))
        pieces.append(match.group(2).strip())
        position = match.end()
    pieces.append(_strip_inline(text[position:]))
    return "".join(pieces)


def _strip_inline(text: str) -> str:
    if not _SYNTAX.search(text):
        return text
    text = _ESCAPE.sub(lambda match: chr(_PARK + ord(match.group(1))), text)
    for _ in range(3):  # nested emphasis such as ***both***
        before = text
        for pattern, replacement in _INLINE:
            text = pattern.sub(replacement, text)
        if text == before:
            break
    return re.sub("[\U000f0000-\U000f007f]", lambda match: chr(ord(match.group()) - _PARK), text)


def _without_front_matter(lines: list[str]) -> list[str]:
    if lines and lines[0].strip() in ("---", "+++"):
        closing = {"---": ("---", "..."), "+++": ("+++",)}[lines[0].strip()]
        for index, line in enumerate(lines[1:], start=1):
            if line.strip() in closing:
                return lines[index + 1:]
    return lines


def parse_markdown(text: str, builder: SectionBuilder) -> None:
    """Feed headings and paragraphs of markdown `text` to `builder` in reading order."""
    paragraph: list[str] = []
    fence: str | None = None
    code: list[str] = []

    def flush() -> None:
        if paragraph:
            builder.paragraph(inline_text(" ".join(paragraph)))
            paragraph.clear()

    for raw in _without_front_matter(text.splitlines()):
        if fence is not None:
            if raw.strip().startswith(fence) and set(raw.strip()) == {fence[0]}:
                builder.paragraph("\n".join(code), keep_lines=True)
                fence, code = None, []
            else:
                code.append(raw)
            continue
        line = raw
        while _QUOTE.match(line):
            line = _QUOTE.sub("", line, count=1)
        if opening := _FENCE.match(line):
            flush()
            fence = opening.group(1)
        elif not line.strip():
            flush()
        elif heading := _ATX.match(line):
            flush()
            builder.heading(len(heading.group(1)), inline_text(heading.group(2) or ""))
        elif paragraph and _SETEXT.match(line) and not _LIST_ITEM.match(paragraph[0]):
            underline = line.strip()[0]
            builder.heading(1 if underline == "=" else 2, inline_text(" ".join(paragraph)))
            paragraph.clear()
        elif _RULE.match(line) or _REFERENCE.match(line) or ("|" in line and _TABLE_RULE.match(line)):
            flush()
        elif line.lstrip().startswith("|"):
            flush()
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            builder.paragraph(inline_text(" | ".join(cells)))
        elif item := _LIST_ITEM.match(line):
            flush()
            marker = "-" if item.group(1) else item.group(2)
            paragraph.append(f"{marker} {line[item.end():]}")
        else:
            paragraph.append(line)
    if code:  # an unclosed fence runs to the end of the file
        builder.paragraph("\n".join(code), keep_lines=True)
    flush()


def read_markdown(data: bytes, *, name: str, limits: Limits) -> Document:
    builder = SectionBuilder(max_chars=limits.max_text_chars, name=name)
    parse_markdown(decode_text(data, name=name), builder)
    sections = require_text(builder.sections(), name=name)
    title = builder.first_heading() or PurePath(name).stem
    return Document(title=title, sections=sections, qa_pairs=[], media_type="text/markdown")


def extract_text(text: str, *, title: str, limits: Limits = DEFAULT_LIMITS) -> Document:
    """Pasted text, read as markdown so that any headings in it are honoured."""
    title = one_line(title)
    builder = SectionBuilder(max_chars=limits.max_text_chars, name=title or "The pasted text")
    parse_markdown(text, builder)
    sections = builder.sections()
    if not sections:
        raise ExtractionError("The pasted text is empty: paste the text the agent should learn from.")
    return Document(title=title or builder.first_heading() or "Pasted text", sections=sections, qa_pairs=[],
                    media_type="text/markdown")
