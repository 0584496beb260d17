"""Login throttling over the real control database: per account, per address, moving window, clearing, pruning."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.accounts.throttle import LoginThrottle
from appliance.errors import TooManyAttempts

WINDOW = dt.timedelta(minutes=15)
ALICE = "alice@example.com"
HOME, CAFE, BOTNET = "192.0.2.10", "198.51.100.7", "203.0.113.66"


@pytest.fixture
def throttle(appliance, clock) -> LoginThrottle:
    return LoginThrottle(appliance.control_db, clock=clock, window=WINDOW, max_per_account=3, max_per_address=5)


def fail(throttle: LoginThrottle, times: int, *, account: str = ALICE, address: str = BOTNET) -> None:
    for _ in range(times):
        throttle.record_failure(account=account, address=address)


def failures_in_table(appliance) -> int:
    return appliance.control_db.query_one("SELECT count(*) FROM login_failures")[0]


def test_an_account_below_its_limit_may_try(throttle):
    fail(throttle, 2)

    throttle.check(account=ALICE, address=BOTNET)


def test_an_account_at_its_limit_is_refused_from_every_address(throttle):
    fail(throttle, 1, address=HOME)
    fail(throttle, 1, address=CAFE)
    fail(throttle, 1, address=BOTNET)

    for address in (HOME, CAFE, "2001:db8::1"):
        with pytest.raises(TooManyAttempts, match="for this account"):
            throttle.check(account=ALICE, address=address)
    throttle.check(account="bob@example.com", address=HOME)


def test_the_account_limit_ignores_the_case_of_the_account_name(throttle):
    fail(throttle, 1, account="Alice@Example.com")
    fail(throttle, 1, account="ALICE@EXAMPLE.COM")
    fail(throttle, 1, account="alice@example.com")

    with pytest.raises(TooManyAttempts):
        throttle.check(account="aLiCe@eXaMpLe.CoM", address=HOME)


def test_the_account_limit_ignores_case_beyond_ascii(throttle):
    fail(throttle, 3, account="ÉLODIE@example.com")

    with pytest.raises(TooManyAttempts):
        throttle.check(account="élodie@example.com", address=HOME)


def test_an_address_at_its_limit_is_refused_for_every_account(throttle):
    for number in range(5):
        fail(throttle, 1, account=f"user{number}@example.com")

    with pytest.raises(TooManyAttempts, match="from your network address"):
        throttle.check(account="someone.new@example.com", address=BOTNET)
    throttle.check(account="someone.new@example.com", address=HOME)


def test_an_ipv4_mapped_ipv6_address_counts_as_the_ipv4_address(throttle):
    for number in range(5):
        fail(throttle, 1, account=f"user{number}@example.com", address=f"::ffff:{BOTNET}")

    with pytest.raises(TooManyAttempts, match="from your network address"):
        throttle.check(account="someone.new@example.com", address=BOTNET)


def test_retry_after_counts_down_to_when_the_oldest_counted_failure_leaves_the_window(throttle, clock):
    fail(throttle, 1)
    clock.advance(minutes=4)
    fail(throttle, 2)
    clock.advance(seconds=30)

    with pytest.raises(TooManyAttempts) as raised:
        throttle.check(account=ALICE, address=HOME)

    assert raised.value.retry_after_seconds == (WINDOW - dt.timedelta(minutes=4, seconds=30)).total_seconds()
    assert "Wait 11 minutes" in str(raised.value)


def test_retry_after_waits_for_enough_failures_to_leave_when_more_than_the_limit_got_in(throttle, clock):
    fail(throttle, 1)
    clock.advance(minutes=5)
    fail(throttle, 3)  # e.g. concurrent attempts that all passed the check before the first failure was recorded

    with pytest.raises(TooManyAttempts) as raised:
        throttle.check(account=ALICE, address=HOME)

    assert raised.value.retry_after_seconds == WINDOW.total_seconds()


def test_retry_after_is_at_least_one_second(throttle, clock):
    fail(throttle, 3)
    clock.advance(seconds=WINDOW.total_seconds() - 0.25)

    with pytest.raises(TooManyAttempts) as raised:
        throttle.check(account=ALICE, address=HOME)

    assert raised.value.retry_after_seconds == 1
    assert "Wait 1 second " in str(raised.value)


def test_when_both_limits_are_reached_retry_after_is_the_longer_wait(throttle, clock):
    fail(throttle, 3, account=ALICE, address=BOTNET)
    clock.advance(minutes=10)
    fail(throttle, 5, account="bob@example.com", address=BOTNET)

    with pytest.raises(TooManyAttempts) as raised:
        throttle.check(account=ALICE, address=BOTNET)

    assert raised.value.retry_after_seconds == WINDOW.total_seconds()


def test_failures_leaving_the_window_unlock_the_account(throttle, clock):
    fail(throttle, 3)
    with pytest.raises(TooManyAttempts) as raised:
        throttle.check(account=ALICE, address=HOME)

    clock.advance(seconds=raised.value.retry_after_seconds - 1)
    with pytest.raises(TooManyAttempts):
        throttle.check(account=ALICE, address=HOME)
    clock.advance(seconds=1)
    throttle.check(account=ALICE, address=HOME)


def test_a_lock_lasts_at_most_one_window_after_the_last_failure(throttle, clock):
    fail(throttle, 1)
    clock.advance(minutes=14)
    fail(throttle, 1)
    clock.advance(minutes=14)
    fail(throttle, 1)
    throttle.check(account=ALICE, address=HOME)  # the first failure has left, only two count

    fail(throttle, 5)
    clock.advance(minutes=15)
    throttle.check(account=ALICE, address=BOTNET)


def test_record_success_clears_that_address_failures_for_that_account_only(throttle, appliance):
    fail(throttle, 2, address=HOME)
    fail(throttle, 1, address=CAFE)
    fail(throttle, 1, account="bob@example.com", address=HOME)

    throttle.record_success(account="ALICE@example.com", address=HOME)

    remaining = appliance.control_db.query("SELECT account, client_address FROM login_failures ORDER BY id")
    assert [tuple(row) for row in remaining] == [(ALICE, CAFE), ("bob@example.com", HOME)]
    fail(throttle, 1, address=HOME)
    throttle.check(account=ALICE, address=HOME)
    fail(throttle, 1, address=HOME)
    with pytest.raises(TooManyAttempts):
        throttle.check(account=ALICE, address=HOME)


def test_prune_deletes_only_failures_that_left_the_window_and_counts_them(throttle, appliance, clock):
    fail(throttle, 2)
    clock.advance(minutes=10)
    fail(throttle, 1)
    clock.advance(minutes=5)

    assert throttle.prune() == 2
    assert failures_in_table(appliance) == 1
    assert throttle.prune() == 0


def test_check_reads_only_through_indexes(throttle, appliance):
    fail(throttle, 3)
    connection = appliance.control_db.connection
    statements: list[str] = []
    connection.set_trace_callback(statements.append)
    try:
        with pytest.raises(TooManyAttempts):
            throttle.check(account=ALICE, address=HOME)
    finally:
        connection.set_trace_callback(None)

    reads = [sql for sql in statements if "login_failures" in sql]
    assert len(reads) == 2
    for sql in reads:
        plan = " ".join(row[3] for row in appliance.control_db.query("EXPLAIN QUERY PLAN " + sql))
        assert "USING COVERING INDEX login_failures_by_" in plan, plan


def test_check_writes_nothing(throttle, appliance):
    fail(throttle, 3)
    with pytest.raises(TooManyAttempts):
        throttle.check(account=ALICE, address=HOME)
    throttle.check(account="bob@example.com", address=HOME)

    assert failures_in_table(appliance) == 3


@pytest.mark.parametrize("arguments", [
    {"window": dt.timedelta(0), "max_per_account": 3, "max_per_address": 5},
    {"window": WINDOW, "max_per_account": 0, "max_per_address": 5},
    {"window": WINDOW, "max_per_account": 3, "max_per_address": 0},
])
def test_a_throttle_needs_a_positive_window_and_limits(appliance, clock, arguments):
    with pytest.raises(ValueError):
        LoginThrottle(appliance.control_db, clock=clock, **arguments)
