"""Cost of the HTTPS edge: requests through Caddy (TLS 1.3) against the same requests straight to waitress's socket.

Starts a real appliance in a temporary directory, then prints one JSON line per workload with the time per request
both ways (best of several rounds) and the ratio edge / direct.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REQUESTS = 300
ROUNDS = 3


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(conn: http.client.HTTPConnection) -> None:
    conn.request("GET", "/healthz")
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"/healthz answered {response.status}")


def _kept_alive(make: Callable[[], http.client.HTTPConnection]) -> Callable[[], None]:
    def run() -> None:
        conn = make()
        for _ in range(REQUESTS):
            _get(conn)
        conn.close()
    return run


def _new_each_time(make: Callable[[], http.client.HTTPConnection]) -> Callable[[], None]:
    def run() -> None:
        for _ in range(REQUESTS // 3):
            conn = make()
            _get(conn)
            conn.close()
    return run


def _best(fn: Callable[[], None], count: int) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times) / count


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data, keys, port = Path(tmp) / "data", Path(tmp) / "keys", _free_port()
        cli = [sys.executable, "-m", "server.cli"]
        subprocess.run([*cli, "init", "--data-dir", str(data), "--key-dir", str(keys)], check=True,
                       capture_output=True)
        serve = subprocess.Popen([*cli, "serve", "--data-dir", str(data), "--key-dir", str(keys), "--port", str(port)],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            for line in serve.stdout:
                if "is serving" in line:
                    break
            log = (data / "logs" / "chatspark.log").read_text()
            socket_path = next(json.loads(x)["app_socket"] for x in log.splitlines() if '"app_socket"' in x)
            context = ssl.create_default_context(cafile=str(data / "tls" / "ca.crt"))
            edge = lambda: http.client.HTTPSConnection("localhost", port, context=context, timeout=10)  # noqa: E731
            direct = lambda: UnixConnection(socket_path)  # noqa: E731
            for name, shape, count in (("keep-alive GET /healthz", _kept_alive, REQUESTS),
                                       ("new connection per GET", _new_each_time, REQUESTS // 3)):
                direct_s = _best(shape(direct), count)
                edge_s = _best(shape(edge), count)
                print(json.dumps({"bench": "edge", "workload": name, "direct_ms": round(direct_s * 1000, 3),
                                  "caddy_tls13_ms": round(edge_s * 1000, 3), "ratio": round(edge_s / direct_s, 2)}))
        finally:
            serve.terminate()
            serve.wait(20)


if __name__ == "__main__":
    main()
