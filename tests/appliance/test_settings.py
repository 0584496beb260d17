"""Settings: one table of defaults, the shipped file that documents it, and the order in which sources win."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from appliance import settings
from appliance.errors import ConfigurationError
from appliance.settings import SETTINGS, load

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "appliance.toml"
DEFAULTS = {s.name: s.default for s in SETTINGS}


@pytest.fixture
def environ(tmp_path) -> dict[str, str]:
    """An environment with nothing of ours set and the platform directories inside tmp_path."""
    return {"XDG_DATA_HOME": str(tmp_path / "xdg-data"), "XDG_CONFIG_HOME": str(tmp_path / "xdg-config")}


def _toml(tmp_path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_come_from_the_settings_table(environ, tmp_path):
    resolved = load(environ=environ, shipped=False).as_dict()

    assert resolved.pop("data_dir") == tmp_path / "xdg-data" / "chatspark" / "data"
    assert resolved.pop("key_dir") == tmp_path / "xdg-config" / "chatspark" / "keys"
    assert resolved == {name: value for name, value in DEFAULTS.items() if name not in ("data_dir", "key_dir")}


def test_settings_are_read_by_attribute(environ):
    resolved = load(environ=environ, shipped=False)

    assert (resolved.port, resolved.host, resolved.tls_cert_file) == (8443, "127.0.0.1", None)
    with pytest.raises(AttributeError):
        resolved.no_such_setting  # noqa: B018


def test_shipped_file_has_exactly_the_settings_in_table_order():
    document = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))

    assert settings.shipped_config_path() == SHIPPED
    assert list(document) == [s.name for s in SETTINGS]


def test_every_key_in_the_shipped_file_sits_under_a_comment():
    # Keys may share one comment (tls_cert_file and tls_key_file), but no key opens a block without one.
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    uncommented = []
    for index, line in enumerate(lines):
        if "=" not in line or line.startswith("#"):
            continue
        above = index - 1
        while above >= 0 and "=" in lines[above] and not lines[above].startswith("#"):
            above -= 1
        if above < 0 or not lines[above].startswith("#"):
            uncommented.append(line.split("=")[0].strip())
    assert uncommented == []


def test_shipped_values_equal_the_defaults_with_paths_empty():
    document = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))

    for setting in SETTINGS:
        expected = "" if setting.type is Path else setting.default
        assert document[setting.name] == expected, setting.name
        assert type(document[setting.name]) is type(expected), setting.name


def test_loading_the_shipped_file_changes_nothing(environ):
    assert load(environ=environ).as_dict() == load(environ=environ, shipped=False).as_dict()


def test_precedence_is_shipped_then_config_then_environment_then_overrides(tmp_path, environ):
    shipped = _toml(tmp_path, "shipped.toml", "port = 1001\nhost = 'shipped'\napp_threads = 2\nlog_backups = 1\n")
    operator = _toml(tmp_path, "operator.toml", "port = 1002\nhost = 'operator'\napp_threads = 3\n")
    environ |= {"CHATSPARK_PORT": "1003", "CHATSPARK_HOST": "environment"}

    resolved = load(operator, environ=environ, overrides={"port": 1004, "host": None}, shipped=shipped)

    assert resolved.port == 1004
    assert resolved.host == "environment"
    assert resolved.app_threads == 3
    assert resolved.log_backups == 1
    assert resolved.log_max_bytes == DEFAULTS["log_max_bytes"]


def test_environment_values_are_converted_to_the_settings_type(environ, tmp_path):
    environ |= {"CHATSPARK_CADDY_RESTART_DELAY_SECONDS": "2.5", "CHATSPARK_KEY_DIR": str(tmp_path / "k"),
                "CHATSPARK_DATA_DIR": ""}

    resolved = load(environ=environ, shipped=False)

    assert resolved.caddy_restart_delay_seconds == 2.5
    assert resolved.key_dir == tmp_path / "k"
    assert resolved.data_dir == tmp_path / "xdg-data" / "chatspark" / "data"


def test_paths_expand_the_home_directory(environ, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    resolved = load(environ=environ, overrides={"key_dir": "~/keys"}, shipped=False)

    assert resolved.key_dir == tmp_path / "home" / "keys"


def test_replace_returns_new_settings_with_converted_values(environ):
    original = load(environ=environ, shipped=False)

    changed = original.replace(port="9000")

    assert (changed.port, original.port) == (9000, 8443)


def test_an_unknown_key_in_a_file_raises_configuration_error_naming_it(tmp_path, environ):
    path = _toml(tmp_path, "operator.toml", "prot = 8443\n")

    with pytest.raises(ConfigurationError, match="unknown setting 'prot'"):
        load(path, environ=environ, shipped=False)


def test_an_unknown_override_raises_configuration_error_naming_it(environ):
    with pytest.raises(ConfigurationError, match="prot"):
        load(environ=environ, overrides={"prot": 8443}, shipped=False)


@pytest.mark.parametrize("line, name", [
    ('port = "eighty"', "port"),
    ("port = true", "port"),
    ("port = 8443.5", "port"),
    ("app_threads = [1, 2]", "app_threads"),
    ('caddy_restart_delay_seconds = "soon"', "caddy_restart_delay_seconds"),
])
def test_a_value_of_the_wrong_type_in_a_file_raises_configuration_error_naming_the_key(tmp_path, environ, line, name):
    path = _toml(tmp_path, "operator.toml", line + "\n")

    with pytest.raises(ConfigurationError, match=f"{path}: {name}: .* is not a valid"):
        load(path, environ=environ, shipped=False)


@pytest.mark.parametrize("line, name", [
    ('host = ["0.0.0.0", "::"]', "host"),
    ("public_host = true", "public_host"),
    ("caddy_restart_delay_seconds = false", "caddy_restart_delay_seconds"),
])
def test_a_non_text_value_for_a_text_or_number_setting_is_refused(tmp_path, environ, line, name):
    path = _toml(tmp_path, "operator.toml", line + "\n")

    with pytest.raises(ConfigurationError, match=name):
        load(path, environ=environ, shipped=False)


def test_a_wrong_type_in_the_environment_names_the_variable(environ):
    environ["CHATSPARK_PORT"] = "https"

    with pytest.raises(ConfigurationError, match="CHATSPARK_PORT: 'https' is not a valid int for port"):
        load(environ=environ, shipped=False)


def test_a_missing_or_invalid_config_file_raises_configuration_error(tmp_path, environ):
    with pytest.raises(ConfigurationError, match="does not exist"):
        load(tmp_path / "absent.toml", environ=environ, shipped=False)
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load(_toml(tmp_path, "broken.toml", "port = = 1\n"), environ=environ, shipped=False)


@pytest.mark.parametrize("overrides, message", [
    ({"port": 0}, "port must be a TCP port number"),
    ({"port": 65536}, "port must be a TCP port number"),
    ({"http_redirect_port": -1}, "http_redirect_port must be a TCP port number"),
    ({"http_redirect_port": 8443}, "http_redirect_port must differ from port"),
    ({"hsts_max_age_seconds": 31_535_999}, "at least 31536000"),
    ({"log_level": "chatty"}, "log_level must be DEBUG, INFO, WARNING or ERROR"),
    ({"tls_cert_file": "/etc/cert.pem"}, "tls_cert_file and tls_key_file must be given together"),
    ({"tls_key_file": "/etc/key.pem"}, "tls_cert_file and tls_key_file must be given together"),
    ({"app_threads": 0}, "app_threads must be positive"),
    ({"max_request_body_bytes": -1}, "max_request_body_bytes must be positive"),
])
def test_invalid_values_are_refused_with_what_was_wrong(environ, overrides, message):
    with pytest.raises(ConfigurationError, match=message):
        load(environ=environ, overrides=overrides, shipped=False)


def test_boundary_values_are_accepted_and_log_level_is_upper_cased(environ):
    resolved = load(environ=environ, shipped=False, overrides={
        "port": 65535, "http_redirect_port": 80, "hsts_max_age_seconds": 31_536_000, "log_level": "debug",
        "tls_cert_file": "/etc/cert.pem", "tls_key_file": "/etc/key.pem",
    })

    assert (resolved.port, resolved.http_redirect_port, resolved.log_level) == (65535, 80, "DEBUG")
    assert resolved.tls_cert_file == Path("/etc/cert.pem")


@pytest.fixture
def installed(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """A system settings file standing in for /etc/chatspark/appliance.toml, and where the user's own goes."""
    system = _toml(tmp_path, "system.toml", "port = 1111\nbackup_keep = 3\n")
    monkeypatch.setattr(settings, "SYSTEM_CONFIG_FILE", system)
    user = tmp_path / "xdg-config" / "chatspark" / "appliance.toml"
    user.parent.mkdir(parents=True)
    return system, user


