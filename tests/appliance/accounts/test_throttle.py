"""Login throttling over the real control database: strangers, devices and familiar addresses each with their own
limit, per address across accounts, the moving window, atomic check-and-count under real threads, pruning."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from appliance.accounts.throttle import KNOWN_ADDRESS_PERIOD, LoginThrottle
from appliance.errors import TooManyAttempts

WINDOW = dt.timedelta(minutes=15)
ALICE = "alice@example.com"
PASSWORD = "violet anchor drizzle 42"
HOME, CAFE, BOTNET = "192.0.2.10", "198.51.100.7", "203.0.113.66"


@pytest.fixture
def throttle(appliance, clock) -> LoginThrottle:
    return LoginThrottle(appliance.control_db, clock=clock, window=WINDOW, max_per_account=3, max_per_address=5)


@pytest.fixture
def alice(services) -> str:
    """Alice's account id; she has signed in from HOME (a session started there)."""
    user = services.users.create_operator(email=ALICE, password=PASSWORD)
    with services.appliance.control_db.transaction() as conn:
        services.sessions.start(conn, user_id=user.id, client_address=HOME, user_agent=None)
    return user.id


def fail(throttle: LoginThrottle, times: int, *, account: str = ALICE, address: str = BOTNET, **source) -> None:
    """`times` attempts let through and never turned into a success: wrong passwords."""
    for _ in range(times):
        throttle.attempt(account=account, address=address, **source)


def may_try(throttle: LoginThrottle, *, account: str = ALICE, address: str = BOTNET, **source) -> bool:
    """Whether an attempt would be let through; a let-through one is withdrawn, so asking changes nothing."""
    try:
        throttle.withdraw(throttle.attempt(account=account, address=address, **source))
    except TooManyAttempts:
        return False
    return True


def failures_in_table(appliance) -> int:
    return appliance.control_db.query_one("SELECT count(*) FROM login_failures")[0]


def test_an_account_below_its_limit_may_try(throttle):
    fail(throttle, 2)

    assert may_try(throttle)


def test_an_attempt_counts_as_a_failure_until_it_succeeds(throttle, appliance):
    attempt = throttle.attempt(account=ALICE, address=BOTNET)
    assert failures_in_table(appliance) == 1

    throttle.succeeded(attempt)

    assert failures_in_table(appliance) == 0


def test_a_withdrawn_attempt_does_not_count(throttle, appliance):
    for _ in range(10):
        assert may_try(throttle)

    assert failures_in_table(appliance) == 0


def test_strangers_at_the_account_limit_are_refused_from_every_unfamiliar_address(throttle):
    fail(throttle, 1, address=HOME)
    fail(throttle, 1, address=CAFE)
    fail(throttle, 1, address=BOTNET)

    for address in (HOME, CAFE, "2001:db8::1"):
        with pytest.raises(TooManyAttempts, match="for this account"):
            throttle.attempt(account=ALICE, address=address)
    assert may_try(throttle, account="bob@example.com", address=HOME)


def test_a_stranger_cannot_lock_the_owner_out_of_an_address_it_signed_in_from(throttle, alice):
    fail(throttle, 3, address=BOTNET, user_id=alice)
    for address in (BOTNET, CAFE, "2001:db8::1"):
        with pytest.raises(TooManyAttempts, match="places it has not signed in from"):
            throttle.attempt(account=ALICE, address=address, user_id=alice)

    assert may_try(throttle, address=HOME, user_id=alice)


def test_a_stranger_cannot_lock_the_owner_out_of_a_device_it_signed_in_on(throttle, alice):
    fail(throttle, 3, address=BOTNET, user_id=alice)

    assert may_try(throttle, address=CAFE, user_id=alice, device="5eed5eed5eed5eed")
    with pytest.raises(TooManyAttempts):
        throttle.attempt(account=ALICE, address=CAFE, user_id=alice)


def test_a_familiar_address_has_its_own_limit_for_the_account(throttle, alice):
    fail(throttle, 3, address=HOME, user_id=alice)

    with pytest.raises(TooManyAttempts, match="for this account from your network address"):
        throttle.attempt(account=ALICE, address=HOME, user_id=alice)
    assert may_try(throttle, address=CAFE, user_id=alice), "the familiar address's failures are its own"


