"""Fixtures for the core's storage tests: a raw key, a database path, a fresh encrypted database."""

from __future__ import annotations

import os

import pytest

from appliance.storage.database import Database


@pytest.fixture
def key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "db" / "test.db"


@pytest.fixture
def fresh_db(db_path, key):
    db = Database(db_path, key, create=True)
    yield db
    db.close()
