"""Retention tests' fixtures: sweeps without pauses and in small batches, so batching is exercised and tests stay
quick; two workspaces with trained agents."""

from __future__ import annotations

import pytest

from tests.appliance.retention.places import make_place


@pytest.fixture
def settings(settings):
    return settings.replace(retention_batch_rows=7, retention_batch_pause_ms=0)


@pytest.fixture
def place(services, clock):
    made = make_place(services, clock, name="Acme")
    yield made
    services.knowledge.close()


@pytest.fixture
def other_place(services, clock, place):
    return make_place(services, clock, name="Globex")
