"""A real `chatspark serve` in a child process, on loopback ports chosen at run time; for network tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

CHATSPARK = [sys.executable, "-m", "server.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chatspark(*args: str, env: dict | None = None, timeout: float = 60,
              unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run the command to its end; `env` adds to this process's environment, `unset` takes variables out of it."""
    environment = {name: value for name, value in {**os.environ, **(env or {})}.items() if name not in unset}
    return subprocess.run([*CHATSPARK, *args], capture_output=True, text=True, timeout=timeout,
                          env=environment, stdin=subprocess.DEVNULL)


def children_named(pid: int, name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == pid and comm == name:
            found.append(int(entry.name))
    return found


def tls13_context(ca_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


@dataclass
class RunningAppliance:
    data_dir: Path
    key_dir: Path
    port: int
    extra_args: list[str] = field(default_factory=list)
    env: dict = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "tls" / "ca.crt"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "logs" / "chatspark.log"

    def start(self, timeout: float = 30) -> "RunningAppliance":
        self.stdout_path = self.data_dir.parent / f"serve-{self.port}.out"
        self.stderr_path = self.data_dir.parent / f"serve-{self.port}.err"
        with self.stdout_path.open("w") as out, self.stderr_path.open("w") as err:
            self.process = subprocess.Popen(
                [*CHATSPARK, "serve", "--data-dir", str(self.data_dir), "--key-dir", str(self.key_dir),
                 "--port", str(self.port), *self.extra_args],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                # Tests log in, and fail to, far more often than people; test_address_limits checks the limits.
                env={**os.environ, "CHATSPARK_PUBLIC_REQUESTS_PER_MINUTE": "100000",
                     "CHATSPARK_FAILED_CREDENTIALS_PER_MINUTE": "100000", **self.env},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited {self.process.returncode}: {self.stderr_path.read_text()}")
            if "is serving" in self.stdout_path.read_text():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"serve did not start: {self.stderr_path.read_text()}")

    def caddy_pids(self) -> list[int]:
        return children_named(self.process.pid, "caddy")

    def get(self, path: str, *, host: str = "localhost", headers: dict | None = None,
            timeout: float = 10) -> tuple[int, dict, bytes]:
        import http.client

        conn = http.client.HTTPSConnection(host, self.port, context=tls13_context(self.ca_file), timeout=timeout)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def api(self, method: str, path: str, body: dict | None = None, *, token: str | None = None,
            headers: dict | None = None, timeout: float = 10) -> tuple[int, dict]:
        """One JSON API call over HTTPS (TLS 1.3, the appliance CA); returns status and decoded body."""
        import http.client

        all_headers = {"Accept": "application/json", **(headers or {})}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPSConnection("localhost", self.port, context=tls13_context(self.ca_file),
                                           timeout=timeout)
        try:
            conn.request(method, path, body=payload, headers=all_headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        return response.status, (json.loads(raw) if raw else {})

    def log_entries(self) -> list[dict]:
        return [json.loads(line) for line in self.log_file.read_text().splitlines() if line.strip()]

    def stop(self, timeout: float = 20) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)
