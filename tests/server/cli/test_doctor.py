"""`chatspark doctor` on real appliances: each thing an operator gets wrong shows as its own finding with a fix, a
failure exits 1, and a fresh appliance passes (with the warnings that its layout deserves)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from appliance.keys import certificates
from tests.appliance.mail.smtp_server import running_smtp_server, unused_port
from tests.running import chatspark, free_port
from tests.server.conftest import init_appliance

CHECKS = ["directories", "keys_apart", "backups_apart", "permissions", "certificate", "disk", "mail", "clock", "port",
          "caddy"]


def doctor(data_dir: Path, key_dir: Path, *args: str, env: dict | None = None) -> tuple[int, dict[str, dict]]:
    """Exit code and the findings by id, from `chatspark doctor --json` (on a port nothing listens on, unless the
    arguments name another)."""
    port = [] if "--port" in args else ["--port", str(free_port())]
    result = chatspark("doctor", "--data-dir", str(data_dir), "--key-dir", str(key_dir), *port, *args, "--json",
                       env=env)
    assert "Traceback" not in result.stderr, result.stderr
    found = json.loads(result.stdout)
    assert found["failures"] == sum(c["status"] == "fail" for c in found["checks"])
    return result.returncode, {check["id"]: check for check in found["checks"]}


@pytest.fixture
def appliance(tmp_path) -> tuple[Path, Path]:
    return init_appliance(tmp_path)


@pytest.fixture
def other_disk():
    """A directory on another filesystem than the tests' temporary one (tmpfs in /dev/shm)."""
    path = Path(tempfile.mkdtemp(prefix="chatspark-doctor-", dir="/dev/shm"))
    assert os.stat(path).st_dev != os.stat(tempfile.gettempdir()).st_dev
    yield path
    shutil.rmtree(path, ignore_errors=True)


def certificate_files(directory: Path, *, now: dt.datetime) -> dict[str, str]:
    """An operator-supplied certificate and key issued as if at `now`, as the settings that name them."""
    ca = certificates.issue_ca(appliance_id="doctor-test-ca", now=now)
    server = certificates.issue_server(ca, names=["localhost"], now=now)
    (directory / "server.pem").write_bytes(server.cert_pem)
    (directory / "server-key.pem").write_bytes(server.key_pem)
    return {"CHATSPARK_TLS_CERT_FILE": str(directory / "server.pem"),
            "CHATSPARK_TLS_KEY_FILE": str(directory / "server-key.pem")}


def test_a_fresh_appliance_passes_and_warns_of_keys_and_backups_on_the_data_disk(appliance):
    code, found = doctor(*appliance)

    assert code == 0 and list(found) == CHECKS
    assert {check_id: c["status"] for check_id, c in found.items()} == {
        **{check_id: "ok" for check_id in CHECKS}, "keys_apart": "warn", "backups_apart": "warn"}
    assert "same filesystem" in found["keys_apart"]["summary"] and "key_dir" in found["keys_apart"]["fix"]
    assert "backup_dir" in found["backups_apart"]["fix"]
    assert "chatspark mail show" in found["mail"]["summary"]
    assert found["caddy"]["summary"].startswith("Caddy v2.")
    text = chatspark("doctor", "--data-dir", str(appliance[0]), "--key-dir", str(appliance[1]), "--port",
                     str(free_port()))
    assert text.returncode == 0 and "WARN  keys_apart" in text.stdout and "fix: set backup_dir" in text.stdout
    assert "0 failure(s)" in text.stdout
    strict = chatspark("doctor", "--data-dir", str(appliance[0]), "--key-dir", str(appliance[1]), "--port",
                       str(free_port()), "--strict")
    assert strict.returncode == 1


def test_keys_and_backups_on_other_filesystems_pass(tmp_path, other_disk):
    data_dir, key_dir = tmp_path / "data", other_disk / "keys"
    assert chatspark("init", "--data-dir", str(data_dir), "--key-dir", str(key_dir)).returncode == 0

    code, found = doctor(data_dir, key_dir, env={"CHATSPARK_BACKUP_DIR": str(other_disk / "backups")})

    assert code == 0
    assert found["keys_apart"]["status"] == "ok" and found["backups_apart"]["status"] == "ok"
    assert found["backup_disk"]["status"] == "ok" and str(other_disk / "backups") in found["backup_disk"]["summary"]


def test_backups_set_to_the_data_disk_warn(appliance, tmp_path):
    code, found = doctor(*appliance, env={"CHATSPARK_BACKUP_DIR": str(tmp_path / "backups")})

    assert code == 0 and found["backups_apart"]["status"] == "warn"
    assert "same filesystem" in found["backups_apart"]["summary"]


def test_no_appliance_in_the_directories_fails(tmp_path):
    code, found = doctor(tmp_path / "nothing", tmp_path / "no-keys")

    assert code == 1 and found["directories"]["status"] == "fail"
    assert "chatspark init" in found["directories"]["fix"]


@pytest.mark.parametrize("relative, mode, fix", [("data", 0o755, "chmod 700"), ("keys/master.key", 0o644, "chmod 600"),
                                                  ("data/control.db", 0o640, "chmod 600")])
