"""Names people give (display names, workspaces, agents, API keys, form labels): one line of printable text."""

from __future__ import annotations

import unicodedata

from appliance.errors import ValidationError

# What each refused kind of character is, in words a person can act on. Names travel into mail subjects and bodies,
# logs, CSV files and page titles: a line break there starts a new header or line, an invisible or reordering
# character makes a name read as something else.
_REFUSED = {
    "Cc": "a control character (such as a tab or a line break)",
    "Cf": "an invisible formatting character (such as a direction override or a zero-width space)",
    "Cs": "an invalid character (half of a surrogate pair)",
    "Co": "a private-use character",
    "Cn": "a character Unicode does not define",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}
# The zero-width joiner and non-joiner are format characters too, but emoji sequences and scripts such as Persian and
# Devanagari need them, and they break no line: the only ones let through.
_JOINERS = frozenset({"\u200c", "\u200d"})


def refused_character(text: str) -> tuple[int, str] | None:
    """The position (from 1) and kind of the first character a name may not hold, or None if there is none."""
    for position, char in enumerate(text, start=1):
        kind = unicodedata.category(char)
        if kind in _REFUSED and char not in _JOINERS:
            return position, _REFUSED[kind]
    return None


def check_name(value: object, *, what: str, max_length: int = 100, required: bool = True) -> str:
    """The name as stored (NFC, no surrounding spaces); ValidationError naming `what` and the rule, never the name.

    `what` reads as the start of a sentence's subject, like "a workspace name" or "the agent's 'name'"."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be text")
    refused = refused_character(value)
    if refused is not None:
        position, kind = refused
        raise ValidationError(f"{what} must be a single line of printable text, but character {position} is {kind}; "
                              "remove it and try again")
    name = unicodedata.normalize("NFC", value).strip()
    if required and not name:
        raise ValidationError(f"{what} is required: 1 to {max_length} characters")
    if len(name) > max_length:
        raise ValidationError(f"{what} is at most {max_length} characters; this one has {len(name)}")
    return name
