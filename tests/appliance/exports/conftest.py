"""The exports tests' workspace: trained on a file, pasted text and Q&A pairs, talked to through the widget, with
leads and analytics (see tests/appliance/conversations/chats.py), and an export service with a cheap scrypt."""

from __future__ import annotations

import pytest

from appliance.exports.service import ExportService
from tests.appliance.conversations.chats import start_chats
from tests.appliance.exports.workspaces import CHEAP_SCRYPT, Trained, train


@pytest.fixture
def exports(services, clock) -> ExportService:
    return ExportService(services.appliance.control_db, workspaces=services.workspaces,
                         files=services.appliance.workspaces, audit=services.audit, clock=clock,
                         appliance_id=services.appliance.appliance_id, scrypt=CHEAP_SCRYPT)


@pytest.fixture
def trained(services, clock) -> Trained:
    chats = start_chats(services, clock)
    yield train(chats)
    services.knowledge.close()


@pytest.fixture
def place(tmp_path):
    """An empty directory for export files and unpacked exports, apart from the appliance's own directories."""
    directory = tmp_path / "exports"
    directory.mkdir()
    return directory
