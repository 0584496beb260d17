"""Creating an appliance and opening it: private directories, refusal to overwrite, fail-closed opening. The
server certificate and its CA are in test_bootstrap_certificates.py."""

from __future__ import annotations

import contextlib
import json
import stat

import pytest
from cryptography import x509

from appliance import __version__
from appliance.bootstrap import (
    CA_KEY,
    SERVER_KEY,
    initialise,
    open_appliance,
)
from appliance.errors import (
    ApplianceError,
    ApplianceExists,
    ApplianceMismatch,
    DatabaseCorrupt,
    DatabaseUnreadable,
    NotInitialised,
    PassphraseRequired,
    StorageError,
    WrongMasterKey,
)
from appliance.keys import certificates, masterkey
from appliance.storage.layout import Layout
from tests.appliance.on_disk import PAGE_SIZE, snapshot
from tests.conftest import FAST_KDF

PASSPHRASE = "correct horse battery staple"


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _listing(directory) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


# --- initialise ------------------------------------------------------------------------------------------------


def test_initialise_creates_private_key_and_data_dirs_with_the_expected_files(layout, clock):
    result = initialise(layout, clock=clock, extra_names=["chat.example.com"])

    assert _mode(layout.key_dir) == 0o700
    assert _mode(layout.data_dir) == 0o700
    assert _listing(layout.key_dir) == {"master.key", "keys.db"}
    assert _listing(layout.data_dir) == {"appliance.json", "chatspark.lock", "control.db", "tls", "tls/ca.crt",
                                         "tls/server.crt"}
    for private in (layout.key_dir / "master.key", layout.keystore_db, layout.control_db, layout.identity_file):
        assert _mode(private) == 0o600, private
    identity = json.loads(layout.identity_file.read_text())
    assert identity == {"appliance_id": result.appliance_id, "created_at": "2026-11-29T12:00:00Z", "format": 1}
    assert result.ca_fingerprint == certificates.fingerprint(x509.load_pem_x509_certificate(
        layout.ca_cert.read_bytes()))
    assert "chat.example.com" in result.server_names


def test_initialise_keeps_private_keys_out_of_the_data_dir(initialised, clock):
    appliance = open_appliance(initialised, clock=clock)
    try:
        private_keys = [appliance.keystore.get(CA_KEY), appliance.keystore.get(SERVER_KEY)]
    finally:
        appliance.close()

    everything = b"".join(data for data in snapshot(initialised.data_dir).values() if data)
    assert b"PRIVATE KEY" not in everything
    assert all(pem not in everything for pem in private_keys)


def test_initialise_refuses_a_key_dir_that_already_holds_keys(initialised, tmp_path, clock):
    before = snapshot(initialised.key_dir)
    other = Layout.of(tmp_path / "other-data", initialised.key_dir)

    with pytest.raises(ApplianceExists, match="already holds appliance keys"):
        initialise(other, clock=clock)

    assert snapshot(initialised.key_dir) == before
    assert not other.data_dir.exists()


def test_initialise_refuses_a_data_dir_that_already_holds_an_appliance(initialised, tmp_path, clock):
    before = snapshot(initialised.data_dir)
    other = Layout.of(initialised.data_dir, tmp_path / "other-keys")

    with pytest.raises(ApplianceExists, match="already holds an appliance"):
        initialise(other, clock=clock)

    assert snapshot(initialised.data_dir) == before
    assert not other.key_dir.exists()


def test_a_failed_initialise_removes_everything_it_created(layout, clock, monkeypatch):
    def issue_fails(*args, **kwargs):
        raise RuntimeError("no entropy today")

    monkeypatch.setattr(certificates, "issue_server", issue_fails)

    with pytest.raises(RuntimeError, match="no entropy today"):
        initialise(layout, clock=clock)

    assert not layout.key_dir.exists()
    assert not layout.data_dir.exists()


def test_a_failed_initialise_empties_but_keeps_directories_that_already_existed(layout, clock):
    layout.key_dir.mkdir(parents=True)
    layout.data_dir.mkdir(parents=True)

    # Refused once the directories are made (the passphrase's own rules are tested with the master key).
    with pytest.raises(ApplianceError, match="at least 12 characters"):
        initialise(layout, clock=clock, passphrase="too short", kdf=FAST_KDF)

    assert list(layout.key_dir.iterdir()) == []
    assert list(layout.data_dir.iterdir()) == []


