"""Waiting in tests for something another thread or process does: polled, with a deadline, never a bare sleep."""

from __future__ import annotations

import time


def wait_for(condition, *, timeout: float = 20.0, interval: float = 0.05):
    """The first truthy value of `condition()`, polled every `interval` s; fails the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"the condition did not hold within {timeout} s")
