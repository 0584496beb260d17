"""The agent tests' workspace, where people have talked to a trained agent (see chats.py)."""

from __future__ import annotations

import pytest

from tests.appliance.conversations.chats import Chats, start_chats


@pytest.fixture
def chats(services, clock) -> Chats:
    chats = start_chats(services, clock)
    yield chats
    services.knowledge.close()
