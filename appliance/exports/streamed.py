"""Exports made a page at a time while they are read, so a workspace's million messages never sit in memory at once:
the chunks of a JSON array, and a count that is complete once every chunk has been read."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


@dataclass
class StreamedExport:
    media_type: str
    filename: str
    chunks: Iterator[str] = field(default_factory=lambda: iter(()))
    count: int = 0                  # items in the pages read so far

    def counting(self, pages: Iterable[list[T]]) -> Iterator[list[T]]:
        for page in pages:
            self.count += len(page)
            yield page

    def encoded(self) -> Iterator[bytes]:
        return (chunk.encode("utf-8") for chunk in self.chunks)


def json_array_chunks(pages: Iterable[list]) -> Iterator[str]:
    """A JSON array of the pages' items, a page at a time, exactly as `json.dumps(items, indent=1)` writes it."""
    yield "["
    first = True
    for page in pages:
        if not page:
            continue
        # Items sit one level in: every line of each item gains one space (JSON escapes newlines inside strings).
        body = ",\n".join(" " + json.dumps(item, ensure_ascii=False, indent=1).replace("\n", "\n ") for item in page)
        yield ("\n" if first else ",\n") + body
        first = False
    yield "]" if first else "\n]"
