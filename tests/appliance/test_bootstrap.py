"""Creating an appliance and opening it: private directories, refusal to overwrite, fail-closed opening, renewal."""

from __future__ import annotations

import contextlib
import json
import os
import stat

import pytest
from cryptography import x509

from appliance import __version__
from appliance.audit.keys import audit_log
from appliance.bootstrap import (
    CA_KEY,
    NEXT_CA_FILE,
    PREVIOUS_CA_FILE,
    SERVER_KEY,
    initialise,
    open_appliance,
    server_certificate,
)
from appliance.errors import (
    ApplianceError,
    ApplianceExists,
    ApplianceMismatch,
    CertificateAuthorityChangeNeeded,
    CertificateError,
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


def test_server_certificate_is_kept_while_far_from_expiry(appliance, clock):
    on_disk = x509.load_pem_x509_certificate(appliance.layout.server_cert.read_bytes())
    clock.advance(days=300)

    current = server_certificate(appliance)

    assert current.certificate.serial_number == on_disk.serial_number
    assert current.key_pem == appliance.keystore.get(SERVER_KEY)


def test_server_certificate_is_renewed_near_expiry_with_the_same_names(appliance, clock):
    layout = appliance.layout
    old = x509.load_pem_x509_certificate(layout.server_cert.read_bytes())
    old_key = appliance.keystore.get(SERVER_KEY)
    ca = x509.load_pem_x509_certificate(layout.ca_cert.read_bytes())
    clock.advance(days=370)

    renewed = server_certificate(appliance)

    assert renewed.certificate.serial_number != old.serial_number
    assert certificates.names_of(renewed.certificate) == certificates.names_of(old)
    assert renewed.certificate.not_valid_after_utc > old.not_valid_after_utc
    assert not certificates.needs_renewal(renewed.certificate, now=clock.now())
    renewed.certificate.verify_directly_issued_by(ca)
    assert appliance.keystore.get(SERVER_KEY) == renewed.key_pem != old_key
    assert layout.server_cert.read_bytes() == renewed.cert_pem
    assert not layout.server_cert.with_name("server.crt.tmp").exists()
    assert server_certificate(appliance).certificate.serial_number == renewed.certificate.serial_number


# --- the CA's names, and replacing the CA ------------------------------------------------------------------------


def _ca(layout) -> x509.Certificate:
    return x509.load_pem_x509_certificate(layout.ca_cert.read_bytes())


def _tls_files(layout) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(layout.tls_dir.iterdir())}


def _ca_replacements(appliance):
    return audit_log(appliance.control_db, keystore=appliance.keystore, clock=appliance.clock).events(
        action="tls.ca_replaced")


def test_initialise_constrains_the_ca_to_exactly_the_server_certificates_names(layout, clock):
    result = initialise(layout, clock=clock, extra_names=["Chat.Example.com", "10.0.0.5"])
    server = x509.load_pem_x509_certificate(layout.server_cert.read_bytes())

    assert certificates.constrained_names(_ca(layout)) == certificates.names_of(server) == result.server_names
    assert {"chat.example.com", "10.0.0.5", "localhost", "127.0.0.1", "::1"} <= set(result.server_names)


def test_initialise_refuses_a_name_no_certificate_can_carry_and_creates_nothing(layout, clock):
    with pytest.raises(CertificateError, match="'https://chat.example.com'"):
        initialise(layout, clock=clock, extra_names=["https://chat.example.com"])

    assert not layout.key_dir.exists() and not layout.data_dir.exists()


def test_server_certificate_adds_a_name_under_one_the_ca_serves_without_a_new_ca(layout, clock):
    initialise(layout, clock=clock, extra_names=["chat.example.com"])
    with contextlib.closing(open_appliance(layout, clock=clock)) as appliance:
        ca_before = layout.ca_cert.read_bytes()

        issued = server_certificate(appliance, names=["www.chat.example.com"])

        assert layout.ca_cert.read_bytes() == ca_before
        assert "www.chat.example.com" in certificates.names_of(issued.certificate)
        assert "chat.example.com" in certificates.names_of(issued.certificate)
        issued.certificate.verify_directly_issued_by(_ca(layout))
        assert server_certificate(appliance, names=["www.chat.example.com"]).cert_pem == issued.cert_pem
        assert _ca_replacements(appliance) == []


def test_a_name_outside_the_ca_is_refused_with_what_it_needs_and_nothing_changes(appliance):
    layout = appliance.layout
    before, ca_key = _tls_files(layout), appliance.keystore.get(CA_KEY)

    with pytest.raises(CertificateAuthorityChangeNeeded,
                       match=r"not for chat\.corp\.example: serving it needs a new CA, with a new fingerprint"):
        server_certificate(appliance, names=["chat.corp.example"])

    assert _tls_files(layout) == before
    assert appliance.keystore.get(CA_KEY) == ca_key and appliance.keystore.pending(CA_KEY) is None
    assert _ca_replacements(appliance) == []


