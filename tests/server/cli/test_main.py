"""The `chatspark` command as an operator meets it: help, init, and serve refusing to start, changing nothing; output
cut short by its reader, and argument errors told with the subcommand's usage."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
from pathlib import Path

import pytest

from appliance.keys import certificates
from tests.running import CHATSPARK, chatspark, free_port
from tests.server.conftest import init_appliance


def snapshot(*roots) -> dict[str, tuple]:
    """Every file and directory under roots with its mode, size, mtime and content hash."""
    seen = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                st = os.lstat(path)
                digest = hashlib.sha256(Path(path).read_bytes()).hexdigest() if os.path.isfile(path) else None
                seen[path] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return seen


def assert_one_line_failure(result, *fragments: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("chatspark: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("command", [[], ["init"], ["serve"], ["status"]])
def test_every_command_has_help_naming_the_directories(command):
    result = chatspark(*command, "--help")
    assert result.returncode == 0
    if command:
        assert "--data-dir" in result.stdout and "--key-dir" in result.stdout and "--config" in result.stdout


def test_init_prints_the_ca_fingerprint_of_the_certificate_it_wrote(tmp_path):
    result = chatspark("init", "--data-dir", str(tmp_path / "d"), "--key-dir", str(tmp_path / "k"),
                       "--san", "chat.intranet.example", "--san", "10.1.2.3")
    assert result.returncode == 0, result.stderr
    cert = certificates.load_certificate((tmp_path / "d" / "tls" / "ca.crt").read_bytes())
    assert f"SHA-256 {certificates.fingerprint(cert)}" in result.stdout
    server = certificates.load_certificate((tmp_path / "d" / "tls" / "server.crt").read_bytes())
    assert {"chat.intranet.example", "10.1.2.3", "localhost", "127.0.0.1", "::1"} <= set(
        certificates.names_of(server))


def test_init_refuses_to_overwrite_an_existing_appliance(tmp_path):
    data_dir, key_dir = init_appliance(tmp_path)
    before = snapshot(data_dir, key_dir)
    result = chatspark("init", "--data-dir", str(data_dir), "--key-dir", str(key_dir))
    assert_one_line_failure(result, "refusing to overwrite")
    assert snapshot(data_dir, key_dir) == before


@pytest.mark.parametrize("key_dir", ["data", "data/keys"])
def test_init_refuses_a_key_directory_in_the_data_directory(tmp_path, key_dir):
    result = chatspark("init", "--data-dir", str(tmp_path / "data"), "--key-dir", str(tmp_path / key_dir))
    assert_one_line_failure(result, "must be separate")
    assert not (tmp_path / "data").exists()


def test_init_without_a_readable_passphrase_file_creates_nothing(tmp_path):
    result = chatspark("init", "--data-dir", str(tmp_path / "d"), "--key-dir", str(tmp_path / "k"),
                       "--passphrase-file", str(tmp_path / "missing.txt"))
    assert_one_line_failure(result, "cannot read passphrase file")
    assert not (tmp_path / "d").exists() and not (tmp_path / "k").exists()


def serve(data_dir, key_dir, *extra: str, port: int | None = None):
    return chatspark("serve", "--data-dir", str(data_dir), "--key-dir", str(key_dir),
                     "--port", str(port or free_port()), *extra, timeout=60)


def test_serve_refuses_a_wrong_master_key_and_changes_nothing(tmp_path):
    data_dir, key_dir = init_appliance(tmp_path)
    (key_dir / "master.key").write_bytes(os.urandom(32))
    before = snapshot(data_dir, key_dir)
    assert_one_line_failure(serve(data_dir, key_dir), "master key does not open the keystore")
    assert snapshot(data_dir, key_dir) == before


def test_serve_refuses_a_missing_key_directory(tmp_path):
    data_dir, _ = init_appliance(tmp_path)
    before = snapshot(tmp_path)
    assert_one_line_failure(serve(data_dir, tmp_path / "nowhere"), "does not exist")
    assert snapshot(tmp_path) == before


def test_serve_refuses_an_uninitialised_data_directory(tmp_path):
    _, key_dir = init_appliance(tmp_path)
    (tmp_path / "empty").mkdir()
    before = snapshot(tmp_path)
    assert_one_line_failure(serve(tmp_path / "empty", key_dir), "not an appliance data directory")
    assert snapshot(tmp_path) == before


def test_serve_refuses_a_data_directory_of_another_appliance(tmp_path):
    data_a, _ = init_appliance(tmp_path / "a")
    _, keys_b = init_appliance(tmp_path / "b")
    before = snapshot(tmp_path)
    assert_one_line_failure(serve(data_a, keys_b), "belongs to appliance")
    assert snapshot(tmp_path) == before


def test_serve_refuses_a_truncated_control_database(tmp_path):
    data_dir, key_dir = init_appliance(tmp_path)
    control = data_dir / "control.db"
    control.write_bytes(control.read_bytes()[:4096 + 100])
    before = snapshot(data_dir, key_dir)
    assert_one_line_failure(serve(data_dir, key_dir), "control.db", "restore it from a backup")
    assert snapshot(data_dir, key_dir) == before


def test_serve_refuses_a_corrupted_control_database(tmp_path):
    data_dir, key_dir = init_appliance(tmp_path)
    control = data_dir / "control.db"
    raw = bytearray(control.read_bytes())
    raw[len(raw) - 2000] ^= 0x5A
    control.write_bytes(bytes(raw))
    before = snapshot(data_dir, key_dir)
    assert_one_line_failure(serve(data_dir, key_dir), "control.db", "damaged")
    assert snapshot(data_dir, key_dir) == before


def test_serve_refuses_a_corrupted_keystore(tmp_path):
    data_dir, key_dir = init_appliance(tmp_path)
    keystore = key_dir / "keys.db"
    raw = bytearray(keystore.read_bytes())
    raw[len(raw) - 1000] ^= 0x5A
    keystore.write_bytes(bytes(raw))
    before = snapshot(data_dir, key_dir)
    assert_one_line_failure(serve(data_dir, key_dir), "keys.db")
    assert snapshot(data_dir, key_dir) == before


def test_serve_refuses_a_master_key_others_can_read(tmp_path):
    data_dir, key_dir = init_appliance(tmp_path)
    os.chmod(key_dir / "master.key", 0o644)
    assert_one_line_failure(serve(data_dir, key_dir), "chmod 600")


def test_serve_refuses_a_port_already_taken(tmp_path):
    data_dir, key_dir = init_appliance(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        before = snapshot(data_dir, key_dir)
        assert_one_line_failure(serve(data_dir, key_dir, port=port), f"127.0.0.1:{port}", "in use")
    assert snapshot(data_dir, key_dir) == before


def test_serve_of_a_wrapped_key_needs_its_passphrase(tmp_path):
    passphrase = tmp_path / "passphrase.txt"
    passphrase.write_text("correct horse battery staple\n")
    data_dir, key_dir = init_appliance(tmp_path, "--passphrase-file", str(passphrase))
    assert not (key_dir / "master.key").exists()
    before = snapshot(data_dir, key_dir)
    assert_one_line_failure(serve(data_dir, key_dir), "--passphrase-file")
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("incorrect horse battery staple\n")
    assert_one_line_failure(serve(data_dir, key_dir, "--passphrase-file", str(wrong)), "does not unwrap")
    assert snapshot(data_dir, key_dir) == before


def test_bad_configuration_is_a_one_line_error(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("port = 'eighty'\n")
    assert_one_line_failure(chatspark("status", "--config", str(config)), "port")
    result = chatspark("status", "--data-dir", str(tmp_path / "d"), "--key-dir", str(tmp_path / "k"),
                       env={"CHATSPARK_PORT": "99999"})
    assert_one_line_failure(result, "port")


def test_status_of_an_appliance_that_is_not_serving_exits_3(tmp_path):
    data_dir, key_dir = init_appliance(tmp_path)
    result = chatspark("status", "--data-dir", str(data_dir), "--key-dir", str(key_dir), "--port", str(free_port()))
    assert result.returncode == 3
    assert "version:" in result.stdout and "certificate:" in result.stdout and "expires" in result.stdout
    assert "not answering" in result.stdout


def test_init_from_make_run_leaves_out_the_hint_of_the_step_it_takes_next(tmp_path):
    dirs = ["--data-dir", str(tmp_path / "d"), "--key-dir", str(tmp_path / "k")]
    hinted = chatspark("init", *dirs)
    quiet = chatspark("init", "--data-dir", str(tmp_path / "d2"), "--key-dir", str(tmp_path / "k2"), "--no-hints")

    assert f"Next: chatspark serve --data-dir {tmp_path / 'd'} --key-dir {tmp_path / 'k'}" in hinted.stdout
    assert quiet.returncode == 0 and "CA fingerprint" in quiet.stdout
    assert "Next:" not in quiet.stdout and "No operator yet" not in quiet.stdout


@pytest.fixture(scope="module")
def busy_appliance(tmp_path_factory):
    """An appliance whose audit log holds enough rows that listing them overflows a pipe's buffer."""
    from appliance import settings as settings_module
    from appliance.bootstrap import open_appliance
    from appliance.clock import SystemClock
    from appliance.services import build_services
    from appliance.storage.layout import Layout

    data_dir, key_dir = init_appliance(tmp_path_factory.mktemp("busy"))
    appliance = open_appliance(Layout.of(data_dir, key_dir), clock=SystemClock())
    services = build_services(appliance, settings_module.load(environ={}))
    try:
        with appliance.control_db.transaction() as conn:
            for n in range(2000):
                services.audit.record("test.row", target_type="row", target_id=str(n), conn=conn)
    finally:
        services.knowledge.close()
        appliance.close()
    return ["--data-dir", str(data_dir), "--key-dir", str(key_dir)]


