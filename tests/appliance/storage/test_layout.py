"""Layout: the data directory and the key directory are resolved and kept apart; workspace ids are checked."""

from __future__ import annotations

import stat

import pytest

from appliance.errors import ConfigurationError, InvalidIdentifier
from appliance.storage.layout import Layout, make_private_dir


@pytest.mark.parametrize("keys", ["data", "data/keys", "."], ids=["equal", "inside", "containing"])
def test_key_dir_equal_to_inside_or_containing_the_data_dir_is_refused(tmp_path, keys):
    with pytest.raises(ConfigurationError, match="must be separate") as caught:
        Layout.of(tmp_path / "data", tmp_path / keys)

    assert str((tmp_path / "data").resolve()) in str(caught.value)


def test_data_dir_inside_the_key_dir_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="must be separate"):
        Layout.of(tmp_path / "keys" / "data", tmp_path / "keys")


def test_key_dir_reached_through_a_symlink_into_the_data_dir_is_refused(tmp_path):
    (tmp_path / "data" / "inner").mkdir(parents=True)
    (tmp_path / "keys").symlink_to(tmp_path / "data" / "inner")

    with pytest.raises(ConfigurationError, match="must be separate"):
        Layout.of(tmp_path / "data", tmp_path / "keys")


def test_sibling_dirs_sharing_a_name_prefix_are_separate(tmp_path):
    layout = Layout.of(tmp_path / "data", tmp_path / "data-keys")
    assert layout.key_dir == (tmp_path / "data-keys").resolve()


def test_relative_and_home_paths_are_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    layout = Layout.of("data", "~/keys")

    assert layout.data_dir == (tmp_path / "data").resolve()
    assert layout.key_dir == (tmp_path / "home" / "keys").resolve()


def test_files_live_where_the_layout_says(layout):
    assert layout.control_db == layout.data_dir / "control.db"
    assert layout.identity_file == layout.data_dir / "appliance.json"
    assert layout.keystore_db == layout.key_dir / "keys.db"
    assert layout.ca_cert.parent == layout.server_cert.parent == layout.data_dir / "tls"


@pytest.mark.parametrize("workspace_id", ["a", "0", "team-1", "a" * 63, "0a-b-c"])
def test_valid_workspace_ids_map_to_a_file_in_the_workspaces_dir(layout, workspace_id):
    assert layout.workspace_db(workspace_id) == layout.data_dir / "workspaces" / f"{workspace_id}.db"


@pytest.mark.parametrize("workspace_id", ["../x", "A", "", "-a", "a/b", "a.b", "a" * 64, " a"])
def test_invalid_workspace_ids_raise_invalid_identifier(layout, workspace_id):
    with pytest.raises(InvalidIdentifier, match="not a valid workspace id"):
        layout.workspace_db(workspace_id)


def test_workspace_id_with_a_trailing_newline_is_refused(layout):
    with pytest.raises(InvalidIdentifier):
        layout.workspace_db("acme\n")


def test_make_private_dir_creates_parents_and_tightens_an_existing_dir(tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)

    make_private_dir(loose)
    make_private_dir(tmp_path / "new" / "nested")

    assert stat.S_IMODE(loose.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new" / "nested").stat().st_mode) == 0o700


def test_a_garbled_identity_file_raises_configuration_error(layout):
    layout.data_dir.mkdir(parents=True)
    layout.identity_file.write_text("{not json")

    with pytest.raises(ConfigurationError, match="appliance.json is unreadable"):
        layout.read_identity()


def test_write_identity_refuses_to_overwrite(layout):
    layout.data_dir.mkdir(parents=True)
    layout.write_identity({"appliance_id": "first"})

    with pytest.raises(FileExistsError):
        layout.write_identity({"appliance_id": "second"})

    assert layout.read_identity() == {"appliance_id": "first"}
    assert stat.S_IMODE(layout.identity_file.stat().st_mode) == 0o600
