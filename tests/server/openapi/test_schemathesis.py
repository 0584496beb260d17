"""Schemathesis over the whole OpenAPI document against the running appliance, through HTTPS: no 500, every response
as documented. Bounded here; `make fuzz` runs a longer pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.running import RunningAppliance, free_port
from tests.server.conftest import init_appliance

PASSWORD = "correct horse battery staple schema"
EXAMPLES = os.environ.get("CHATSPARK_FUZZ_EXAMPLES", "5")
# About 81 operations, each tried EXAMPLES times: `make fuzz` (200) takes tens of minutes on two cores, not 300 s.
RUN_SECONDS = max(280, int(EXAMPLES) * 40)
pytestmark = pytest.mark.timeout(RUN_SECONDS + 120)


@pytest.fixture
def served(tmp_path_factory):
    """A fresh appliance per run: a long run's failed logins would otherwise throttle the next run's login."""
    base = tmp_path_factory.mktemp("schemathesis")
    (base / "pw.txt").write_text(PASSWORD)
    data_dir, key_dir = init_appliance(base, "--operator-email", "fuzz@example.com", "--password-file",
                                       str(base / "pw.txt"))
    running = RunningAppliance(data_dir, key_dir, free_port()).start()
    yield running
    running.stop()


def schemathesis(served, token: str, *extra: str) -> subprocess.CompletedProcess:
    url = f"https://127.0.0.1:{served.port}"
    command = [str(Path(sys.executable).with_name("schemathesis")), "run", f"{url}/api/v1/openapi.json", "--url", url,
               "-H", f"Authorization: Bearer {token}", "--tls-verify", str(served.ca_file),
               "--max-examples", EXAMPLES, "--checks", "not_a_server_error,response_schema_conformance",
               "--seed", "20261129", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=RUN_SECONDS, stdin=subprocess.DEVNULL)


def test_every_operation_answers_as_documented_with_a_session(served):
    status, login = served.api("POST", "/api/v1/auth/login", {"email": "fuzz@example.com", "password": PASSWORD})
    assert status == 200
    # Logging out or changing the password would end the very session the run uses.
    result = schemathesis(served, login["token"], "--exclude-path-regex", "logout|password$")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "generated" in result.stdout


def test_every_operation_answers_as_documented_with_an_api_key(served):
    _, login = served.api("POST", "/api/v1/auth/login", {"email": "fuzz@example.com", "password": PASSWORD})
    _, workspace = served.api("POST", "/api/v1/workspaces", {"name": "Fuzz"}, token=login["token"])
    workspace_id = workspace["workspace"]["id"]
    _, created = served.api("POST", f"/api/v1/workspaces/{workspace_id}/api-keys",
                            {"name": "fuzz", "scopes": ["chat", "agents:read", "agents:write", "sources:read",
                                                        "sources:write"], "rate_limit_per_minute": 10000},
                            token=login["token"])
    result = schemathesis(served, created["key"], "--include-path-regex", "/workspaces/")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
