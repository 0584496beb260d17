"""Root at the console of an installed appliance: a command that would open the service's data directory as root
(and leave a -wal, a -shm or a log that the service could no longer open) is refused and says whom to run it as."""

from __future__ import annotations

import os

import pytest

from server.cli import main as cli
from tests.server.cli.shell import Shell


@pytest.fixture
def service_owned(tmp_path, monkeypatch) -> Shell:
    """An appliance whose data directory belongs to another user than root, with this process taken for root."""
    shell = Shell.with_operator(tmp_path)
    if os.geteuid() == 0:
        os.chown(shell.data_dir, 65534, 65534)  # as the package leaves it: the service's user's
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    return shell


def _listing(folder) -> list[tuple[str, int]]:
    return sorted((str(path.relative_to(folder)), path.stat().st_mtime_ns) for path in folder.rglob("*"))


@pytest.mark.parametrize("command", [["users", "list"], ["workspaces", "list"], ["backup", "create"],
                                     ["keys", "rotate"], ["upgrade", "--rollback", "--reason", "test"]])
def test_a_command_that_opens_the_service_s_data_as_root_is_refused_before_touching_it(service_owned, capsys,
                                                                                        command):
    before = _listing(service_owned.data_dir)

    code = cli.main([*command, "--data-dir", str(service_owned.data_dir), "--key-dir", str(service_owned.key_dir)])

    said = capsys.readouterr().err
    assert code == 1
    assert "belongs to" in said and "files this command made there as root would lock the service out" in said
    assert "runuser -u" in said and "-- chatspark ..." in said
    assert _listing(service_owned.data_dir) == before


def test_reading_the_schema_as_root_is_allowed_since_it_writes_nothing(service_owned, capsys):
    before = _listing(service_owned.data_dir)

    code = cli.main(["upgrade", "--check", "--data-dir", str(service_owned.data_dir), "--key-dir",
                     str(service_owned.key_dir)])

    assert code == 0 and "up to date" in capsys.readouterr().out
    assert _listing(service_owned.data_dir) == before
