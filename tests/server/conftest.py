"""Fixtures for tests that need the real network stack: an initialised appliance served by Caddy and waitress."""

from __future__ import annotations

import pytest

from appliance.services import build_scheduler
from tests.running import RunningAppliance, chatspark, free_port


def init_appliance(base, *extra: str):
    data_dir, key_dir = base / "data", base / "keys"
    result = chatspark("init", "--data-dir", str(data_dir), "--key-dir", str(key_dir), *extra)
    assert result.returncode == 0, result.stderr
    return data_dir, key_dir


CHEAP_ARGON2 = {"CHATSPARK_ARGON2_TIME_COST": "1", "CHATSPARK_ARGON2_MEMORY_KIB": "1024",
                "CHATSPARK_ARGON2_PARALLELISM": "1"}


def serve_with_operator(base, operator: tuple[str, str], *, env: dict | None = None) -> RunningAppliance:
    """An appliance under `base` with `operator` (email, password) as its first operator, served, and that operator
    signed in: the session token is the answer's `token`."""
    (base / "operator.txt").write_text(operator[1])
    data_dir, key_dir = init_appliance(base, "--operator-email", operator[0], "--password-file",
                                       str(base / "operator.txt"))
    running = RunningAppliance(data_dir, key_dir, free_port(), env={**CHEAP_ARGON2, **(env or {})}).start()
    status, body = running.api("POST", "/api/v1/auth/login", {"email": operator[0], "password": operator[1]})
    assert status == 200, body
    running.token = body["token"]
    return running


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One appliance for a module's read-only network tests, with a plain-HTTP redirect port as well."""
    data_dir, key_dir = init_appliance(tmp_path_factory.mktemp("served"), "--san", "appliance.test")
    redirect_port = free_port()
    running = RunningAppliance(data_dir, key_dir, free_port(),
                               extra_args=["--http-redirect-port", str(redirect_port)]).start()
    running.redirect_port = redirect_port
    yield running
    running.stop()


@pytest.fixture
def own_appliance(tmp_path):
    """A fresh initialised (not yet started) appliance for tests that kill or stop things."""
    data_dir, key_dir = init_appliance(tmp_path)
    running = RunningAppliance(data_dir, key_dir, free_port())
    yield running
    if running.process is not None and running.process.poll() is None:
        running.process.kill()
        running.process.wait()


@pytest.fixture
def scheduler(services, settings):
    """A running scheduler for an in-process app (`create_app(..., scheduler=...)`)."""
    scheduler = build_scheduler(services)
    scheduler.start()
    yield scheduler
    scheduler.shutdown(wait=True)
