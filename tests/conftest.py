"""Fixtures shared by every test: a fixed clock, fresh data and key directories, an initialised appliance."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from appliance.bootstrap import initialise, open_appliance
from appliance.clock import FixedClock
from appliance.keys.masterkey import KdfParameters
from appliance.settings import CONFIG_ENV
from appliance.storage.layout import Layout

# No test may act on this machine's installed appliance: every `chatspark` a test starts reads no settings file
# (neither /etc/chatspark/appliance.toml nor the user's own) unless the test names one.
os.environ[CONFIG_ENV] = os.devnull

# Cheap argon2id for tests that only need a wrapped key to exist; the real cost is tested on its own.
FAST_KDF = KdfParameters(time_cost=1, memory_cost_kib=1024, parallelism=1)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.timezone.utc))


@pytest.fixture
def layout(tmp_path) -> Layout:
    return Layout.of(tmp_path / "data", tmp_path / "keys")


@pytest.fixture
def initialised(layout, clock) -> Layout:
    initialise(layout, clock=clock)
    return layout


@pytest.fixture
def appliance(initialised, clock):
    opened = open_appliance(initialised, clock=clock)
    yield opened
    opened.close()


@pytest.fixture
def settings():
    """Shipped defaults, with argon2 made cheap so tests that hash many passwords stay fast."""
    from appliance import settings as settings_module

    return settings_module.load(environ={}).replace(argon2_time_cost=1, argon2_memory_kib=1024,
                                                    argon2_parallelism=1, public_requests_per_minute=100_000,
                                                    failed_credentials_per_minute=100_000)


@pytest.fixture
def services(appliance, settings):
    from appliance.services import build_services

    built = build_services(appliance, settings)
    yield built
    # Indexing threads still writing when the databases close would crash the interpreter in SQLCipher's C code.
    built.knowledge.close()
