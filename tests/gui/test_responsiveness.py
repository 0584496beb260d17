"""The window never freezes: while a slow call runs (a backup of a few MB, an appliance that does not answer), a
QTimer on the UI thread keeps ticking, with no gap above 100 ms between ticks."""

from __future__ import annotations

import http.client
import secrets
import socket
import time
import uuid

from PySide6.QtCore import QTimer

from appliance.keys.pinning import PinnedClient
from gui.client.api import ApiClient
from gui.client.background import Background
from tests.gui.driving import WAIT_MS, signed_in_window
from tests.running import tls13_context

TICK_MS = 10
MAX_GAP_S = 0.100


class Ticks:
    """Records when a QTimer on the UI thread fired."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(lambda: self.times.append(time.monotonic()))

    def __enter__(self) -> "Ticks":
        self.times.append(time.monotonic())
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.stop()
        self.times.append(time.monotonic())

    @property
    def longest_gap(self) -> float:
        return max(b - a for a, b in zip(self.times, self.times[1:], strict=False))


def _upload(served, token: str, workspace_id: str, size: int) -> None:
    words = " ".join(secrets.token_hex(4) for _ in range(size // 9))
    boundary = uuid.uuid4().hex
    payload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bulk.txt\"\r\n"
               f"Content-Type: text/plain\r\n\r\n{words}\r\n--{boundary}--\r\n").encode()
    conn = http.client.HTTPSConnection("localhost", served.running.port,
                                       context=tls13_context(served.running.ca_file), timeout=60)
    try:
        conn.request("POST", f"/api/v1/workspaces/{workspace_id}/sources/upload", body=payload,
                     headers={"Authorization": f"Bearer {token}",
                              "Content-Type": f"multipart/form-data; boundary={boundary}"})
        response = conn.getresponse()
        assert response.status == 202, response.read()
    finally:
        conn.close()


def test_the_window_keeps_ticking_while_a_backup_of_a_few_megabytes_is_made(qtbot, tmp_path, served):
    token = served.token()
    status, made = served.api("POST", "/api/v1/workspaces", {"name": f"Bulk {uuid.uuid4().hex[:6]}"}, token=token)
    assert status == 201, made
    _upload(served, token, made["workspace"]["id"], 3_000_000)
    window = signed_in_window(qtbot, tmp_path, served)
    answers = []

    with Ticks() as ticks:
        window.context.api.post("/api/v1/backups", on_done=answers.append, on_error=answers.append)
        qtbot.waitUntil(lambda: bool(answers), timeout=120_000)

    [answer] = answers
    assert isinstance(answer, dict), answer
    assert answer["backup"]["size"] > 2_000_000
    assert ticks.times[-1] - ticks.times[0] > 0.2  # it was slow enough to tell
    assert ticks.longest_gap <= MAX_GAP_S, f"the UI thread stalled for {ticks.longest_gap * 1000:.0f} ms"


def test_the_window_keeps_ticking_while_the_appliance_does_not_answer(qtbot, served):
    # A host that takes the connection and never says a word: the worst kind of unreachable.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        http = PinnedClient(f"https://127.0.0.1:{silent.getsockname()[1]}", ca_fingerprint=served.fingerprint,
                            ca_pem=served.running.ca_file.read_bytes(), timeout=1.5)
        api = ApiClient(http, background=Background())
        unreachable, failures = [], []
        api.unreachable.connect(unreachable.append)

        with Ticks() as ticks:
            for _ in range(3):
                api.get("/healthz", on_done=failures.append, on_error=failures.append)
            qtbot.waitUntil(lambda: len(failures) == 3, timeout=WAIT_MS)

        assert all(f.code == "unreachable" for f in failures), failures
        assert len(unreachable) == 1  # one banner, not three
        assert ticks.times[-1] - ticks.times[0] >= 1.4
        assert ticks.longest_gap <= MAX_GAP_S, f"the UI thread stalled for {ticks.longest_gap * 1000:.0f} ms"
    finally:
        silent.close()
