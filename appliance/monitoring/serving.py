"""Where a running `chatspark serve` listens, recorded in its data directory, so that `status` and `doctor` ask the
service where it is instead of guessing from settings it may not have been started with (a `--port` flag, an
environment variable of the service)."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from appliance.jobs.runs import process_alive
from appliance.storage.layout import Layout

RECORD_NAME = "serving.json"


@dataclass(frozen=True)
class ServingRecord:
    pid: int
    host: str
    port: int
    url: str
    started_at: str
    version: str


def local_url(host: str, port: int) -> str:
    """The HTTPS URL that reaches, from this machine, a listener bound to host:port (a wildcard bind answers on
    loopback)."""
    connect = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    return f"https://{'[' + connect + ']' if ':' in connect else connect}:{port}"


def bind_error(host: str, port: int) -> OSError | None:
    """Why `serve` could not listen on host:port (binding as it does), or None when it could."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return None


def record_path(layout: Layout) -> Path:
    return layout.data_dir / RECORD_NAME


def write(layout: Layout, record: ServingRecord) -> None:
    """Replace the record whole (never a half-written one for a reader), readable by the data directory's owner."""
    path = record_path(layout)
    temporary = path.with_name(f".{RECORD_NAME}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(asdict(record), handle, indent=2)
        handle.write("\n")
    os.replace(temporary, path)


def remove(layout: Layout, *, pid: int | None = None) -> None:
    """Remove the record if it is this process's (or `pid`'s): another serve may have written its own since."""
    found = _load(record_path(layout))
    if found is not None and found.pid == (os.getpid() if pid is None else pid):
        record_path(layout).unlink(missing_ok=True)


def read(layout: Layout) -> ServingRecord | None:
    """The record of a serve that still runs; None when there is none, or its process is gone (killed, say)."""
    found = _load(record_path(layout))
    return found if found is not None and process_alive(found.pid) else None


def _load(path: Path) -> ServingRecord | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ServingRecord(pid=int(data["pid"]), host=str(data["host"]), port=int(data["port"]),
                             url=str(data["url"]), started_at=str(data["started_at"]), version=str(data["version"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
