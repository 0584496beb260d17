"""Exports made a page at a time read exactly as the whole would: JSON arrays as json.dumps(indent=1) writes them,
CSV as to_csv writes it, and a count that follows the pages read."""

from __future__ import annotations

import json

import pytest

from appliance.exports.spreadsheets import csv_chunks, to_csv
from appliance.exports.streamed import StreamedExport, json_array_chunks

ITEMS = [{"id": "c1", "text": "line one\nline two", "nested": {"list": [1, 2, {"deep": None}], "empty": []}},
         {"id": "c2", "text": "ünïcode \"quoted\" \\ back", "n": 1.5}, [], {}, "plain", 3]


@pytest.mark.parametrize("pages", [
    [], [[]], [ITEMS], [[item] for item in ITEMS], [ITEMS[:2], [], ITEMS[2:4], [], ITEMS[4:]],
])
def test_a_json_array_made_a_page_at_a_time_is_byte_for_byte_the_whole_one(pages):
    items = [item for page in pages for item in page]

    made = "".join(json_array_chunks(pages))

    assert made == json.dumps(items, ensure_ascii=False, indent=1)
    assert json.loads(made) == items


@pytest.mark.parametrize("rows_per_chunk", [1, 2, 3, 500])
def test_csv_made_in_chunks_is_the_whole_csv_with_formulas_defused(rows_per_chunk):
    rows = [[n, f"=cmd|' /C calc'!A{n}", "comma, \"quote\"\nnewline"] for n in range(7)]

    chunks = list(csv_chunks(("n", "text", "note"), rows, rows_per_chunk=rows_per_chunk))

    assert "".join(chunks) == to_csv(("n", "text", "note"), rows)
    assert len(chunks) == 7 // rows_per_chunk + 1
    assert chunks[0].startswith("n,text,note\r\n") and "=cmd" not in "".join(chunks).replace("'=cmd", "")


def test_the_count_follows_the_pages_read_and_is_whole_at_the_end():
    export = StreamedExport("application/json", "x.json")
    export.chunks = json_array_chunks(export.counting(iter([[1, 2], [3], [4, 5, 6]])))

    assert next(export.chunks) == "[" and export.count == 0  # nothing read yet
    assert next(export.chunks) == "\n 1,\n 2" and export.count == 2
    rest = b"".join(export.encoded()).decode()
    assert export.count == 6 and json.loads("[\n 1,\n 2" + rest) == [1, 2, 3, 4, 5, 6]
