"""The accounts services over a real control database: sessions, login and its throttle, and password rules."""

from __future__ import annotations

import hashlib

import argon2
import pytest

from appliance.errors import (
    AuthenticationFailed,
    EmailNotVerified,
    TooManyAttempts,
    WeakPassword,
)
from appliance.keys.keystore import CONTROL_DB_KEY
from appliance.services import build_services
from tests.appliance.accounts.account_steps import (
    ALICE,
    HOME,
    NEW_PASSWORD,
    PASSWORD,
    WEAK,
    alive,
    change_password,
    fail_until_throttled,
    log_in,
    make_user,
)
from tests.appliance.mail.queued_mail import last_mail_to, mails_to
from tests.appliance.on_disk import plaintext_contains

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

