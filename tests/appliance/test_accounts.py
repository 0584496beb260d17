"""The accounts services over a real control database: sessions, login and its throttle, password rules, change and
reset, email verification, the TOTP second factor, and disabling accounts."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import unquote

import argon2
import pytest

from appliance.accounts.totp import code_at, step_of
from appliance.errors import (
    AuthenticationFailed,
    EmailNotVerified,
    InvalidToken,
    SecondFactorRequired,
    TooManyAttempts,
    WeakPassword,
)
from appliance.keys.keystore import CONTROL_DB_KEY
from appliance.services import build_services
from tests.appliance.on_disk import plaintext_contains

PASSWORD = "violet anchor drizzle 42"
NEW_PASSWORD = "copper lantern meadow 17"
OPERATOR, ALICE = "olga@example.com", "alice@example.com"
HOME = "192.0.2.10"
WEAK = pytest.mark.parametrize(("weak", "reason"), [
    ("short words", "too short"),
    ("q1w2e3r4t5y6", "common passwords"),
    ("Alice-in-wonderland", "name part of your email address"),
])


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


def enrol(services, clock, user, login) -> tuple[bytes, list[str]]:
    """Enrol TOTP for `user` from the session `login`; returns the secret and the recovery codes."""
    text = services.auth.start_enrolment(user).secret
    secret = base64.b32decode(text + "=" * (-len(text) % 8))
    codes = services.auth.confirm_enrolment(user, code=current_code(secret, clock), session_id=login.session.id,
                                            client_address=HOME)
    clock.advance(seconds=30)  # the enrolment code's time step is spent; later logins need the next one
    return secret, codes


# Sessions


@pytest.mark.parametrize(("idle_minutes", "expected"), [(29, True), (31, False)])
def test_a_session_ends_after_30_idle_minutes(services, clock, idle_minutes, expected):
    make_user(services)
    login = log_in(services)
    clock.advance(minutes=idle_minutes)

    assert alive(services, login) is expected


def test_activity_keeps_a_session_alive_past_the_idle_timeout(services, clock):
    make_user(services)
    login = log_in(services)
    for _ in range(6):
        clock.advance(minutes=20)
        assert alive(services, login)


def test_a_session_ends_twelve_hours_after_login_even_when_in_use(services, clock):
    user = make_user(services)
    login = log_in(services)
    for _ in range(35):  # every 20 minutes, up to 11 h 40 min
        clock.advance(minutes=20)
        assert alive(services, login)

    clock.advance(minutes=20)
    assert not alive(services, login)
    assert services.sessions.list_for_user(user.id) == []


def test_every_login_has_its_own_token_and_logout_ends_only_that_session_on_the_server(services):
    user = make_user(services)
    leaving, staying = log_in(services), log_in(services)
    assert leaving.token != staying.token

    services.auth.logout(leaving.session, client_address=HOME)

    assert (alive(services, leaving), alive(services, staying)) == (False, True)
    assert [s.id for s in services.sessions.list_for_user(user.id)] == [staying.session.id]


def test_a_users_session_list_leaves_out_idle_sessions(services, clock):
    user = make_user(services)
    log_in(services)
    clock.advance(minutes=20)
    live = log_in(services)
    clock.advance(minutes=15)

    assert [s.id for s in services.sessions.list_for_user(user.id)] == [live.session.id]


def test_only_the_sha256_of_a_session_token_is_stored(services, appliance):
    make_user(services)
    token = log_in(services).token.encode()

    row = appliance.control_db.query_one("SELECT * FROM sessions")
    assert bytes(row["token_hash"]) == hashlib.sha256(token).digest()
    assert not [value for value in tuple(row) if token in (value if isinstance(value, bytes) else str(value).encode())]
    assert not plaintext_contains(appliance.layout.control_db, appliance.keystore.get(CONTROL_DB_KEY), token)


def test_ending_all_sessions_signs_a_user_out_everywhere(services):
    user = make_user(services)
    logins = [log_in(services) for _ in range(3)]

    assert services.auth.end_all_sessions(user.id, actor_id=user.id, client_address=HOME) == 3
    assert not any(alive(services, login) for login in logins)


# Login


def test_a_wrong_password_and_an_unknown_address_fail_alike(services):
    make_user(services)
    with pytest.raises(AuthenticationFailed) as wrong_password:
        log_in(services, password="not the password at all")
    with pytest.raises(AuthenticationFailed) as unknown_address:
        log_in(services, email="nobody@example.com")

    assert type(wrong_password.value) is type(unknown_address.value) is AuthenticationFailed
    assert str(wrong_password.value) == str(unknown_address.value)


def test_an_unverified_account_is_told_so_only_after_the_right_password(services):
    make_user(services, verified=False)
    with pytest.raises(AuthenticationFailed) as wrong_password:
        log_in(services, password="not the password at all")
    assert not isinstance(wrong_password.value, EmailNotVerified)

    with pytest.raises(EmailNotVerified):
        log_in(services)


def test_after_too_many_failures_the_password_is_not_even_checked(services, settings, monkeypatch):
    make_user(services)
    hasher, checked = services.users.hasher, []
    real_verify = hasher.verify
    monkeypatch.setattr(hasher, "verify", lambda *args: checked.append(args) or real_verify(*args))
    fail_until_throttled(services, settings)
    assert len(checked) == settings.login_max_failures_per_account

    with pytest.raises(TooManyAttempts, match="for this account"):
        log_in(services)
    assert len(checked) == settings.login_max_failures_per_account


def test_the_login_throttle_lifts_once_the_failures_leave_the_window(services, settings, clock):
    make_user(services)
    fail_until_throttled(services, settings)
    clock.advance(minutes=settings.login_window_minutes - 1)
    with pytest.raises(TooManyAttempts):
        log_in(services)

    clock.advance(minutes=1)
    assert log_in(services).user.email == ALICE


def test_every_login_attempt_is_audited_with_its_outcome_and_never_the_password(services):
    alice = make_user(services)
    make_user(services, "bob@example.com", verified=False)
    guesses = ["first wrong guess", "second wrong guess"]
    with pytest.raises(AuthenticationFailed):
        log_in(services, password=guesses[0])
    with pytest.raises(AuthenticationFailed):
        log_in(services, email="nobody@example.com", password=guesses[1])
    with pytest.raises(EmailNotVerified):
        log_in(services, email="bob@example.com")
    login = log_in(services)

    events = services.audit.events(action="auth.login")
    assert [(e.outcome, e.details.get("reason")) for e in events] == [
        ("failure", "bad_credentials"), ("failure", "bad_credentials"), ("failure", "email_not_verified"),
        ("success", None)]
    last = events[-1]
    assert (last.actor_id, last.target_id, last.client_address) == (alice.id, login.session.id, HOME)
    assert not any(secret in repr(events) for secret in [*guesses, PASSWORD])


def test_a_login_refused_by_the_throttle_is_audited_too(services, settings):
    # During a guessing attack the log must show the attempts going on after the lock, not fall silent.
    make_user(services)
    fail_until_throttled(services, settings)
    with pytest.raises(TooManyAttempts):
        log_in(services)

    events = services.audit.events(action="auth.login")
    assert len(events) == settings.login_max_failures_per_account + 1
    assert events[-1].outcome in ("failure", "denied")


def test_login_rehashes_a_password_made_with_weaker_argon2_parameters(services, appliance, settings):
    user = make_user(services)

    def stored_time_cost() -> int:
        encoded = appliance.control_db.query_one("SELECT password_hash FROM users WHERE id = ?", (user.id,))[0]
        return argon2.extract_parameters(encoded).time_cost

    assert stored_time_cost() == 1
    stronger = build_services(appliance, settings.replace(argon2_time_cost=2))
    log_in(stronger)

    assert stored_time_cost() == 2
    assert log_in(stronger).user.id == user.id


# Passwords


@WEAK
def test_a_weak_password_is_refused_when_an_account_is_made(services, weak, reason):
    with pytest.raises(WeakPassword, match=reason):
        services.users.create_operator(email=ALICE, password=weak)
    with pytest.raises(WeakPassword, match=reason), services.appliance.control_db.transaction() as conn:
        services.users.create_pending(conn, email=ALICE, password=weak)

    assert services.users.find_by_email(ALICE) is None


@WEAK
def test_a_weak_password_is_refused_when_a_password_is_changed(services, weak, reason):
    user = make_user(services)
    with pytest.raises(WeakPassword, match=reason):
        change_password(services, user, log_in(services), new=weak)

    assert log_in(services).user.id == user.id


def test_changing_the_password_needs_the_current_one(services):
    user = make_user(services)
    with pytest.raises(AuthenticationFailed, match="current password"):
        change_password(services, user, log_in(services), current="not the password at all")

    with pytest.raises(AuthenticationFailed):
        log_in(services, password=NEW_PASSWORD)


def test_changing_the_password_ends_other_sessions_keeps_this_one_and_mails_a_notice(services):
    user = make_user(services)
    here, elsewhere = log_in(services), log_in(services)
    mails_before = len(mails_to(services, ALICE))

    assert change_password(services, user, here) == 1

    assert (alive(services, here), alive(services, elsewhere)) == (True, False)
    assert len(mails_to(services, ALICE)) == mails_before + 1
    assert last_mail_to(services, ALICE)["subject"] == "Your ChatSpark password was changed"
    assert log_in(services, password=NEW_PASSWORD).user.id == user.id


# Password reset


def test_a_reset_for_an_unknown_address_queues_nothing_and_answers_like_a_known_one(services):
    make_user(services)
    queued = len(services.outbox.recent())

    assert services.auth.request_reset(email="nobody@example.com", client_address=HOME) is None
    assert len(services.outbox.recent()) == queued
    assert services.auth.request_reset(email=ALICE, client_address=HOME) is None
    newest = services.outbox.recent()
    assert (len(newest), newest[0].recipient, newest[0].subject) == (queued + 1, ALICE, "Reset your ChatSpark password")


def test_the_link_in_a_reset_mail_sets_a_new_password_once(services):
    make_user(services)
    token = requested_reset_token(services)

    reset(services, token)

    assert log_in(services, password=NEW_PASSWORD).user.email == ALICE
    with pytest.raises(InvalidToken):
        reset(services, token)


@pytest.mark.parametrize(("minutes", "valid"), [(29, True), (30, False)])
def test_a_reset_link_expires_after_30_minutes(services, clock, minutes, valid):
    make_user(services)
    token = requested_reset_token(services)
    clock.advance(minutes=minutes)

    if valid:
        assert reset(services, token).email == ALICE
    else:
        with pytest.raises(InvalidToken):
            reset(services, token)


def test_a_second_reset_request_invalidates_the_first_link(services):
    make_user(services)
    first = requested_reset_token(services)
    second = requested_reset_token(services)

    with pytest.raises(InvalidToken):
        reset(services, first)
    reset(services, second)


def test_completing_a_reset_ends_every_session(services):
    user = make_user(services)
    logins = [log_in(services), log_in(services)]

    reset(services, requested_reset_token(services))

    assert services.sessions.list_for_user(user.id) == []
    assert not any(alive(services, login) for login in logins)


def test_a_reset_does_not_bypass_the_second_factor(services, clock):
    user = make_user(services)
    secret, _ = enrol(services, clock, user, log_in(services))
    token = requested_reset_token(services)

    with pytest.raises(SecondFactorRequired):
        reset(services, token)
    with pytest.raises(SecondFactorRequired):
        reset(services, token, totp_code=code_at(secret, step_of(clock.now()) - 10))
    with pytest.raises(AuthenticationFailed):
        log_in(services, password=NEW_PASSWORD, totp_code=current_code(secret, clock))

    reset(services, token, totp_code=current_code(secret, clock))
    clock.advance(seconds=30)
    assert log_in(services, password=NEW_PASSWORD, totp_code=current_code(secret, clock)).user.id == user.id


def test_guessing_second_factor_codes_on_a_reset_link_is_cut_off_like_on_login(services, settings, clock):
    # Login counts a wrong code as a failure towards the throttle; a reset link must not be an unthrottled way to
    # try all 10^6 codes against someone whose mailbox was taken over.
    user = make_user(services)
    secret, _ = enrol(services, clock, user, log_in(services))
    token = requested_reset_token(services)
    for guess in range(settings.login_max_failures_per_account):
        with pytest.raises(SecondFactorRequired):
            reset(services, token, totp_code=code_at(secret, step_of(clock.now()) - 10 - guess))

    with pytest.raises((TooManyAttempts, InvalidToken)):
        reset(services, token, totp_code=current_code(secret, clock))


# Email verification


def test_the_link_in_the_verification_mail_verifies_the_address_once(services):
    user = make_user(services, verified=False)
    assert (user.status, user.email_verified) == ("pending", False)
    token = token_in(last_mail_to(services, ALICE)["body"], "/account/verify")

    verified = services.users.verify_email(token, client_address=HOME)

    assert (verified.status, verified.email_verified) == ("active", True)
    with pytest.raises(InvalidToken):
        services.users.verify_email(token, client_address=HOME)
    assert log_in(services).user.id == user.id


def test_a_verification_link_expires_after_verification_hours(services, settings, clock):
    user = make_user(services, verified=False)
    token = token_in(last_mail_to(services, ALICE)["body"], "/account/verify")
    clock.advance(hours=settings.verification_hours)

    with pytest.raises(InvalidToken):
        services.users.verify_email(token, client_address=HOME)
    assert services.users.get(user.id).status == "pending"


# The TOTP second factor


def test_after_enrolment_login_needs_a_code_from_the_authenticator(services, clock):
    user = make_user(services)
    secret, _ = enrol(services, clock, user, log_in(services))

    with pytest.raises(SecondFactorRequired):
        log_in(services)
    assert log_in(services, totp_code=current_code(secret, clock)).user.second_factor


def test_a_code_is_refused_the_second_time_within_its_30_seconds(services, clock):
    user = make_user(services)
    secret, _ = enrol(services, clock, user, log_in(services))
    code = current_code(secret, clock)
    log_in(services, totp_code=code)
    clock.advance(seconds=10)

    with pytest.raises(AuthenticationFailed, match="not valid") as refused:
        log_in(services, totp_code=code)
    assert type(refused.value) is AuthenticationFailed


def test_each_recovery_code_logs_in_once(services, clock):
    user = make_user(services)
    _, codes = enrol(services, clock, user, log_in(services))

    assert log_in(services, recovery_code=codes[0]).user.id == user.id
    with pytest.raises(AuthenticationFailed, match="not valid"):
        log_in(services, recovery_code=codes[0])
    assert log_in(services, recovery_code=codes[1]).user.id == user.id


def test_disabling_the_second_factor_needs_the_password_and_then_login_needs_no_code(services, clock):
    user = make_user(services)
    enrol(services, clock, user, log_in(services))
    with pytest.raises(AuthenticationFailed):
        services.auth.disable_second_factor(user, password="not the password at all", client_address=HOME)

    services.auth.disable_second_factor(user, password=PASSWORD, client_address=HOME)
    assert not log_in(services).user.second_factor


@pytest.fixture
def strict(appliance, settings, services):
    """Services of an appliance that requires operators, owners and admins to use a second factor."""
    return build_services(appliance, settings.replace(require_second_factor_for_admins=True))


def test_when_required_an_operator_may_only_enrol_until_enrolment_is_confirmed(strict, clock):
    operator = strict.users.create_operator(email=OPERATOR, password=PASSWORD)
    login = log_in(strict, OPERATOR)
    assert strict.sessions.authenticate(login.token).enrol_only

    secret, _ = enrol(strict, clock, operator, login)

    assert not strict.sessions.authenticate(login.token).enrol_only
    assert not log_in(strict, OPERATOR, totp_code=current_code(secret, clock)).session.enrol_only


@pytest.mark.parametrize(("role", "enrol_only"), [("owner", True), ("admin", True), ("editor", False),
                                                  ("viewer", False)])
def test_when_required_workspace_owners_and_admins_must_enrol_but_not_editors_or_viewers(strict, role, enrol_only):
    operator = strict.users.create_operator(email=OPERATOR, password=PASSWORD)
    user = make_user(strict)
    owner_id = user.id if role == "owner" else operator.id
    workspace = strict.workspaces.create(name="Research", owner_id=owner_id, actor_id=operator.id,
                                         client_address=HOME)
    if role != "owner":
        with strict.appliance.control_db.transaction() as conn:
            strict.workspaces.add_member(conn, workspace_id=workspace.id, user_id=user.id, role=role)

    assert log_in(strict).session.enrol_only is enrol_only


# Disabling accounts


def test_disabling_an_account_ends_its_sessions_and_blocks_login_until_re_enabled(services):
    operator = services.users.create_operator(email=OPERATOR, password=PASSWORD)
    user = make_user(services)
    logins = [log_in(services), log_in(services)]

    services.users.set_disabled(user.id, disabled=True, actor_id=operator.id, client_address=HOME)

    assert not any(alive(services, login) for login in logins)
    with pytest.raises(AuthenticationFailed) as refused:
        log_in(services)
    with pytest.raises(AuthenticationFailed) as wrong_password:
        log_in(services, email="nobody@example.com")
    assert str(refused.value) == str(wrong_password.value)

    services.users.set_disabled(user.id, disabled=False, actor_id=operator.id, client_address=HOME)
    assert log_in(services).user.status == "active"