def test_a_device_has_its_own_limit_so_a_copied_token_guesses_little(throttle, alice):
    fail(throttle, 3, address=BOTNET, user_id=alice, device="0123456789abcdef")

    for address in (BOTNET, CAFE, HOME):
        with pytest.raises(TooManyAttempts, match="on this device"):
            throttle.attempt(account=ALICE, address=address, user_id=alice, device="0123456789abcdef")
    assert may_try(throttle, address=BOTNET, user_id=alice, device="fedcba9876543210")
    assert may_try(throttle, address=BOTNET, user_id=alice), "a device's failures are not the strangers'"


def test_an_address_signed_in_from_long_ago_is_a_stranger_again(throttle, alice, clock):
    clock.advance(seconds=KNOWN_ADDRESS_PERIOD.total_seconds() + 1)
    fail(throttle, 3, address=BOTNET, user_id=alice)

    with pytest.raises(TooManyAttempts, match="places it has not signed in from"):
        throttle.attempt(account=ALICE, address=HOME, user_id=alice)


def test_the_account_limit_ignores_the_case_of_the_account_name(throttle):
    fail(throttle, 1, account="Alice@Example.com")
    fail(throttle, 1, account="ALICE@EXAMPLE.COM")
    fail(throttle, 1, account="alice@example.com")

    assert not may_try(throttle, account="aLiCe@eXaMpLe.CoM", address=HOME)


def test_the_account_limit_ignores_case_beyond_ascii(throttle):
    fail(throttle, 3, account="ÉLODIE@example.com")

    assert not may_try(throttle, account="élodie@example.com", address=HOME)


def test_an_address_at_its_limit_is_refused_for_every_account(throttle):
    for number in range(5):
        fail(throttle, 1, account=f"user{number}@example.com")

    with pytest.raises(TooManyAttempts, match="from your network address"):
        throttle.attempt(account="someone.new@example.com", address=BOTNET)
    assert may_try(throttle, account="someone.new@example.com", address=HOME)


def test_an_ipv4_mapped_ipv6_address_counts_as_the_ipv4_address(throttle):
    for number in range(5):
        fail(throttle, 1, account=f"user{number}@example.com", address=f"::ffff:{BOTNET}")

    with pytest.raises(TooManyAttempts, match="from your network address"):
        throttle.attempt(account="someone.new@example.com", address=BOTNET)


def test_an_address_cannot_pass_itself_off_as_a_device(throttle):
    fail(throttle, 3, address="device:0123456789abcdef")

    assert not may_try(throttle, address=HOME)


def test_retry_after_counts_down_to_when_the_oldest_counted_failure_leaves_the_window(throttle, clock):
    fail(throttle, 1)
    clock.advance(minutes=4)
    fail(throttle, 2)
    clock.advance(seconds=30)

    with pytest.raises(TooManyAttempts) as raised:
        throttle.attempt(account=ALICE, address=HOME)

    assert raised.value.retry_after_seconds == (WINDOW - dt.timedelta(minutes=4, seconds=30)).total_seconds()
    assert "Wait 11 minutes" in str(raised.value)


def test_retry_after_waits_for_enough_failures_to_leave_when_more_than_the_limit_got_in(throttle, clock):
    fail(throttle, 1)
    clock.advance(minutes=5)
    for _ in range(3):  # e.g. counted before the limit was lowered
        throttle.record_failure(account=ALICE, address=BOTNET)

    with pytest.raises(TooManyAttempts) as raised:
        throttle.attempt(account=ALICE, address=HOME)

    assert raised.value.retry_after_seconds == WINDOW.total_seconds()


def test_retry_after_is_at_least_one_second(throttle, clock):
    fail(throttle, 3)
    clock.advance(seconds=WINDOW.total_seconds() - 0.25)

    with pytest.raises(TooManyAttempts) as raised:
        throttle.attempt(account=ALICE, address=HOME)

    assert raised.value.retry_after_seconds == 1
    assert "Wait 1 second " in str(raised.value)


def test_when_both_limits_are_reached_retry_after_is_the_longer_wait(throttle, clock):
    fail(throttle, 3, account=ALICE, address=BOTNET)
    clock.advance(minutes=10)
    for _ in range(5):
        throttle.record_failure(account="bob@example.com", address=BOTNET)

    with pytest.raises(TooManyAttempts) as raised:
        throttle.attempt(account=ALICE, address=BOTNET)

    assert raised.value.retry_after_seconds == WINDOW.total_seconds()


