"""Steps the accounts tests share: users, logins, resets, enrolments, and what they are checked against."""

from __future__ import annotations

import base64

import pytest

from appliance.accounts.totp import code_at, step_of
from appliance.errors import (
    AuthenticationFailed,
)
from tests.appliance.mail.queued_mail import last_mail_to, token_in

PASSWORD = "violet anchor drizzle 42"
NEW_PASSWORD = "copper lantern meadow 17"
OPERATOR, ALICE = "olga@example.com", "alice@example.com"
HOME = "192.0.2.10"
WEAK = pytest.mark.parametrize(("weak", "reason"), [
    ("short words", "too short"),
    ("q1w2e3r4t5y6", "common passwords"),
    ("Alice-in-wonderland", "name part of your email address"),
])


def requested_reset_token(services) -> str:
    """Ask for a password reset for ALICE and return the token of the link mailed to her."""
    services.auth.request_reset(email=ALICE, client_address=HOME)
    return token_in(last_mail_to(services, ALICE)["body"], "/account/reset")


def reset(services, token: str, **codes):
    return services.auth.complete_reset(token=token, password=NEW_PASSWORD, client_address=HOME, **codes)


def make_user(services, email: str = ALICE, *, verified: bool = True):
    """A non-operator account, verified through the link in its mail unless told otherwise."""
    with services.appliance.control_db.transaction() as conn:
        user_id = services.users.create_pending(conn, email=email, password=PASSWORD)
    if verified:
        token = token_in(last_mail_to(services, email)["body"], "/account/verify")
        services.users.verify_email(token, client_address=HOME)
    return services.users.get(user_id)


def log_in(services, email: str = ALICE, password: str = PASSWORD, **codes):
    return services.auth.login(email=email, password=password, client_address=HOME, **codes)


def fail_until_throttled(services, settings) -> None:
    for _ in range(settings.login_max_failures_per_account):
        with pytest.raises(AuthenticationFailed):
            log_in(services, password="a wrong guess at it")


def change_password(services, user, login, *, current: str = PASSWORD, new: str = NEW_PASSWORD) -> int:
    return services.auth.change_password(user, session_id=login.session.id, current=current, new=new,
                                         client_address=HOME)


def alive(services, login) -> bool:
    """Whether the session a login started still authenticates its token."""
    try:
        return services.sessions.authenticate(login.token).id == login.session.id
    except AuthenticationFailed:
        return False


def current_code(secret: bytes, clock) -> str:
    return code_at(secret, step_of(clock.now()))


def enrol(services, clock, user, login, *, password: str = PASSWORD) -> tuple[bytes, list[str]]:
    """Enrol TOTP for `user` from the session `login`; returns the secret and the recovery codes."""
    text = services.auth.start_enrolment(user, password=password, client_address=HOME).secret
    secret = base64.b32decode(text + "=" * (-len(text) % 8))
    codes = services.auth.confirm_enrolment(user, code=current_code(secret, clock), password=password,
                                            session_id=login.session.id, client_address=HOME)
    clock.advance(seconds=30)  # the enrolment code's time step is spent; later logins need the next one
    return secret, codes