def test_secrets_others_may_read_fail_with_the_chmod_that_fixes_them(appliance, relative, mode, fix):
    path = appliance[0].parent / relative
    os.chmod(path, mode)

    code, found = doctor(*appliance)

    assert code == 1 and found["permissions"]["status"] == "fail"
    assert f"{path} is {mode:o}" in found["permissions"]["summary"] and f"{fix} {path}" in found["permissions"]["fix"]


def test_files_another_user_owns_fail_with_the_chown_that_fixes_them(appliance):
    control = appliance[0] / "control.db"
    if os.geteuid() == 0:  # as root the test can leave a file behind that another user owns, as `sudo` would
        os.chown(control, 65534, 65534)
        code, found = doctor(*appliance)
        assert code == 1 and found["permissions"]["status"] == "fail"
        assert str(control) in found["permissions"]["summary"] and "chown -R root" in found["permissions"]["fix"]
    else:
        code, found = doctor(*appliance)
        assert code == 0 and found["permissions"]["status"] == "ok"


def test_an_expired_certificate_fails_and_one_close_to_its_end_warns(appliance, tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    expired = certificate_files(tmp_path, now=now - certificates.SERVER_LIFETIME - dt.timedelta(days=1))

    code, found = doctor(*appliance, env=expired)

    assert code == 1 and found["certificate"]["status"] == "fail" and "expired" in found["certificate"]["summary"]
    assert "tls_cert_file" in found["certificate"]["fix"]
    ending = certificate_files(tmp_path, now=now - certificates.SERVER_LIFETIME + dt.timedelta(days=10))
    code, found = doctor(*appliance, env=ending)
    assert code == 0 and found["certificate"]["status"] == "warn" and "in 9 days" in found["certificate"]["summary"]


def test_a_clock_behind_what_the_appliance_has_seen_fails(appliance, tmp_path):
    control = appliance[0] / "control.db"
    tomorrow = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).timestamp()
    os.utime(control, (tomorrow, tomorrow))

    code, found = doctor(*appliance)

    assert code == 1 and found["clock"]["status"] == "fail"
    assert f"the appliance wrote {control} at" in found["clock"]["summary"] and "ntp" in found["clock"]["fix"]
    os.utime(control)
    future = certificate_files(tmp_path, now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2))
    code, found = doctor(*appliance, env=future)
    assert code == 1 and found["clock"]["status"] == "fail" and "is valid only from" in found["clock"]["summary"]


def test_too_little_free_disk_fails(appliance):
    code, found = doctor(*appliance, env={"CHATSPARK_MIN_FREE_DISK_BYTES": str(2 ** 62)})

    assert code == 1 and found["disk"]["status"] == "fail" and "min_free_disk_bytes" in found["disk"]["summary"]


def test_an_unreachable_mail_relay_fails_and_a_reachable_one_passes(appliance):
    relay = {"CHATSPARK_SMTP_HOST": "127.0.0.1", "CHATSPARK_SMTP_SECURITY": "none"}
    port = unused_port()
    code, found = doctor(*appliance, env={**relay, "CHATSPARK_SMTP_PORT": str(port)})

    assert code == 1 and found["mail"]["status"] == "fail"
    assert f"cannot reach the mail relay at 127.0.0.1:{port}" in found["mail"]["summary"]
    assert "smtp_port" in found["mail"]["fix"]
    with running_smtp_server() as server:
        code, found = doctor(*appliance, env={**relay, "CHATSPARK_SMTP_PORT": str(server.port)})
    assert code == 0 and found["mail"]["status"] == "ok" and "accepts connections" in found["mail"]["summary"]


def test_a_port_another_program_holds_fails(appliance):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        code, found = doctor(*appliance, "--port", str(port))

    assert code == 1 and found["port"]["status"] == "fail"
    assert f"127.0.0.1:{port} is held by another program" in found["port"]["summary"]
    assert f"sport = :{port}" in found["port"]["fix"]


def test_a_missing_or_broken_caddy_fails(appliance, tmp_path):
    code, found = doctor(*appliance, env={"CHATSPARK_CADDY_BINARY": str(tmp_path / "no-caddy")})
    assert code == 1 and found["caddy"]["status"] == "fail" and "caddy_binary" in found["caddy"]["fix"]

    broken = tmp_path / "caddy"
    broken.write_text("#!/bin/sh\necho 'caddy: cannot execute binary file' >&2\nexit 126\n")
    broken.chmod(0o755)
    code, found = doctor(*appliance, env={"CHATSPARK_CADDY_BINARY": str(broken)})
    assert code == 1 and found["caddy"]["status"] == "fail"
    assert "cannot execute binary file" in found["caddy"]["summary"]


def test_the_port_of_a_running_appliance_is_its_own_and_settings_naming_another_warn(own_appliance):
    own_appliance.start()

    code, found = doctor(own_appliance.data_dir, own_appliance.key_dir, "--port", str(own_appliance.port))

    assert code == 0 and found["port"]["status"] == "ok"
    assert f"held by this appliance (pid {own_appliance.process.pid})" in found["port"]["summary"]
    elsewhere = free_port()
    code, found = doctor(own_appliance.data_dir, own_appliance.key_dir, "--port", str(elsewhere))
    assert code == 0 and found["port_settings"]["status"] == "warn" and found["port"]["status"] == "ok"
    assert f"listens on 127.0.0.1:{own_appliance.port}, but the settings say 127.0.0.1:{elsewhere}" in (
        found["port_settings"]["summary"])
    assert f"port = {own_appliance.port}" in found["port_settings"]["fix"]
