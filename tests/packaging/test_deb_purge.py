"""Removing the .deb: `apt purge` takes the program, its links, its settings and the first password away but keeps
the data, the backups and the keys (a reinstall finds them again) unless CHATSPARK_PURGE_DATA=yes and
CHATSPARK_PURGE_KEYS=yes ask for them too."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.packaging import installing
from tests.packaging.conftest import package
from tests.packaging.installing import BACKUP_DIR, CONFIG, DATA_DIR, INSTALLED_UNIT, KEY_DIR, PASSWORD_FILE

GONE_ON_PURGE = (Path("/opt/chatspark"), Path("/usr/bin/chatspark"), CONFIG, PASSWORD_FILE, INSTALLED_UNIT)


def user_exists() -> bool:
    return subprocess.run(["getent", "passwd", "chatspark"], capture_output=True).returncode == 0


def test_purge_keeps_data_and_keys_unless_asked_and_deletes_them_when_asked():
    deb = package("chatspark-appliance", "deb")
    installing.remove_test_installation()
    try:
        installing.install(deb)
        installing.mark_as_ours()

        said = installing.purge("chatspark-appliance")
        assert installing.package_state("chatspark-appliance") == "not-installed"
        assert not [path for path in GONE_ON_PURGE if path.exists() or path.is_symlink()]
        assert (DATA_DIR / "control.db").is_file() and (KEY_DIR / "keys.db").is_file() and BACKUP_DIR.is_dir()
        assert user_exists()
        assert "Kept: /var/lib/chatspark /var/backups/chatspark /etc/chatspark/keys" in said
        assert "CHATSPARK_PURGE_DATA=yes" in said and "CHATSPARK_PURGE_KEYS=yes" in said

        again = installing.install(deb)  # finds its appliance again: no second init, no new operator
        assert "First operator" not in again and "CA fingerprint: SHA-256" in again

        said = installing.purge("chatspark-appliance", **installing.PURGE_EVERYTHING)
        assert "Deleted the data" in said and "Deleted the keys" in said
        assert not [path for path in (DATA_DIR, BACKUP_DIR, KEY_DIR.parent) if path.exists()]
        assert not user_exists()
    finally:
        installing.remove_test_installation()
