"""A stand-in for systemd's notification socket (the edge of the machine: the service manager): a datagram socket
bound by the test, and the messages (READY=1, STATUS=..., WATCHDOG=1, STOPPING=1) a service sends to it."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path


class NotificationSocket:
    """Bound in the abstract namespace (`abstract=True`, NOTIFY_SOCKET=@name) or at a path."""

    def __init__(self, directory: Path, *, abstract: bool = True) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        name = f"chatspark-test-notify-{os.getpid()}-{id(self)}"
        if abstract:
            self._sock.bind("\0" + name)
            self.address = "@" + name
        else:
            path = directory / "notify.sock"
            self._sock.bind(str(path))
            path.chmod(0o777)  # a service that runs as another user must be able to send
            self.address = str(path)
        self.messages: list[dict[str, str]] = []

    def environment(self, *, watchdog_seconds: float | None = None) -> dict[str, str]:
        env = {"NOTIFY_SOCKET": self.address}
        if watchdog_seconds:
            env["WATCHDOG_USEC"] = str(int(watchdog_seconds * 1_000_000))
        return env

    def wait_for(self, field: str, *, timeout: float = 60.0) -> dict[str, str]:
        """The first message (already received or arriving within `timeout` s) that holds `field`, like READY=1."""
        name, _, value = field.partition("=")
        deadline = time.monotonic() + timeout
        while True:
            for message in self.messages:
                if message.get(name) == value:
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {field} within {timeout} s; received {self.messages}")
            self._sock.settimeout(remaining)
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append(dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line))

    def close(self) -> None:
        self._sock.close()
