"""Telling systemd how the service is doing (the sd_notify protocol, without libsystemd): READY=1, STATUS=,
STOPPING=1 and WATCHDOG=1 datagrams to $NOTIFY_SOCKET. Where systemd did not ask (no NOTIFY_SOCKET), nothing is sent."""

from __future__ import annotations

import logging
import os
import socket
from typing import Mapping

log = logging.getLogger("chatspark.service_manager")
# What systemd hands a Type=notify service; children (Caddy) must not see it, or they would notify in its name.
VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class ServiceManager:
    """The notification socket systemd gave this process, and the watchdog interval it expects pings at."""

    def __init__(self, environ: Mapping[str, str] | None = None, *, pid: int | None = None) -> None:
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET", "")
        # A leading '@' names a socket in the abstract namespace, spelt with a NUL byte on the wire.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_seconds = _watchdog_seconds(environ, os.getpid() if pid is None else pid)

    @property
    def listening(self) -> bool:
        """Whether systemd asked to be told (the unit is Type=notify)."""
        return bool(self._address)

    def notify(self, *fields: str) -> bool:
        """Send `fields` (like "READY=1") as one datagram; False if there is nobody to tell or it could not be sent."""
        if not self._address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self._address)
                sock.sendall("\n".join(fields).encode("utf-8"))
        except OSError as exc:
            log.warning("cannot notify the service manager", extra={"socket": self._address.lstrip("\0"),
                                                                    "error": str(exc)})
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.notify(f"STATUS={status}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1", "STATUS=stopping")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without what systemd handed this process for itself alone."""
    return {name: value for name, value in environ.items() if name not in VARIABLES}


def _watchdog_seconds(environ: Mapping[str, str], pid: int) -> float | None:
    """WatchdogSec= as seconds, when it is set for this very process (WATCHDOG_PID, if given, names it)."""
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
        meant_for = int(environ.get("WATCHDOG_PID", pid))
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 and meant_for == pid else None
