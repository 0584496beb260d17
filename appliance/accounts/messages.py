"""The mail the accounts system sends: subjects, plain-text bodies and the links in them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Links:
    """Absolute links to the appliance's own pages, built on its configured public URL."""

    public_url: str

    def _page(self, path: str, token: str) -> str:
        return f"{self.public_url.rstrip('/')}{path}?token={quote(token, safe='')}"

    def verify_email(self, token: str) -> str:
        return self._page("/account/verify", token)

    def reset_password(self, token: str) -> str:
        return self._page("/account/reset", token)

    def invitation(self, token: str) -> str:
        return self._page("/invitations/accept", token)


def verification(link: str, *, hours: int) -> tuple[str, str]:
    return ("Confirm your email address for ChatSpark",
            f"Confirm this address to finish setting up your ChatSpark account:\n\n{link}\n\n"
            f"The link works once and expires in {hours} hours. If you did not expect this, ignore it.\n")


def password_reset(link: str, *, minutes: int) -> tuple[str, str]:
    return ("Reset your ChatSpark password",
            f"Someone asked to reset the password of this ChatSpark account. To choose a new one, open:\n\n{link}\n\n"
            f"The link works once and expires in {minutes} minutes. If it was not you, ignore this message: "
            "your password stays as it is.\n")


def invitation(link: str, *, workspace: str, role: str, inviter: str, inviter_email: str,
               hours: int) -> tuple[str, str]:
    # The mail opens with our own words and names the inviter by address as well: a display name is whatever its
    # owner typed, so it must not read as the first line of the message or stand alone as who sent it.
    by = f"\"{inviter}\" <{inviter_email}>" if inviter and inviter != inviter_email else inviter_email
    return (f"You are invited to {workspace} on ChatSpark",
            f"You are invited to the ChatSpark workspace \"{workspace}\" as {role}, by {by}.\n\n"
            f"To accept, open:\n\n{link}\n\n"
            f"The invitation works once and expires in {hours} hours.\n")


def password_changed(*, when: str) -> tuple[str, str]:
    return ("Your ChatSpark password was changed",
            f"The password of your ChatSpark account was changed at {when} (UTC), and your other sessions were "
            "ended. If this was not you, reset your password now and tell your administrator.\n")
