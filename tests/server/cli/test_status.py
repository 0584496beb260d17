"""`chatspark status` finds its appliance as an installed one would: from the settings files with no flags at all,
and at the port the running service listens on, whatever flag or variable started it there."""

from __future__ import annotations

import json
import re

from tests.running import RunningAppliance, chatspark, free_port
from tests.server.cli.shell import assert_one_line_failure
from tests.server.conftest import init_appliance

INSTALLED = ("CHATSPARK_CONFIG",)  # taken out of the environment: the command looks for the installed settings


def users_settings(tmp_path, text: str) -> dict:
    """A user's own settings file holding `text`, and the environment under which it is theirs."""
    config_home = tmp_path / "config-home"
    (config_home / "chatspark").mkdir(parents=True)
    (config_home / "chatspark" / "appliance.toml").write_text(text)
    return {"XDG_CONFIG_HOME": str(config_home)}


def test_with_no_flags_the_appliance_and_its_port_come_from_the_users_settings_file(tmp_path):
    port = free_port()
    env = users_settings(tmp_path, f'data_dir = "{tmp_path}/data"\nkey_dir = "{tmp_path}/keys"\nport = {port}\n')
    settings_file = tmp_path / "config-home" / "chatspark" / "appliance.toml"
    assert chatspark("init", env=env, unset=INSTALLED).returncode == 0
    assert (tmp_path / "data" / "control.db").is_file() and (tmp_path / "keys" / "keys.db").is_file()

    stopped = chatspark("status", env=env, unset=INSTALLED)

    assert stopped.returncode == 3, stopped.stderr
    # Read last, after /etc/chatspark/appliance.toml where this machine has one, so its values win.
    assert re.search(rf"^settings: .*{re.escape(str(settings_file))}$", stopped.stdout, re.M), stopped.stdout
    assert f"data directory:  {tmp_path / 'data'}" in stopped.stdout
    assert f"not answering at https://localhost:{port}/ (asked at https://127.0.0.1:{port}:" in stopped.stdout
    running = RunningAppliance(tmp_path / "data", tmp_path / "keys", port).start()
    try:
        serving = chatspark("status", env=env, unset=INSTALLED)
    finally:
        running.stop()
    assert serving.returncode == 0, serving.stdout
    # The URL serve printed, as a browser reaches it, not the loopback address status asked at.
    assert f"service:         https://localhost:{port}/ answers: ready" in serving.stdout


def test_status_asks_the_running_service_where_it_listens_not_the_settings(own_appliance):
    # The issue's case: served on a port given as a flag (make run PORT=18443), asked about with the settings' own.
    dirs = ["--data-dir", str(own_appliance.data_dir), "--key-dir", str(own_appliance.key_dir)]
    settings_port = {"CHATSPARK_PORT": str(free_port())}
    own_appliance.start()

    found = chatspark("status", *dirs, "--json", env=settings_port)

    assert found.returncode == 0, found.stdout + found.stderr
    service = json.loads(found.stdout)["service"]
    assert service["url"] == f"https://localhost:{own_appliance.port}/" and service["answers"] is True
    assert service["checked_at"] == f"https://127.0.0.1:{own_appliance.port}"
    assert (service["address_from"], service["pid"]) == ("serving_record", own_appliance.process.pid)
    flagged = chatspark("status", *dirs, "--port", settings_port["CHATSPARK_PORT"], env=settings_port)
    assert flagged.returncode == 3 and "not answering" in flagged.stdout
    own_appliance.stop()
    assert not (own_appliance.data_dir / "serving.json").exists()
    stopped = chatspark("status", *dirs, env=settings_port)
    assert stopped.returncode == 3
    assert f"not answering at https://localhost:{settings_port['CHATSPARK_PORT']}/" in stopped.stdout
    assert "no `chatspark serve` of this data directory is running" in stopped.stdout


def test_a_serve_killed_without_cleaning_up_leaves_no_address_to_believe(own_appliance):
    own_appliance.start()
    own_appliance.process.kill()
    own_appliance.process.wait()
    assert (own_appliance.data_dir / "serving.json").exists()

    found = chatspark("status", "--data-dir", str(own_appliance.data_dir), "--key-dir", str(own_appliance.key_dir),
                      "--json")

    assert json.loads(found.stdout)["service"]["address_from"] == "settings"


def test_chatspark_config_names_the_settings_file_and_the_flag_names_another(tmp_path):
    first = init_appliance(tmp_path / "first")
    second = init_appliance(tmp_path / "second")
    files = {}
    for name, (data_dir, key_dir) in (("first", first), ("second", second)):
        files[name] = tmp_path / f"{name}.toml"
        files[name].write_text(f'data_dir = "{data_dir}"\nkey_dir = "{key_dir}"\nport = {free_port()}\n')

    named = chatspark("status", env={"CHATSPARK_CONFIG": str(files["first"])})
    flagged = chatspark("status", "--config", str(files["second"]), env={"CHATSPARK_CONFIG": str(files["first"])})

    assert f"data directory:  {first[0]}" in named.stdout and f"settings:        {files['first']}" in named.stdout
    assert f"data directory:  {second[0]}" in flagged.stdout and str(files["first"]) not in flagged.stdout
    missing = chatspark("status", env={"CHATSPARK_CONFIG": str(tmp_path / "nowhere.toml")})
    assert_one_line_failure(missing, "CHATSPARK_CONFIG names", "does not exist")


def test_an_installed_settings_file_that_cannot_be_read_stops_the_command(tmp_path):
    env = users_settings(tmp_path, "")
    settings_file = tmp_path / "config-home" / "chatspark" / "appliance.toml"
    settings_file.unlink()
    settings_file.mkdir()

    assert_one_line_failure(chatspark("status", env=env, unset=INSTALLED), str(settings_file), "not a file")


def test_help_names_the_search_order_with_this_users_paths():
    result = chatspark("--help", env={"XDG_CONFIG_HOME": "/srv/operator/settings"})

    text = " ".join(result.stdout.split())
    assert result.returncode == 0
    assert ("--config FILE, else $CHATSPARK_CONFIG, else the installed settings, each if present: "
            "/etc/chatspark/appliance.toml, then /srv/operator/settings/chatspark/appliance.toml") in text
