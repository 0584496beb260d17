"""Files the appliance hands back to save: the Content-Disposition of an attachment, for any name a person gave.

RFC 6266: `filename` carries an ASCII stand-in that every client reads, `filename*` the real name in UTF-8 (RFC 8187
percent-encoding). A header may hold only Latin-1 and never a line break, so a name is never put there as it is.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

_FALLBACK_UNSAFE = set('"\\/;%')


def attachment(filename: str, *, default: str = "download") -> str:
    """`attachment; filename="..."; filename*=UTF-8''...` for `filename`, whatever characters it holds."""
    name = "".join(c for c in unicodedata.normalize("NFC", filename or "")
                   if unicodedata.category(c)[0] != "C" and c not in "\u2028\u2029").strip().replace("/", "_")
    name = name[:200] or default
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in _FALLBACK_UNSAFE else "_" for c in name)
    value = f'attachment; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value
