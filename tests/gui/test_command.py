"""`chatspark panel` starts the panel from the project: it shows the connect dialog (here offscreen) and exits."""

from __future__ import annotations

from gui.settings import PanelSettings
from tests.running import chatspark


def test_chatspark_panel_starts_and_shows_the_connect_dialog(tmp_path):
    settings = tmp_path / "panel.json"
    result = chatspark("panel", "--url", "https://chatspark.example:8443", "--settings", str(settings), "--smoke",
                       env={"QT_QPA_PLATFORM": "offscreen"})

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert not settings.exists()  # nothing is remembered until an appliance is pinned


def test_chatspark_help_lists_the_panel():
    result = chatspark("--help")
    assert "panel" in result.stdout and "desktop control panel" in result.stdout


def test_the_panel_keeps_its_settings_in_the_users_config_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert PanelSettings.default().path == tmp_path / "config" / "chatspark" / "panel.json"
