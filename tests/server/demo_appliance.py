"""A served appliance with the demo workspace and its intranet page on a second origin, as `make run` sets it up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.running import RunningAppliance, chatspark, free_port
from tests.server.conftest import init_appliance

OPERATOR = "admin@demo.test"
PASSWORD = "correct horse battery staple demo"


@dataclass
class DemoAppliance:
    running: RunningAppliance
    site_port: int
    public_id: str
    workspace_id: str
    agent_id: str

    @property
    def site_origin(self) -> str:
        return f"https://localhost:{self.site_port}"

    @property
    def appliance_origin(self) -> str:
        return f"https://localhost:{self.running.port}"

    def login(self) -> str:
        status, body = self.running.api("POST", "/api/v1/auth/login", {"email": OPERATOR, "password": PASSWORD})
        assert status == 200, body
        return body["token"]


def start_demo(base: Path, *, env: dict | None = None) -> DemoAppliance:
    (base / "pw.txt").write_text(PASSWORD)
    data_dir, key_dir = init_appliance(base, "--operator-email", OPERATOR, "--password-file", str(base / "pw.txt"))
    port, site_port = free_port(), free_port()
    created = chatspark("demo", "create", "--data-dir", str(data_dir), "--key-dir", str(key_dir),
                        "--owner-email", OPERATOR, "--site-port", str(site_port),
                        "--appliance-url", f"https://localhost:{port}", timeout=180)
    assert created.returncode == 0, created.stderr
    workspace_id, agent_id = re.search(r"workspace (\w+) with agent (\w+)", created.stdout).groups()
    public_id = re.search(r'data-agent="([^"]+)"', created.stdout).group(1)
    running = RunningAppliance(data_dir, key_dir, port, extra_args=["--demo-site-port", str(site_port)],
                               env=env or {}).start()
    return DemoAppliance(running, site_port, public_id, workspace_id, agent_id)
