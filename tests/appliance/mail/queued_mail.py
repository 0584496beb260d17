"""Reading the mail the appliance queued, as its recipient would: subjects, bodies and the tokens in their links."""

from __future__ import annotations

import re
from urllib.parse import unquote


def mails_to(services, address: str) -> list:
    """Subject and body of every mail queued for `address`, oldest first."""
    return services.appliance.control_db.query(
        "SELECT subject, body FROM outbox WHERE recipient = ? ORDER BY id", (address,))


def last_mail_to(services, address: str):
    mails = mails_to(services, address)
    assert mails, f"no mail queued for {address}"
    return mails[-1]


def token_in(body: str, path: str) -> str:
    """The token of the first `path?token=...` link in a mail body."""
    match = re.search(rf"{re.escape(path)}\?token=(\S+)", body)
    assert match, f"no {path} link in {body!r}"
    return unquote(match.group(1))
