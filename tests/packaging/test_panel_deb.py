"""The panel's .deb: the bundle in /opt/chatspark-panel/, `chatspark-panel` on PATH, a desktop entry; installed with
apt, started offscreen, then purged without a trace."""

from __future__ import annotations

import configparser
import os
from pathlib import Path

from tests.packaging import installing
from tests.packaging.conftest import bare_environment, package, run

DESKTOP_ENTRY = Path("/usr/share/applications/chatspark-panel.desktop")


def test_the_panel_package_installs_starts_offscreen_and_purges_clean(tmp_path):
    deb = package("chatspark-panel", "deb")
    if installing.package_state("chatspark-panel") != "not-installed":
        installing.purge("chatspark-panel")
    try:
        installing.install(deb)
        assert os.readlink("/usr/bin/chatspark-panel") == "/opt/chatspark-panel/chatspark-panel"
        entry = configparser.ConfigParser(interpolation=None)
        entry.read(DESKTOP_ENTRY)
        assert entry["Desktop Entry"]["Exec"] == "/usr/bin/chatspark-panel"
        assert entry["Desktop Entry"]["Type"] == "Application" and entry["Desktop Entry"]["Name"]
        env = bare_environment(tmp_path, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(tmp_path))
        started = run("/usr/bin/chatspark-panel", "--smoke", "--settings", tmp_path / "panel.json", env=env,
                      cwd=tmp_path, timeout=60)
        assert started.returncode == 0
    finally:
        if installing.package_state("chatspark-panel") != "not-installed":
            installing.purge("chatspark-panel")
    assert not [path for path in (Path("/opt/chatspark-panel"), Path("/usr/bin/chatspark-panel"), DESKTOP_ENTRY)
                if path.exists() or path.is_symlink()]
