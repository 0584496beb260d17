"""The .deb on this machine: installed with apt, its files, owners and modes, the first operator and the CA printed;
the unit's ExecStart served as chatspark under the unit's sandbox (no systemd here: see unit_sandbox) answering
/readyz over HTTPS, a login and a chat; the settings kept across a reinstall; then purged (see test_deb_purge)."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import re
import stat
from pathlib import Path

import pytest

from appliance import __version__
from appliance.keys import certificates
from tests.packaging import installing
from tests.packaging.conftest import UNIT, package, run
from tests.packaging.installing import BACKUP_DIR, CONFIG, DATA_DIR, INSTALLED_UNIT, KEY_DIR, PASSWORD_FILE
from tests.packaging.service import SYSTEMD_RUNS, serving
from tests.packaging.serving import Served, demo_agent, port_closed
from tests.running import children_named, free_port

OPERATOR = "operator@localhost.localdomain"
RELEASE = Path(f"/opt/chatspark/{__version__}")


@pytest.fixture(scope="module")
def installed():
    deb = package("chatspark-appliance", "deb")
    installing.remove_test_installation()
    output = installing.install(deb)
    installing.mark_as_ours()
    yield output
    installing.remove_test_installation()


def mode_and_owner(path: Path) -> tuple[str, int, str, str]:
    info = path.lstat()
    kind = "link" if stat.S_ISLNK(info.st_mode) else "dir" if stat.S_ISDIR(info.st_mode) else "file"
    return kind, stat.S_IMODE(info.st_mode), pwd.getpwuid(info.st_uid).pw_name, grp.getgrgid(info.st_gid).gr_name


def test_first_install_says_where_the_password_is_and_prints_the_url_and_the_ca_fingerprint(installed):
    assert f"First operator: {OPERATOR}; password in {PASSWORD_FILE}" in installed
    assert "URL: https://localhost:8443/" in installed
    ca = certificates.load_certificate((DATA_DIR / "tls" / "ca.crt").read_bytes())
    assert f"CA fingerprint: SHA-256 {certificates.fingerprint(ca)}" in installed
    if SYSTEMD_RUNS:
        assert "Service: chatspark.service" in installed
    else:
        assert "systemd is not running here, so no service was started" in installed


@pytest.mark.parametrize(("path", "expected"), [
    (RELEASE, ("dir", 0o755, "root", "root")),
    (RELEASE / "chatspark", ("file", 0o755, "root", "root")),
    (Path("/opt/chatspark/current"), ("link", 0o777, "root", "root")),
    (Path("/usr/bin/chatspark"), ("link", 0o777, "root", "root")),
    (Path("/etc/chatspark"), ("dir", 0o755, "root", "root")),
    (CONFIG, ("file", 0o640, "root", "chatspark")),
    (PASSWORD_FILE, ("file", 0o600, "root", "root")),
    (KEY_DIR, ("dir", 0o700, "chatspark", "chatspark")),
    (KEY_DIR / "keys.db", ("file", 0o600, "chatspark", "chatspark")),
    (DATA_DIR, ("dir", 0o700, "chatspark", "chatspark")),
    (DATA_DIR / "control.db", ("file", 0o600, "chatspark", "chatspark")),
    (Path("/var/backups/chatspark"), ("dir", 0o700, "chatspark", "chatspark")),
    (INSTALLED_UNIT, ("file", 0o644, "root", "root")),
])
def test_files_owners_and_modes(installed, path, expected):
    assert mode_and_owner(path) == expected


def test_current_points_at_the_release_and_the_command_at_current(installed):
    assert os.readlink("/opt/chatspark/current") == str(RELEASE)
    assert os.readlink("/usr/bin/chatspark") == "/opt/chatspark/current/chatspark"
    assert run("/usr/bin/chatspark", "--version").stdout.strip() == f"chatspark {__version__}"
    assert INSTALLED_UNIT.read_text() == UNIT.read_text()


def test_the_release_is_root_s_and_the_keys_and_data_are_chatspark_s_alone(installed):
    for path in RELEASE.rglob("*"):
        info = path.lstat()
        assert info.st_uid == 0 and not (stat.S_ISREG(info.st_mode) and info.st_mode & 0o022), path
    for folder in (KEY_DIR, DATA_DIR):
        for path in folder.rglob("*"):
            info = path.lstat()
            # Certificates are public (inside 0700 folders all the same); everything else is chatspark's alone.
            private = 0o022 if path.suffix == ".crt" else 0o077
            assert pwd.getpwuid(info.st_uid).pw_name == "chatspark" and not info.st_mode & private, path


def test_the_chatspark_user_is_a_system_account_without_a_login(installed):
    account = pwd.getpwnam("chatspark")
    assert account.pw_uid < 1000 and account.pw_shell == "/usr/sbin/nologin" and account.pw_dir == str(DATA_DIR)


def test_the_settings_file_is_a_conffile(installed):
    conffiles = run("dpkg-query", "-W", "-f", "${Conffiles}", "chatspark-appliance").stdout
    assert str(CONFIG) in conffiles


def test_the_unit_s_exec_start_under_its_sandbox_serves_readyz_a_login_and_a_chat(installed, tmp_path):
    port, site_port = free_port(), free_port()
    demo = run("runuser", "-u", "chatspark", "--", "/usr/bin/chatspark", "demo", "create", "--config", CONFIG,
               "--owner-email", OPERATOR, "--site-port", str(site_port), "--appliance-url",
               f"https://localhost:{port}", cwd=DATA_DIR)
    public_id = demo_agent(demo.stdout)
    with serving(port, tmp_path) as main_pid:
        served = Served(port, DATA_DIR / "tls" / "ca.crt")
        status, body = served.call("GET", "/readyz")
        assert status == 200 and body["status"] == "ready"

        [caddy] = children_named(main_pid, "caddy")
        for pid in (main_pid, caddy):
            facts = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
            assert facts["Uid"].split()[0] == str(pwd.getpwnam("chatspark").pw_uid)
            assert (facts["NoNewPrivs"], facts["Seccomp"], facts["CapBnd"]) == ("1", "2", "0000000000000000")
        mounts = {fields[4]: fields[5] for fields in
                  (line.split() for line in Path(f"/proc/{main_pid}/mountinfo").read_text().splitlines())}
        assert mounts["/"].startswith("ro") and mounts[str(DATA_DIR)].startswith("rw")

        password = PASSWORD_FILE.read_text().strip()
        token = served.login(OPERATOR, password)  # argon2 (cffi) under the filter
        # A new workspace gets a key of its own: the service writes the keystore, in the key directory.
        status, workspace = served.call("POST", "/api/v1/workspaces", {"name": "Sandboxed"},
                                        headers={"Authorization": f"Bearer {token}"})
        assert status == 201, workspace
        # A backup lands in the backup directory and is verified by restoring it into scratch (the private /tmp).
        status, made = served.call("POST", "/api/v1/backups", headers={"Authorization": f"Bearer {token}"})
        assert status == 201 and made["backup"]["status"] == "complete", made
        status, checked = served.call("POST", f"/api/v1/backups/{made['backup']['id']}/verify",
                                      headers={"Authorization": f"Bearer {token}"})
        assert status == 200 and checked["backup"]["verification_status"] == "passed", checked
        assert (BACKUP_DIR / made["backup"]["file_name"]).is_file()
        reply = served.chat(public_id, f"https://localhost:{site_port}", "Where do visitors park?")
        assert reply["answered"] and "B1" in reply["text"]  # the question embedded by the ONNX runtime
        log = DATA_DIR / "logs" / "chatspark.log"
        assert not log.stat().st_mode & 0o077  # UMask=0077
    assert port_closed(port)


def test_a_reinstall_keeps_the_operator_s_settings_and_the_appliance(installed):
    edited = CONFIG.read_text() + "# changed by the operator\n"
    CONFIG.write_text(edited)
    keys = hashlib.sha256((KEY_DIR / "keys.db").read_bytes()).hexdigest()
    output = run("dpkg", "-i", package("chatspark-appliance", "deb")).stdout
    assert CONFIG.read_text() == edited
    assert hashlib.sha256((KEY_DIR / "keys.db").read_bytes()).hexdigest() == keys
    assert "First operator" not in output and "CA fingerprint: SHA-256" in output


def test_the_rpm_carries_the_same_layout_and_scripts():
    rpm = package("chatspark-appliance", "rpm")
    query = ("[%{FILENAMES}\t%{FILEMODES:perms}\t%{FILEUSERNAME}\t%{FILEGROUPNAME}\t%{FILEFLAGS:fflags}"
             "\t%{FILELINKTOS}\n]")
    listing = run("rpm", "-qp", "--nosignature", "--qf", query, rpm).stdout
    files = {fields[0]: fields[1:] for fields in (line.split("\t") for line in listing.splitlines())}
    assert files[str(CONFIG)][:4] == ["-rw-r-----", "root", "chatspark", "cn"]
    assert files[str(RELEASE / "chatspark")][0] == "-rwxr-xr-x"
    assert str(INSTALLED_UNIT) in files and str(RELEASE / "_internal" / "bin" / "caddy") in files
    # The links are the scripts' to make and move (an upgrade moves `current` when it decides), not the package's.
    assert "/opt/chatspark/current" not in files and "/usr/bin/chatspark" not in files
    scripts = run("rpm", "-qp", "--nosignature", "--scripts", rpm).stdout
    assert all(re.search(rf"^{name} scriptlet", scripts, re.M) for name in ("preinstall", "postinstall",
                                                                             "preuninstall", "postuninstall"))
    assert f"RELEASE={RELEASE}\n" in scripts and "mv -T /opt/chatspark/current.new /opt/chatspark/current" in scripts
