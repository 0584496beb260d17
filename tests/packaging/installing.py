"""Installing and purging the built packages on this machine (root), guarded so that the tests never touch an
installation they did not make themselves."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.packaging.conftest import run

DATA_DIR = Path("/var/lib/chatspark")
KEY_DIR = Path("/etc/chatspark/keys")
BACKUP_DIR = Path("/var/backups/chatspark")
CONFIG = Path("/etc/chatspark/appliance.toml")
PASSWORD_FILE = Path("/etc/chatspark/first-operator-password.txt")
INSTALLED_UNIT = Path("/usr/lib/systemd/system/chatspark.service")
# Left in the data directory by these tests, so that a later run may clean up after an interrupted one.
MARKER = DATA_DIR / ".made-by-package-tests"
PURGE_EVERYTHING = {"CHATSPARK_PURGE_DATA": "yes", "CHATSPARK_PURGE_KEYS": "yes"}
APT = {"DEBIAN_FRONTEND": "noninteractive"}


def package_state(name: str) -> str:
    result = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Status}", name], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else "not-installed"


def apt(*args: str | Path, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    # Waits for the dpkg lock rather than failing while another apt-get (a `make test` installing chromium) runs.
    return run("apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=300", *args, env={**os.environ, **APT, **(env or {})},
               timeout=600, check=check)


def install(deb: Path, **env: str) -> str:
    """apt-get install ./the.deb (apt resolves its dependencies); returns what the maintainer scripts printed."""
    return apt("install", "--no-install-recommends", deb.resolve(), env=env).stdout


def purge(name: str, **env: str) -> str:
    return apt("purge", name, env=env).stdout


def remove_test_installation() -> None:
    """Leave the machine without chatspark-appliance, its directories and its user, if these tests made them."""
    leftovers = [path for path in (DATA_DIR, KEY_DIR.parent, BACKUP_DIR) if path.exists()]
    state = package_state("chatspark-appliance")
    if (state != "not-installed" or leftovers) and not MARKER.exists():
        pytest.fail(f"chatspark-appliance ({state}) or its directories ({', '.join(map(str, leftovers))}) are on "
                    "this machine and these tests did not put them there: remove them first, they are not touched")
    if state != "not-installed":
        purge("chatspark-appliance", **PURGE_EVERYTHING)
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    if subprocess.run(["getent", "passwd", "chatspark"], capture_output=True).returncode == 0:
        run("userdel", "chatspark")
    if subprocess.run(["getent", "group", "chatspark"], capture_output=True).returncode == 0:
        run("groupdel", "chatspark")


def mark_as_ours() -> None:
    MARKER.touch(mode=0o600)
    shutil.chown(MARKER, "chatspark", "chatspark")
