"""The installed service started as it runs in production: by systemd where it runs, else the unit's ExecStart as
chatspark under the unit's sandbox (unit_sandbox) with a notification socket of the test's own."""

from __future__ import annotations

import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from tests.notifications import NotificationSocket
from tests.packaging.conftest import ROOT, run
from tests.packaging.installing import INSTALLED_UNIT
from tests.packaging.unit_sandbox import NOT_REPRODUCED

SYSTEMD_RUNS = Path("/run/systemd/system").is_dir()


@contextmanager
def sandboxed_without_systemd(port: int, tmp_path: Path):
    """The unit's ExecStart as chatspark under the unit's sandbox (unit_sandbox), as systemd would start it, with a
    notification socket of the test's own: yields the main process id once READY=1 came, after checking the
    watchdog pings; on the way out stops it as systemd would (SIGTERM) and checks it stopped clean."""
    notifications = NotificationSocket(tmp_path)
    settings = [f"CHATSPARK_PORT={port}",  # as a drop-in's Environment= would: 8443 may be taken on this machine
                *(f"{k}={v}" for k, v in notifications.environment(watchdog_seconds=2).items())]
    print(f"\nSandbox of {INSTALLED_UNIT} not reproduced without systemd: {'; '.join(NOT_REPRODUCED)}")
    try:
        with (tmp_path / "out").open("w") as out, (tmp_path / "err").open("w") as err:
            service = subprocess.Popen([sys.executable, "-m", "tests.packaging.unit_sandbox", INSTALLED_UNIT,
                                        *(part for item in settings for part in ("--env", item))],
                                       cwd=ROOT, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        try:
            assert notifications.wait_for("READY=1", timeout=90)["STATUS"].startswith("serving https://")
            notifications.wait_for("WATCHDOG=1", timeout=10)
            yield service.pid
        finally:
            service.send_signal(signal.SIGTERM)
            code = service.wait(30)
        errors = (tmp_path / "err").read_text()
        assert code == 0, errors[-3000:]
        assert notifications.wait_for("STOPPING=1", timeout=5)
        assert "Traceback" not in errors
        assert "cpuinfo" not in errors, "the ONNX runtime could not read the CPU's features"
    finally:
        notifications.close()


@contextmanager
def started_by_systemd(port: int, tmp_path: Path):
    """The installed service started by systemd itself (the port set by a runtime drop-in); `active` means READY=1."""
    drop_in = Path("/run/systemd/system/chatspark.service.d/test-port.conf")
    drop_in.parent.mkdir(parents=True, exist_ok=True)
    drop_in.write_text(f"[Service]\nEnvironment=CHATSPARK_PORT={port}\n")
    try:
        run("systemctl", "daemon-reload")
        run("systemctl", "restart", "chatspark.service", timeout=150)
        assert run("systemctl", "is-active", "chatspark.service").stdout.strip() == "active"
        yield int(run("systemctl", "show", "-p", "MainPID", "--value", "chatspark.service").stdout)
    finally:
        run("systemctl", "stop", "chatspark.service", check=False)
        drop_in.unlink()
        run("systemctl", "daemon-reload", check=False)
    assert run("systemctl", "is-active", "chatspark.service", check=False).stdout.strip() == "inactive"


def serving(port: int, tmp_path: Path):
    """The service on `port`, started the way this machine can; yields its main process id."""
    return started_by_systemd(port, tmp_path) if SYSTEMD_RUNS else sandboxed_without_systemd(port, tmp_path)
