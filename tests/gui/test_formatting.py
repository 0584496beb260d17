"""How the panel writes times, intervals, durations and sizes: the same on every screen."""

from __future__ import annotations

import datetime as dt

import pytest

from gui.widgets.formatting import ago, day, duration, every, size, summary, when

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(("seconds", "said"), [(15, "every 15 s"), (60, "every minute"), (900, "every 15 min"),
                                               (3600, "every hour"), (21600, "every 6 hours"), (86400, "every day"),
                                               (172800, "every 2 days"), (90, "every 90 s")])
def test_intervals_read_as_people_say_them(seconds, said):
    assert every(seconds) == said


@pytest.mark.parametrize(("moment", "said"), [("2026-12-02T11:59:30+00:00", "just now"),
                                              ("2026-12-02T11:55:00Z", "5 min ago"),
                                              ("2026-12-02T09:00:00+00:00", "3 h ago"),
                                              ("2026-12-01T12:00:00+00:00", "1 day ago"),
                                              ("2026-11-20T12:00:00+00:00", "12 days ago"), (None, "never")])
def test_how_long_ago(moment, said):
    assert ago(moment, now=NOW) == said


def test_times_are_shown_in_utc_and_what_cannot_be_read_is_shown_as_it_came():
    assert when("2026-12-02T13:05:09+01:00") == "2026-12-02 12:05 UTC"
    assert when("") == "" and when("soon") == "soon"


def test_a_day_is_the_utc_date_of_a_time():
    assert day("2026-12-02T00:30:00+01:00") == "2026-12-01"
    assert day(None) == "" and day("") == ""


def test_durations_sizes_and_summaries():
    assert (duration(None), duration(250), duration(1500)) == ("", "250 ms", "1.5 s")
    assert (size(None), size(512), size(2048), size(3 * 1024**3)) == ("", "512 B", "2.0 KiB", "3.0 GiB")
    assert summary({"sent": 2, "retried": 0, "details": {"x": 1}}) == "sent=2 retried=0"
    assert summary(None) == ""

