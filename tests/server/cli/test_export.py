"""`chatspark export` in real processes: a workspace and a data subject exported and opened again with
`chatspark export decrypt`, passphrases from files and never asked for without a terminal, refusals that change
nothing."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from appliance import settings as settings_module
from appliance.bootstrap import open_appliance
from appliance.clock import FixedClock
from appliance.services import build_services
from appliance.storage.layout import Layout
from tests.appliance.conversations.chats import start_chats
from tests.appliance.exports.workspaces import CANARY, PASSPHRASE, UPLOAD_BYTES, files_under, read_json, train
from tests.running import chatspark
from tests.server.conftest import init_appliance


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """An initialised appliance holding a trained workspace; (data dir, key dir, workspace, upload id, lead id)."""
    base = tmp_path_factory.mktemp("export-cli")
    data_dir, key_dir = init_appliance(base)
    clock = FixedClock(dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.timezone.utc))
    appliance = open_appliance(Layout.of(data_dir, key_dir), clock=clock)
    settings = settings_module.load(environ={}).replace(argon2_time_cost=1, argon2_memory_kib=1024,
                                                        argon2_parallelism=1)
    services = build_services(appliance, settings)
    try:
        trained = train(start_chats(services, clock))
        found = (trained.workspace_id, trained.upload_id, trained.lead.id)
    finally:
        services.knowledge.close()
        appliance.close()
    (base / "passphrase.txt").write_text(PASSPHRASE + "\n")
    return base, data_dir, key_dir, *found


def dirs(installed) -> list[str]:
    return ["--data-dir", str(installed[1]), "--key-dir", str(installed[2])]


def test_a_workspace_exported_from_the_command_line_opens_with_export_decrypt(installed, tmp_path):
    base, _, _, workspace_id, upload_id, lead_id = installed
    out = tmp_path / "acme.chatspark-export"

    exported = chatspark("export", "workspace", workspace_id, "--out", str(out), "--passphrase-file",
                         str(base / "passphrase.txt"), *dirs(installed))
    opened = chatspark("export", "decrypt", str(out), "--out", str(tmp_path / "acme"), "--passphrase-file",
                       str(base / "passphrase.txt"))

    assert exported.returncode == 0, exported.stderr
    assert f"Exported workspace {workspace_id} to {out}: 4 sources, 2 agents, 2 conversations, 1 leads." in (
        exported.stdout)
    assert opened.returncode == 0, opened.stderr
    assert f"the export of workspace {workspace_id} (Acme)" in opened.stdout and "each matching its manifest" in (
        opened.stdout)
    unpacked = files_under(tmp_path / "acme")
    assert unpacked[f"training/sources/{upload_id}/original/Q3 plan_ draft.bin"] == UPLOAD_BYTES
    assert json.loads(unpacked["leads/leads.json"])[0]["id"] == lead_id
    assert CANARY.encode() not in out.read_bytes()


def test_a_subject_exported_from_the_command_line_searches_every_workspace(installed, tmp_path):
    base, _, _, workspace_id, _, lead_id = installed
    out = tmp_path / "jane.chatspark-export"

    exported = chatspark("export", "subject", "JANE@example.com", "--out", str(out), "--passphrase-file",
                         str(base / "passphrase.txt"), *dirs(installed))
    opened = chatspark("export", "decrypt", str(out), "--out", str(tmp_path / "jane"), "--passphrase-file",
                       str(base / "passphrase.txt"))

    assert exported.returncode == 0, exported.stderr
    assert "in 1 of 1 workspaces; no account." in exported.stdout
    assert opened.returncode == 0, opened.stderr
    subject = read_json(tmp_path / "jane/subject.json")
    assert [lead["id"] for lead in subject["workspaces"][0]["leads"]] == [lead_id]
    assert subject["workspaces"][0]["id"] == workspace_id and subject["account_scope"] == "appliance"


def test_without_a_passphrase_file_and_without_a_terminal_nothing_is_asked_or_written(installed, tmp_path):
    _, _, _, workspace_id, _, _ = installed
    out = tmp_path / "acme.chatspark-export"

    result = chatspark("export", "workspace", workspace_id, "--out", str(out), *dirs(installed))

    assert result.returncode == 1
    assert "not a terminal" in result.stderr and "--passphrase-file" in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_short_passphrase_or_an_existing_file_is_refused_before_anything_is_written(installed, tmp_path):
    _, _, _, workspace_id, _, _ = installed
    (tmp_path / "short.txt").write_text("too short\n")
    (tmp_path / "taken").write_text("keep me")

    short = chatspark("export", "workspace", workspace_id, "--out", str(tmp_path / "new"), "--passphrase-file",
                      str(tmp_path / "short.txt"), *dirs(installed))
    taken = chatspark("export", "workspace", workspace_id, "--out", str(tmp_path / "taken"), "--passphrase-file",
                      str(installed[0] / "passphrase.txt"), *dirs(installed))

    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    assert taken.returncode == 1 and "already exists" in taken.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.txt", "taken"]
    assert (tmp_path / "taken").read_text() == "keep me"


def test_export_decrypt_refuses_a_wrong_passphrase_and_a_damaged_file_leaving_no_directory(installed, tmp_path):
    base, _, _, workspace_id, _, _ = installed
    out = tmp_path / "acme.chatspark-export"
    assert chatspark("export", "workspace", workspace_id, "--out", str(out), "--passphrase-file",
                     str(base / "passphrase.txt"), *dirs(installed)).returncode == 0
    (tmp_path / "wrong.txt").write_text("another long passphrase\n")
    damaged = tmp_path / "damaged.chatspark-export"
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x40
    damaged.write_bytes(bytes(data))

    wrong = chatspark("export", "decrypt", str(out), "--out", str(tmp_path / "opened"), "--passphrase-file",
                      str(tmp_path / "wrong.txt"))
    altered = chatspark("export", "decrypt", str(damaged), "--out", str(tmp_path / "opened"), "--passphrase-file",
                        str(base / "passphrase.txt"))

    assert wrong.returncode == 1 and "wrong passphrase" in wrong.stderr
    assert altered.returncode == 1 and "damaged" in altered.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acme.chatspark-export", "damaged.chatspark-export",
                                                          "wrong.txt"]


def test_command_line_exports_are_audited_as_the_operators_tool(installed, tmp_path):
    base, _, _, workspace_id, _, _ = installed
    assert chatspark("export", "workspace", workspace_id, "--out", str(tmp_path / "acme"), "--passphrase-file",
                     str(base / "passphrase.txt"), *dirs(installed)).returncode == 0

    listed = chatspark("audit", "list", "--action", "workspace.export", "--json", *dirs(installed))

    event = json.loads(listed.stdout)[-1]
    assert (event["actor_type"], event["actor_id"], event["workspace_id"]) == ("system", "cli", workspace_id)
    assert event["details"]["via"] == "cli" and event["details"]["archive_bytes"] == (tmp_path / "acme").stat().st_size
