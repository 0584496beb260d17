"""Visitors' words with personal data masked, for those who may count questions but not read conversations."""

from __future__ import annotations

import re

# Order matters: a link may hold an address or a number, and an address may hold digits.
_MASKS = (
    (re.compile(r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)\S+", re.IGNORECASE), "[link]"),
    (re.compile(r"[^\s@<>()\[\]{},;:\"']+@[^\s@<>()\[\]{},;:\"']+"), "[email]"),
    # Phone numbers, card and account numbers written in groups: seven digits or more with spaces, dots, dashes,
    # slashes or brackets between them, with or without a leading +.
    (re.compile(r"\+?\(?\d(?:[\s().\-/]{0,3}\d){6,}"), "[number]"),
    # Any other run of five digits or more (customer, order, ticket and postal numbers); years stay readable.
    (re.compile(r"\d{5,}"), "[number]"),
)


def redact(text: str) -> str:
    """`text` with links, email addresses, phone numbers and long digit runs replaced by [link], [email] and
    [number]. Names and street addresses cannot be told from other words, so the text is still the visitor's."""
    for pattern, mask in _MASKS:
        text = pattern.sub(mask, text)
    return text
