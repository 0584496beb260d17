"""An operator's shell on one appliance: `chatspark` commands with its directories, their JSON, the audit rows they
left; and the appliance's services in this process, for a test to set the scene as the API would."""

from __future__ import annotations

import contextlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance import settings as settings_module
from appliance.bootstrap import open_appliance
from appliance.clock import Clock, SystemClock
from appliance.services import build_services
from appliance.storage.layout import Layout
from tests.running import chatspark
from tests.server.conftest import init_appliance

OPERATOR = "operator@example.com"
PASSWORD = "plum orbit lantern 42"
CHEAP = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


@dataclass
class Shell:
    data_dir: Path
    key_dir: Path

    @classmethod
    def with_operator(cls, base: Path) -> "Shell":
        """A new appliance under `base` whose first operator is OPERATOR, with PASSWORD."""
        password_file = base / "operator-password.txt"
        password_file.write_text(PASSWORD)
        return cls(*init_appliance(base, "--operator-email", OPERATOR, "--password-file", str(password_file)))

    def run(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return chatspark(*args, "--data-dir", str(self.data_dir), "--key-dir", str(self.key_dir), env=env)

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def audited(self, action: str) -> list[dict]:
        """The audit rows under `action`, oldest first, as `chatspark audit list` gives them."""
        return self.json("audit", "list", "--action", action)

    @contextlib.contextmanager
    def services(self, clock: Clock | None = None):
        """The appliance's services in this process, as `chatspark serve` builds them; closed again after."""
        appliance = open_appliance(Layout.of(self.data_dir, self.key_dir), clock=clock or SystemClock())
        services = build_services(appliance, settings_module.load(environ={}).replace(**CHEAP))
        try:
            yield services
        finally:
            services.knowledge.close()
            appliance.close()


def assert_one_line_failure(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chatspark: ") and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def assert_usage_error(result: subprocess.CompletedProcess, command: str, *fragments: str) -> None:
    """An argument error, reported with the usage of `command` (e.g. "chatspark users disable"), not the top one."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith(f"usage: {command} "), result.stderr
    assert f"{command}: error: " in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
