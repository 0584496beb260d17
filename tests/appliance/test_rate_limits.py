"""Moving one-minute windows and per-day counts: where they stop, when they let calls through again."""

from __future__ import annotations

import pytest

from appliance.errors import TooManyAttempts
from appliance.rate_limits import DailyCounts, MinuteWindows


def test_a_minute_window_stops_at_the_limit_and_frees_a_call_as_each_one_ages():
    now = [1000.0]
    windows = MinuteWindows(now=lambda: now[0])
    assert [windows.hit("a", limit=3, message="slow down") for _ in range(3)] == [2, 1, 0]
    with pytest.raises(TooManyAttempts, match="slow down") as raised:
        windows.hit("a", limit=3, message="slow down")
    assert 1 <= raised.value.retry_after_seconds <= 61
    assert windows.hit("b", limit=3, message="x") == 2  # other keys are apart
    now[0] += 60.0
    assert windows.hit("a", limit=3, message="x") == 2


def test_daily_counts_start_from_what_is_stored_and_reset_on_a_new_day():
    counts = DailyCounts()
    stored = {"calls": 0}

    def already():
        stored["calls"] += 1
        return 8

    counts.hit("agent", day="2026-11-29", limit=10, already=already, message="tomorrow")
    counts.hit("agent", day="2026-11-29", limit=10, already=already, message="tomorrow")
    with pytest.raises(TooManyAttempts, match="tomorrow"):
        counts.hit("agent", day="2026-11-29", limit=10, already=already, message="tomorrow")
    assert stored["calls"] == 1  # the database is asked once a day, not per call
    counts.hit("agent", day="2026-11-30", limit=10, already=lambda: 0, message="tomorrow")
