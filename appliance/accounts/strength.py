"""How hard a secret is to guess: one policy for passwords and every passphrase the appliance accepts (length, the
common-password list, repeats, sequences, keyboard patterns, dates and the words of its context), estimated by zxcvbn.

No composition rules: a long phrase of ordinary words passes, `Password1!` does not. Messages say what to do and
never repeat the secret, nor any part of it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path
from typing import Iterable

import zxcvbn

from appliance import resources
from appliance.errors import WeakPassphrase, WeakPassword

MIN_LENGTH = 12
# zxcvbn's score 4: 10^10 guesses or more. Passphrases guard files that can be attacked offline (exports, recovery
# kits, the wrapped master key), and a password's hash might be one day; at that many guesses a slow hash holds.
MIN_GUESSES_LOG10 = 10
# The estimate takes time that grows with the length, and zxcvbn refuses more than 72 characters; a longer secret is
# judged by its start, which must be strong on its own.
ESTIMATED_CHARACTERS = 64
# Below this a context word ("al", "jo", "it") is too likely to occur by chance in a good passphrase.
MIN_CONTEXT_WORD = 3
# The product's own words, the first an attacker tries against any secret of this appliance.
PRODUCT_WORDS = ("chatspark", "chat spark", "appliance", "chatspark appliance")

_WORD = re.compile(r"[^\W_]+")
# Advice for each kind of weakness zxcvbn finds, in the order they are given.
_ADVICE = {
    "repeat": "avoid repeated characters or words (like \"aaa\" or \"abcabc\")",
    "sequence": "avoid sequences (like \"abcd\" or \"6543\")",
    "spatial": "avoid keyboard patterns (like \"qwerty\" or \"zxcvbn\")",
    "date": "avoid dates and years",
    "context": "avoid your name, your email address, your workspace's name and the product's name",
    "variant": "swapping letters for look-alikes (\"p@ssw0rd\") or spelling words backwards does not help much",
    "common": "avoid common words and passwords on their own",
}


def default_common_passwords_path() -> Path:
    """The shipped common-password list: in the frozen bundle or beside the source tree."""
    return resources.config_dir() / "common-passwords.txt"


def load_common_passwords(path: Path) -> frozenset[str]:
    """Read a list of one password a line, lower-cased, skipping blank lines and '#' comments."""
    entries = set()
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            entry = line.rstrip("\r\n")
            if entry.strip() and not entry.startswith("#"):
                entries.add(unicodedata.normalize("NFC", entry).lower())
    return frozenset(entries)


@functools.cache
def shipped_common_passwords() -> frozenset[str]:
    """The shipped list, read once, for the checks that have no policy handed to them (passphrases, the CLI)."""
    return load_common_passwords(default_common_passwords_path())


def context_words(*texts: str | None) -> list[str]:
    """The guessable words of a secret's context: each text whole, and its words (an address's local part and its
    domain's labels, a name's words), lower-cased, of at least MIN_CONTEXT_WORD characters."""
    words: dict[str, None] = {}
    for text in texts:
        folded = unicodedata.normalize("NFC", text or "").strip().lower()
        if len(folded) < MIN_CONTEXT_WORD:
            continue
        words[folded] = None
        local, at, domain = folded.rpartition("@")
        for part in (local, domain.rpartition(".")[0]) if at else (folded,):
            if len(part) >= MIN_CONTEXT_WORD:
                words[part] = None
            words.update((w, None) for w in _WORD.findall(part) if len(w) >= MIN_CONTEXT_WORD)
    return list(words)


class SecretPolicy:
    """What a new password or passphrase must be: long enough, not common, not guessable from its context."""

    def __init__(self, common: frozenset[str], *, kind: str = "password", min_length: int = MIN_LENGTH,
                 max_length: int = 256) -> None:
        if not 0 < min_length <= max_length:
            raise ValueError(f"secret lengths need 0 < min_length <= max_length, not {min_length}, {max_length}")
        if kind not in ("password", "passphrase"):
            raise ValueError(f"a secret is a password or a passphrase, not {kind!r}")
        self._common = common
        self.kind = kind
        self.min_length = min_length
        self.max_length = max_length
        self._error = WeakPassword if kind == "password" else WeakPassphrase

    def check(self, secret: str, *, context: Iterable[str | None] = ()) -> None:
        """Raise WeakPassword (WeakPassphrase) naming the first rule the secret breaks and what to do instead.

        `context` holds what an attacker would try first: the person's address and name, the workspace's name."""
        kind, error = self.kind, self._error
        if not isinstance(secret, str):
            raise error(f"The {kind} must be text.")
        if any(unicodedata.category(char) in ("Cc", "Cs") for char in secret):
            raise error(f"The {kind} contains a control character (such as a tab, line break or NUL) or an invalid "
                        "one, which cannot be typed reliably. Remove it and try again.")
        candidate = unicodedata.normalize("NFC", secret)
        if len(candidate) < self.min_length:
            raise error(f"The {kind} is too short: it has {len(candidate)} characters and needs at least "
                        f"{self.min_length} characters. Add words: several unrelated words are easy to remember.")
        if len(candidate) > self.max_length:
            raise error(f"The {kind} is too long: it has {len(candidate)} characters and may have at most "
                        f"{self.max_length} characters. Choose a shorter one.")
        folded = candidate.lower()
        if folded in self._common:
            raise error(f"The {kind} is on the list of common passwords that attackers try first. Add another word or "
                        f"two, or choose a different one: several unrelated words make a strong {kind}.")
        words = context_words(*PRODUCT_WORDS, *context)
        # Words of the context add nothing an attacker would not try first: what is left without them must be
        # strong on its own.
        rest = folded
        for word in sorted(words, key=len, reverse=True):
            rest = rest.replace(word, " ")
        if rest != folded:
            rest = " ".join(rest.split())  # the gaps they leave are no strength either
        estimate = (zxcvbn.zxcvbn(rest[:ESTIMATED_CHARACTERS], user_inputs=words) if rest
                    else {"guesses_log10": 0, "sequence": []})
        if estimate["guesses_log10"] < MIN_GUESSES_LOG10:
            advice = _advice(estimate["sequence"]) or [f"it is short for a {kind} made of so few different parts"]
            if rest != folded and "context" not in " ".join(advice):
                advice.insert(0, _ADVICE["context"])
            raise error(f"The {kind} is too easy to guess: {'; '.join(advice)}. Add another word or two that have "
                        f"nothing to do with you, your workspace or ChatSpark: several unrelated words make a strong "
                        f"{kind} that is easy to remember.")


def _advice(matches: list[dict]) -> list[str]:
    found = set()
    for match in matches:
        pattern = match["pattern"]
        if pattern in ("repeat", "sequence", "spatial", "date"):
            found.add(pattern)
        elif pattern == "regex":  # zxcvbn's only regex finds recent years
            found.add("date")
        elif pattern == "dictionary":
            if match.get("dictionary_name") == "user_inputs":
                found.add("context")
            elif match.get("l33t") or match.get("reversed"):
                found.add("variant")
            else:
                found.add("common")
    return [text for key, text in _ADVICE.items() if key in found]


def check_passphrase(passphrase: str, *, context: Iterable[str | None] = (), max_length: int = 1024) -> str:
    """A new passphrase (exports, recovery kits, the master key) checked against the one policy; returns it."""
    SecretPolicy(shipped_common_passwords(), kind="passphrase", max_length=max_length).check(passphrase,
                                                                                           context=context)
    return passphrase
