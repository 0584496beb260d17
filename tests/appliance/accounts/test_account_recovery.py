"""Recovering and protecting accounts: password reset, email verification, the TOTP second factor, disabling."""

from __future__ import annotations

import pytest

from appliance.accounts.totp import code_at, step_of
from appliance.errors import (
    AuthenticationFailed,
    InvalidToken,
    SecondFactorRequired,
    TooManyAttempts,
)
from appliance.services import build_services
from tests.appliance.accounts.account_steps import (
    ALICE,
    HOME,
    NEW_PASSWORD,
    OPERATOR,
    PASSWORD,
    alive,
    current_code,
    enrol,
    log_in,
    make_user,
    requested_reset_token,
    reset,
)
from tests.appliance.mail.queued_mail import last_mail_to, token_in

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