def test_replacing_the_ca_for_a_new_name_keeps_the_old_one_and_audits_both_fingerprints(appliance):
    layout = appliance.layout
    old_ca, old_pem, old_key = _ca(layout), layout.ca_cert.read_bytes(), appliance.keystore.get(CA_KEY)
    old_names = certificates.names_of(x509.load_pem_x509_certificate(layout.server_cert.read_bytes()))

    issued = server_certificate(appliance, names=["chat.corp.example"], replace_ca=True)

    new_ca = _ca(layout)
    assert certificates.fingerprint(new_ca) != certificates.fingerprint(old_ca)
    assert certificates.constrained_names(new_ca) == [*old_names, "chat.corp.example"]
    assert certificates.names_of(issued.certificate) == [*old_names, "chat.corp.example"]
    issued.certificate.verify_directly_issued_by(new_ca)
    assert (layout.tls_dir / PREVIOUS_CA_FILE).read_bytes() == old_pem
    assert not (layout.tls_dir / NEXT_CA_FILE).exists()
    assert appliance.keystore.pending(CA_KEY) is None
    assert old_key in [material for _, material in appliance.keystore.retired(CA_KEY)]
    certificates.load(layout.ca_cert.read_bytes(), appliance.keystore.get(CA_KEY))  # cert and key belong together
    [event] = _ca_replacements(appliance)
    assert event.details["previous_fingerprint"] == certificates.fingerprint(old_ca)
    assert event.details["fingerprint"] == certificates.fingerprint(new_ca)
    assert "chat.corp.example" in event.details["names"]


def test_a_crash_before_the_new_ca_is_stored_whole_leaves_the_old_ca_in_place(appliance, monkeypatch):
    layout = appliance.layout
    before = _tls_files(layout)

    def crash(self, *args, **kwargs):
        raise OSError("power lost while the new CA's key was being stored")

    monkeypatch.setattr(type(appliance.keystore), "set_pending", crash)
    with pytest.raises(OSError, match="power lost"):
        server_certificate(appliance, names=["chat.corp.example"], replace_ca=True)
    monkeypatch.undo()

    server_certificate(appliance)  # the next start settles what was left

    assert _tls_files(layout) == before
    assert appliance.keystore.pending(CA_KEY) is None
    assert _ca_replacements(appliance) == []


def test_a_crash_while_the_new_ca_is_put_in_place_is_finished_at_the_next_start(appliance, monkeypatch):
    layout = appliance.layout
    old_fingerprint = certificates.fingerprint(_ca(layout))
    real_replace = os.replace

    def crash_on_swap(source, target):
        if str(source).endswith(NEXT_CA_FILE):
            raise OSError("power lost while ca.crt was being replaced")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", crash_on_swap)
    with pytest.raises(OSError, match="power lost"):
        server_certificate(appliance, names=["chat.corp.example"], replace_ca=True)
    monkeypatch.undo()
    assert certificates.fingerprint(_ca(layout)) == old_fingerprint  # still the old one, the new one pending

    issued = server_certificate(appliance, names=["chat.corp.example"])

    new_ca = _ca(layout)
    assert certificates.fingerprint(new_ca) != old_fingerprint
    assert "chat.corp.example" in certificates.constrained_names(new_ca)
    issued.certificate.verify_directly_issued_by(new_ca)
    certificates.load(layout.ca_cert.read_bytes(), appliance.keystore.get(CA_KEY))
    assert appliance.keystore.pending(CA_KEY) is None and not (layout.tls_dir / NEXT_CA_FILE).exists()
    assert [e.details["previous_fingerprint"] for e in _ca_replacements(appliance)] == [old_fingerprint]


def test_an_unconstrained_ca_from_before_is_kept_until_the_operator_asks_for_a_constrained_one(appliance, clock):
    layout = appliance.layout
    legacy = certificates.issue_ca(appliance_id=appliance.appliance_id, now=clock.now())
    names = certificates.names_of(x509.load_pem_x509_certificate(layout.server_cert.read_bytes()))
    server = certificates.issue_server(legacy, names=names, now=clock.now())
    appliance.keystore.replace_secret(CA_KEY, legacy.key_pem)
    appliance.keystore.replace_secret(SERVER_KEY, server.key_pem)
    layout.ca_cert.write_bytes(legacy.cert_pem)
    layout.server_cert.write_bytes(server.cert_pem)

    assert server_certificate(appliance).cert_pem == server.cert_pem
    assert not certificates.is_constrained(_ca(layout))

    replaced = server_certificate(appliance, replace_ca=True)

    assert certificates.is_constrained(_ca(layout))
    assert certificates.constrained_names(_ca(layout)) == names == certificates.names_of(replaced.certificate)
    [event] = _ca_replacements(appliance)
    assert event.details["reason"] == "unconstrained"


def test_a_server_certificate_that_does_not_match_its_key_is_issued_again(appliance, clock):
    layout = appliance.layout
    other = certificates.issue_server(certificates.load(layout.ca_cert.read_bytes(), appliance.keystore.get(CA_KEY)),
                                      names=["localhost"], now=clock.now())
    layout.server_cert.write_bytes(other.cert_pem)  # as a crash between storing a renewal's key and its file leaves

    issued = server_certificate(appliance)

    assert issued.certificate.public_key() == issued.private_key.public_key()
    assert layout.server_cert.read_bytes() == issued.cert_pem


def test_a_ca_certificate_that_is_not_the_keystores_ca_is_refused_not_signed_under(appliance, clock):
    layout = appliance.layout
    stranger = certificates.issue_ca(appliance_id=appliance.appliance_id, names=["localhost"], now=clock.now())
    layout.ca_cert.write_bytes(stranger.cert_pem)  # as a data directory restored from another time leaves it
    before = _tls_files(layout)
    clock.advance(days=370)  # due for renewal: without the check it would sign under the wrong CA

    with pytest.raises(CertificateError, match="not the certificate of the CA key in the keystore"):
        server_certificate(appliance)

    assert _tls_files(layout) == before
