"""The Training data table: each source with its kind, live status (queued, indexing with how far it got, ready, or
failed with the reason), size, passages and last refresh; and how a status reads in words."""

from __future__ import annotations

from gui.models.table import Column, RecordsModel
from gui.widgets.formatting import ago, day, size

KINDS = {"file": "File", "text": "Pasted text", "qa": "Q&A pairs", "url": "Web page", "sitemap": "Sitemap"}
BUSY = ("queued", "indexing")
FAILED = "#fdecea"
WORKING = "#fff8e1"


def status_text(source: dict) -> str:
    """"ready", "queued", "indexing 40%" (how much of it the embedding model has read), "failed: <reason>"."""
    status = source["status"]
    if status == "indexing":
        progress = source.get("progress")
        if progress and progress.get("total"):
            return f"indexing {100 * progress['done'] // progress['total']}%"
        return "indexing"
    if status == "failed":
        return f"failed: {(source.get('error') or 'no reason was given').rstrip('.')}"
    return status


def is_busy(source: dict) -> bool:
    return source["status"] in BUSY


def _highlight(source: dict) -> str | None:
    return FAILED if source["status"] == "failed" else WORKING if is_busy(source) else None


def sources_model(parent=None) -> RecordsModel:
    return RecordsModel([
        Column("title", "Title"),
        Column("kind", "Kind", show=lambda s: KINDS.get(s["kind"], s["kind"])),
        Column("status", "Status", show=status_text),
        Column("size_bytes", "Size", show=lambda s: size(s["size_bytes"]) if s["kind"] not in ("url", "sitemap")
               else "", sort=lambda s: s["size_bytes"]),
        Column("chunk_count", "Passages", show=lambda s: str(s["chunk_count"]), sort=lambda s: s["chunk_count"]),
        Column("refreshed_at", "Last refresh", show=lambda s: ago(s["refreshed_at"]) if s["refreshed_at"] else
               "not yet", sort=lambda s: s["refreshed_at"] or ""),
        Column("created_at", "Added", show=lambda s: day(s["created_at"]), sort=lambda s: s["created_at"]),
    ], highlight=_highlight, parent=parent)


STATUS_COLUMN = 2
