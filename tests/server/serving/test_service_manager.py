"""`serve` under systemd's Type=notify: READY=1 once /readyz passes, WATCHDOG=1 pings while the app answers,
STOPPING=1 on the way out; nothing sent where systemd did not ask, and Caddy never sees the socket."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from server.serving.service_manager import ServiceManager, child_environment
from tests.notifications import NotificationSocket


@pytest.fixture
def notifications(tmp_path):
    listener = NotificationSocket(tmp_path)
    yield listener
    listener.close()


def test_serve_says_ready_only_once_readyz_passes_then_pings_the_watchdog_and_says_stopping(own_appliance,
                                                                                           notifications):
    own_appliance.env.update(notifications.environment(watchdog_seconds=1.0))
    running = own_appliance.start()

    ready = notifications.wait_for("READY=1")
    assert ready["STATUS"].startswith("serving https://")
    assert notifications.messages[0] == {"STATUS": "starting: waiting for /readyz"}
    status, _, body = running.get("/readyz")
    assert status == 200 and b'"ready"' in body
    notifications.wait_for("WATCHDOG=1", timeout=10)
    [caddy] = running.caddy_pids()
    caddy_environment = Path(f"/proc/{caddy}/environ").read_bytes().split(b"\0")
    assert not [v for v in caddy_environment if v.startswith((b"NOTIFY_SOCKET=", b"WATCHDOG_"))]

    assert running.stop() == 0
    assert notifications.wait_for("STOPPING=1", timeout=5)["STATUS"] == "stopping"


def test_a_socket_path_is_reached_as_well_as_an_abstract_name(tmp_path):
    listener = NotificationSocket(tmp_path, abstract=False)
    try:
        assert ServiceManager({"NOTIFY_SOCKET": listener.address}).ready("serving")
        assert listener.wait_for("READY=1", timeout=5) == {"READY": "1", "STATUS": "serving"}
    finally:
        listener.close()


def test_nothing_is_sent_where_systemd_did_not_ask():
    manager = ServiceManager({})
    assert not manager.listening and manager.watchdog_seconds is None
    assert manager.ready("serving") is False


def test_a_socket_nobody_listens_on_is_reported_not_raised(tmp_path, caplog):
    manager = ServiceManager({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert manager.notify("READY=1") is False
    assert "cannot notify the service manager" in caplog.text


@pytest.mark.parametrize(("environ", "seconds"), [
    ({"WATCHDOG_USEC": "30000000"}, 30.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
])
def test_the_watchdog_interval_is_taken_only_when_it_is_meant_for_this_process(environ, seconds):
    assert ServiceManager({"NOTIFY_SOCKET": "@x", **environ}).watchdog_seconds == seconds


def test_children_get_the_environment_without_what_systemd_handed_the_service():
    environ = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1", "WATCHDOG_PID": "2", "PATH": "/usr/bin"}
    assert child_environment(environ) == {"PATH": "/usr/bin"}


def test_an_abstract_name_is_sent_to_with_a_leading_nul_byte():
    name = f"chatspark-abstract-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind("\0" + name)
        receiver.settimeout(5)
        assert ServiceManager({"NOTIFY_SOCKET": "@" + name}).watchdog()
        assert receiver.recv(100) == b"WATCHDOG=1"