def test_the_installed_settings_are_the_systems_then_the_users_each_if_present(installed, environ):
    system, user = installed
    user.write_text("port = 2222\n")

    resolved = load(environ=environ, shipped=False, search=True)

    assert resolved.files == (system, user) and (resolved.port, resolved.backup_keep) == (2222, 3)
    user.unlink()
    assert load(environ=environ, shipped=False, search=True).files == (system,)
    system.unlink()
    assert load(environ=environ, shipped=False, search=True).files == ()


def test_the_config_flag_or_chatspark_config_replaces_the_installed_settings(installed, environ, tmp_path):
    named = _toml(tmp_path, "named.toml", "port = 3333\n")
    flag = _toml(tmp_path, "flag.toml", "port = 4444\n")
    with_variable = {**environ, "CHATSPARK_CONFIG": str(named)}

    assert load(environ=with_variable, shipped=False, search=True).files == (named,)
    assert load(environ=with_variable, shipped=False, search=True).port == 3333
    assert load(flag, environ=with_variable, shipped=False, search=True).files == (flag,)
    none = load(environ={**environ, "CHATSPARK_CONFIG": "/dev/null"}, shipped=False, search=True)
    assert (none.port, none.backup_keep) == (8443, 14)
    with pytest.raises(ConfigurationError, match="CHATSPARK_CONFIG names .* which does not exist"):
        load(environ={**environ, "CHATSPARK_CONFIG": str(tmp_path / "gone.toml")}, shipped=False, search=True)


def test_without_search_no_installed_settings_file_is_read(installed, environ):
    installed[1].write_text("port = 2222\n")

    resolved = load(environ=environ, shipped=False)

    assert resolved.files == () and resolved.port == 8443