def test_a_failed_initialise_leaves_files_it_did_not_create(layout, clock):
    # An operator may have put their own certificate in the data directory before running init.
    operator_cert = layout.data_dir / "tls" / "operator.crt"
    operator_cert.parent.mkdir(parents=True)
    operator_cert.write_text("the operator's own certificate")

    # Refusing or succeeding are both fine; deleting the operator's file is not.
    with contextlib.suppress(ApplianceError, OSError):
        initialise(layout, clock=clock)

    assert operator_cert.exists()
    assert operator_cert.read_text() == "the operator's own certificate"


# --- open_appliance --------------------------------------------------------------------------------------------


def test_open_appliance_opens_keys_and_control_db_of_one_appliance(initialised, clock):
    identity = initialised.read_identity()

    appliance = open_appliance(initialised, clock=clock)
    try:
        meta = {row["name"]: row["value"] for row in appliance.control_db.query("SELECT name, value FROM meta")}
        assert appliance.appliance_id == identity["appliance_id"] == appliance.keystore.appliance_id
        assert meta == {"appliance_id": identity["appliance_id"], "created_at": "2026-11-29T12:00:00Z",
                        "created_by_version": __version__}
    finally:
        appliance.close()


def test_keys_of_one_appliance_with_data_of_another_raise_mismatch_and_change_nothing(tmp_path, clock):
    first = Layout.of(tmp_path / "a-data", tmp_path / "a-keys")
    second = Layout.of(tmp_path / "b-data", tmp_path / "b-keys")
    initialise(first, clock=clock)
    initialise(second, clock=clock)
    before = snapshot(first.key_dir, second.data_dir)
    crossed = Layout.of(second.data_dir, first.key_dir)

    with pytest.raises(ApplianceMismatch, match="belongs to appliance") as caught:
        open_appliance(crossed, clock=clock)

    assert first.read_identity()["appliance_id"] in str(caught.value)
    assert second.read_identity()["appliance_id"] in str(caught.value)
    assert snapshot(first.key_dir, second.data_dir) == before


@pytest.mark.parametrize("missing", ["key_dir", "data_dir", "identity"])
def test_open_without_a_directory_or_identity_raises_not_initialised_and_creates_nothing(initialised, clock, missing):
    target = {"key_dir": initialised.key_dir, "data_dir": initialised.data_dir,
              "identity": initialised.identity_file}[missing]
    if target.is_dir():
        target.rename(target.with_name(target.name + ".moved"))
    else:
        target.unlink()
    before = snapshot(initialised.key_dir, initialised.data_dir)

    with pytest.raises(NotInitialised, match="chatspark init"):
        open_appliance(initialised, clock=clock)

    assert snapshot(initialised.key_dir, initialised.data_dir) == before
    assert not target.exists()


def test_open_with_a_damaged_control_db_fails_closed_and_changes_nothing(initialised, clock):
    data = bytearray(initialised.control_db.read_bytes())
    data[len(data) - PAGE_SIZE // 2] ^= 0x01
    initialised.control_db.write_bytes(bytes(data))
    before = snapshot(initialised.key_dir, initialised.data_dir)

    with pytest.raises((DatabaseCorrupt, DatabaseUnreadable), match="restore it from a backup"):
        open_appliance(initialised, clock=clock)

    assert snapshot(initialised.key_dir, initialised.data_dir) == before


@pytest.mark.parametrize("emptied", ["control_db", "keystore_db"])
def test_open_with_an_emptied_database_fails_closed_and_changes_nothing(initialised, clock, emptied):
    getattr(initialised, emptied).write_bytes(b"")
    before = snapshot(initialised.key_dir, initialised.data_dir)

    with pytest.raises(ApplianceError):
        open_appliance(initialised, clock=clock).close()

    assert snapshot(initialised.key_dir, initialised.data_dir) == before


def test_open_with_a_wrapped_key_needs_its_passphrase(layout, clock):
    initialise(layout, clock=clock, passphrase=PASSPHRASE, kdf=FAST_KDF)
    assert masterkey.is_wrapped(layout.key_dir)
    assert not (layout.key_dir / masterkey.PLAIN_NAME).exists()

    with pytest.raises(PassphraseRequired):
        open_appliance(layout, clock=clock)
    with pytest.raises(WrongMasterKey):
        open_appliance(layout, clock=clock, passphrase="not the passphrase")
    appliance = open_appliance(layout, clock=clock, passphrase=PASSPHRASE)
    try:
        assert appliance.appliance_id == layout.read_identity()["appliance_id"]
    finally:
        appliance.close()


def test_close_is_safe_twice_and_closes_the_control_db(appliance):
    appliance.close()
    appliance.close()

    with pytest.raises(StorageError, match="closed"):
        appliance.control_db.query("SELECT 1")


# --- server certificate ------------------------------------------------------------------------------------------