def test_failures_leaving_the_window_unlock_the_account(throttle, clock):
    fail(throttle, 3)
    with pytest.raises(TooManyAttempts) as raised:
        throttle.attempt(account=ALICE, address=HOME)

    clock.advance(seconds=raised.value.retry_after_seconds - 1)
    assert not may_try(throttle, address=HOME)
    clock.advance(seconds=1)
    assert may_try(throttle, address=HOME)


def test_a_lock_lasts_at_most_one_window_after_the_last_failure(throttle, clock):
    fail(throttle, 1)
    clock.advance(minutes=14)
    fail(throttle, 1)
    clock.advance(minutes=14)
    fail(throttle, 1)
    assert may_try(throttle, address=HOME)  # the first failure has left, only two count

    fail(throttle, 1)
    clock.advance(minutes=15)
    assert may_try(throttle, address=BOTNET)


def test_a_success_clears_that_sources_failures_for_that_account_only(throttle, appliance):
    fail(throttle, 1, address=HOME)
    fail(throttle, 1, address=CAFE)
    fail(throttle, 1, account="bob@example.com", address=HOME)

    throttle.succeeded(throttle.attempt(account="ALICE@example.com", address=HOME))

    remaining = appliance.control_db.query("SELECT account, client_address FROM login_failures ORDER BY id")
    assert [tuple(row) for row in remaining] == [(ALICE, CAFE), ("bob@example.com", HOME)]
    fail(throttle, 1, address=HOME)
    assert may_try(throttle, address=HOME)
    fail(throttle, 1, address=HOME)
    assert not may_try(throttle, address=HOME)


def test_prune_deletes_only_failures_that_left_the_window_and_counts_them(throttle, appliance, clock):
    fail(throttle, 2)
    clock.advance(minutes=10)
    fail(throttle, 1)
    clock.advance(minutes=5)

    assert throttle.prune() == 2
    assert failures_in_table(appliance) == 1
    assert throttle.prune() == 0


def test_a_refused_attempt_writes_nothing(throttle, appliance):
    fail(throttle, 3)
    with pytest.raises(TooManyAttempts):
        throttle.attempt(account=ALICE, address=HOME)

    assert failures_in_table(appliance) == 3


def _in_parallel(count: int, attempt) -> list[str]:
    """Run `attempt(i)` on `count` real threads released at once; each reports 'checked' or 'refused'."""
    start = threading.Barrier(count)
    outcomes: list[str] = []
    lock = threading.Lock()

    def guess(number: int) -> None:
        start.wait()
        try:
            attempt(number)
            outcome = "checked"
        except TooManyAttempts:
            outcome = "refused"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_parallel_guesses_from_one_address_never_check_more_than_the_limit(throttle, appliance):
    outcomes = _in_parallel(24, lambda _: throttle.attempt(account=ALICE, address=BOTNET))

    assert outcomes.count("checked") == 3
    assert outcomes.count("refused") == 21
    assert failures_in_table(appliance) == 3


def test_parallel_guesses_from_many_addresses_never_check_more_than_the_account_limit(throttle, appliance):
    outcomes = _in_parallel(24, lambda n: throttle.attempt(account=ALICE, address=f"203.0.113.{n}"))

    assert outcomes.count("checked") == 3
    assert failures_in_table(appliance) == 3


def test_parallel_guesses_at_many_accounts_never_check_more_than_the_address_limit(throttle, appliance):
    outcomes = _in_parallel(24, lambda n: throttle.attempt(account=f"user{n}@example.com", address=BOTNET))

    assert outcomes.count("checked") == 5
    assert failures_in_table(appliance) == 5


@pytest.mark.parametrize("arguments", [
    {"window": dt.timedelta(0), "max_per_account": 3, "max_per_address": 5},
    {"window": WINDOW, "max_per_account": 0, "max_per_address": 5},
    {"window": WINDOW, "max_per_account": 3, "max_per_address": 0},
])
def test_a_throttle_needs_a_positive_window_and_limits(appliance, clock, arguments):
    with pytest.raises(ValueError):
        LoginThrottle(appliance.control_db, clock=clock, **arguments)