@pytest.mark.parametrize("args", [
    ["--help"], ["backup", "--help"], ["status", "--json"], ["doctor"], ["audit", "list", "--json"],
    ["backup", "list", "--json"], ["jobs", "list"], ["workspaces", "list", "--json"], ["users", "list"],
    ["mail", "outbox", "--json"], ["keys", "list"],
], ids=" ".join)
def test_output_into_a_pipe_its_reader_closed_ends_quietly_as_sigpipe_would(busy_appliance, args):
    reader, writer = os.pipe()
    os.close(reader)  # as `| head -0` would: every write meets a pipe nobody reads
    dirs = busy_appliance if args[-1] != "--help" else []
    try:
        result = subprocess.run([*CHATSPARK, *args, *dirs], stdout=writer, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL, timeout=60)
    finally:
        os.close(writer)

    assert result.stderr == ""
    assert result.returncode == 141  # 128 + SIGPIPE, as a shell reports `cat` ended by `head`


def test_a_long_listing_piped_into_head_ends_quietly(busy_appliance):
    command = " ".join([*CHATSPARK, "audit", "list", "--limit", "2000", "--json", *busy_appliance])
    result = subprocess.run(["bash", "-o", "pipefail", "-c", f"{command} | head -n 3"], capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)

    assert result.stdout.splitlines()[0] == "[" and len(result.stdout.splitlines()) == 3
    assert result.stderr == "" and result.returncode == 141


@pytest.mark.parametrize("args, command", [
    (["backup", "list", "--bogus"], "chatspark backup list"),
    (["jobs", "runs", "--verbose"], "chatspark jobs runs"),
    (["audit", "verify", "extra"], "chatspark audit verify"),
    (["status", "--colour"], "chatspark status"),
    (["--bogus", "status"], "chatspark"),
])
def test_an_unknown_argument_is_told_with_the_usage_of_its_subcommand(args, command):
    result = chatspark(*args)

    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: {command} ") and f"{command}: error: unrecognized arguments" in (
        result.stderr)
