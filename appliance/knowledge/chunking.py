"""Cutting extracted documents into passages along headings and paragraphs, keeping the heading path of each."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

TARGET_CHARS = 1000
OVERLAP_CHARS = 200
# A sentence ends at . ! ? (or their CJK forms) followed by space and an upper-case letter, digit or quote.
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+(?=[\"'“(\[A-Z0-9À-Ý\u0370-\u03ff\u0400-\u04ff\u4e00-\u9fff])")


@dataclass(frozen=True)
class Passage:
    heading_path: str
    text: str


_ABBREVIATION = re.compile(r"(?:^|\s)(?:Dr|Mr|Mrs|Ms|Prof|St|vs|etc|e\.g|i\.e|Fig|Figs|al|No|approx|cf)\.$", re.I)


def sentences(text: str) -> list[str]:
    """Split prose into sentences; good enough for choosing what to quote, not a linguist."""
    parts: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        for piece in (s.strip() for s in _SENTENCE_END.split(paragraph)):
            if not piece:
                continue
            if parts and _ABBREVIATION.search(parts[-1]):
                parts[-1] = f"{parts[-1]} {piece}"
            else:
                parts.append(piece)
    return parts


def _pieces(paragraph: str, limit: int) -> list[str]:
    """A paragraph that fits, or its sentences, or hard cuts of an endless sentence."""
    if len(paragraph) <= limit:
        return [paragraph]
    out = []
    for sentence in sentences(paragraph):
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            out.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            out.append(sentence)
    return out


def chunk_section(heading_path: Iterable[str], text: str, *, target: int = TARGET_CHARS,
                  overlap: int = OVERLAP_CHARS) -> list[Passage]:
    """Pack paragraphs (then sentences) into passages of about `target` characters; consecutive passages of one
    section share up to `overlap` characters so an answer that straddles a cut is still found whole."""
    path = " > ".join(h for h in heading_path if h)
    pieces = [p for paragraph in re.split(r"\n\s*\n", text)
              for p in _pieces(" ".join(paragraph.split()), target) if p]
    passages: list[Passage] = []
    current: list[str] = []
    size = 0
    fresh = False            # whether `current` holds anything not yet in a passage
    for piece in pieces:
        if current and fresh and size + len(piece) + 1 > target:
            passages.append(Passage(path, "\n\n".join(current)))
            carried: list[str] = []
            carried_size = 0
            for previous in reversed(current):
                if carried_size + len(previous) + len(piece) + 2 > min(overlap, target):
                    break
                carried.insert(0, previous)
                carried_size += len(previous) + 1
            current, size = carried, carried_size
        current.append(piece)
        size += len(piece) + 1
        fresh = True
    if current and fresh:
        passages.append(Passage(path, "\n\n".join(current)))
    return passages


def chunk_document(sections: Iterable[tuple[tuple[str, ...], str]], **options: int) -> list[Passage]:
    out: list[Passage] = []
    for heading_path, text in sections:
        out.extend(chunk_section(heading_path, text, **options))
    return out
