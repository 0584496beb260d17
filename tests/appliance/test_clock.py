"""The injected clock and the one text form of instants."""

from __future__ import annotations

import datetime as dt

from appliance.clock import FixedClock, SystemClock, isoformat


def test_fixed_clock_moves_only_when_told(clock):
    start = clock.now()

    assert clock.now() == start
    clock.advance(days=370, minutes=5)

    assert clock.now() - start == dt.timedelta(days=370, minutes=5)


def test_system_clock_is_timezone_aware_utc():
    now = SystemClock().now()
    assert now.utcoffset() == dt.timedelta(0)


def test_isoformat_is_utc_to_the_second_with_a_z_suffix():
    moment = dt.datetime(2026, 11, 29, 13, 30, 15, 999_999, tzinfo=dt.timezone(dt.timedelta(hours=1, minutes=30)))

    assert isoformat(moment) == "2026-11-29T12:00:15Z"
    assert isoformat(FixedClock(dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc)).now()) == "2027-01-01T00:00:00Z"
