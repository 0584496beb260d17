"""Request and response bodies kept in memory, never spooled to temporary files.

Waitress writes a request body past `inbuf_overflow` (512 KiB) and a response past `outbuf_overflow` (1 MiB) to a
temporary file, and Werkzeug does the same with an uploaded file past 500 KB. Those files are plaintext in the
system's temporary directory: an uploaded handbook, a downloaded original or a conversation export would touch the
disk unencrypted. Bodies are bounded instead: Caddy and waitress refuse any request larger than
`max_request_body_bytes`, so each in-flight request holds at most that much memory.
"""

from __future__ import annotations

import io
from typing import IO

from flask import Request

# Room for the request line and headers on top of the largest body: the whole request stays in memory.
HEADER_ALLOWANCE = 1 << 20
# A response larger than this would go to a temporary file; it is already in memory (or streamed in chunks that
# waitress stops asking for past its high watermark), so it never should.
NEVER = 1 << 62


def waitress_buffers(max_request_body_bytes: int) -> dict[str, int]:
    """Waitress settings under which neither a request nor a response ever overflows to a temporary file."""
    return {"inbuf_overflow": max_request_body_bytes + HEADER_ALLOWANCE, "outbuf_overflow": NEVER}


class InMemoryRequest(Request):
    """Uploaded files parsed into memory (at most the body limit), not into a SpooledTemporaryFile."""

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        return io.BytesIO()
