"""Creating an appliance (`chatspark init`) and opening one, fail-closed, in a fixed order."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from cryptography import x509

from appliance import __version__
from appliance.audit.keys import AUDIT_MAC_KEY, audit_log
from appliance.audit.keys import PURPOSE as AUDIT_MAC_PURPOSE
from appliance.audit.log import MAX_PAGE
from appliance.clock import Clock, isoformat
from appliance.errors import (
    ApplianceExists,
    ApplianceMismatch,
    CertificateAuthorityChangeNeeded,
    CertificateError,
    NotInitialised,
)
from appliance.keys import certificates, masterkey
from appliance.keys.database_keys import open_database
from appliance.keys.keystore import CONTROL_DB_KEY, Keystore
from appliance.storage.data_lock import DataLock
from appliance.storage.database import Database
from appliance.storage.durable import sync_directory
from appliance.storage.layout import Layout, make_private_dir
from appliance.storage.migrations import migrate
from appliance.storage.workspace_files import WorkspaceDatabases

CA_KEY = "tls:ca-key"
SERVER_KEY = "tls:server-key"
# Beside ca.crt in the TLS directory: a replacement CA while it is put in place, and the CA it replaced.
NEXT_CA_FILE = "ca-next.crt"
PREVIOUS_CA_FILE = "ca-previous.crt"
# Keys every appliance holds besides its database keys; ones added by later releases are made at next open.
WIDGET_TOKEN_KEY = "widget:token"
_SERVICE_KEYS = {AUDIT_MAC_KEY: AUDIT_MAC_PURPOSE, WIDGET_TOKEN_KEY: "widget visitor-token signing"}


@dataclass(frozen=True)
class InitResult:
    appliance_id: str
    ca_fingerprint: str
    server_names: list[str]


@dataclass
class Appliance:
    """The opened core: what every service of this process is built from."""

    layout: Layout
    keystore: Keystore
    control_db: Database
    workspaces: WorkspaceDatabases
    appliance_id: str
    clock: Clock
    lock: DataLock | None = field(default=None, repr=False)
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.workspaces.close()
            self.control_db.close()
            self.keystore.close()
            if self.lock is not None:
                self.lock.close()


def initialise(
    layout: Layout, *, clock: Clock, passphrase: str | None = None, extra_names: list[str] | None = None,
    kdf: masterkey.KdfParameters = masterkey.DEFAULT_KDF,
) -> InitResult:
    """Create keys, keystore, control database and certificates; on any failure remove what was created."""
    # Checked before anything is made: a name no certificate can carry is refused with nothing to clean up.
    names = certificates.default_names(extra_names or ())
    if layout.has_keys():
        raise ApplianceExists(f"{layout.key_dir} already holds appliance keys; refusing to overwrite them")
    if layout.has_data():
        raise ApplianceExists(f"{layout.data_dir} already holds an appliance; refusing to overwrite it")
    created_dirs = [d for d in (layout.key_dir, layout.data_dir) if not d.exists()]
    created_files: list[Path] = []
    try:
        make_private_dir(layout.key_dir)
        make_private_dir(layout.data_dir)
        appliance_id = str(uuid.uuid4())
        now = clock.now()
        master = masterkey.create(layout.key_dir, passphrase=passphrase, kdf=kdf)
        created_files.append(layout.key_dir / (masterkey.WRAPPED_NAME if passphrase else masterkey.PLAIN_NAME))
        created_files.append(layout.keystore_db)
        keystore = Keystore.create(layout.key_dir, master, appliance_id=appliance_id, clock=clock)
        try:
            control_key = keystore.create_key(CONTROL_DB_KEY, purpose="control database")
            for name, purpose in _SERVICE_KEYS.items():
                keystore.create_key(name, purpose=purpose)
            created_files.append(layout.control_db)
            with Database(layout.control_db, control_key, create=True) as control:
                migrate(control, "control")
                with control.transaction() as conn:
                    conn.executemany(
                        "INSERT INTO meta (name, value) VALUES (?, ?)",
                        [("appliance_id", appliance_id), ("created_at", isoformat(now)),
                         ("created_by_version", __version__)],
                    )
            fingerprint = _issue_certificates(layout, keystore, appliance_id=appliance_id, names=names, now=now)
        finally:
            keystore.close()
        created_files.append(layout.lock_file)
        DataLock.acquire(layout.lock_file, exclusive=True).close()
        created_files.append(layout.identity_file)
        layout.write_identity({"appliance_id": appliance_id, "created_at": isoformat(now), "format": 1})
    except BaseException:
        for path in created_files:
            for suffix in ("", "-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
        shutil.rmtree(layout.tls_dir, ignore_errors=True)
        for directory in created_dirs:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    return InitResult(appliance_id, fingerprint, names)


def open_appliance(layout: Layout, *, clock: Clock, passphrase: str | None = None,
                   exclusive: bool = False, lock: DataLock | None = None) -> Appliance:
    """Open keys then data, checking at each step that they belong together; create or change nothing on failure.

    The appliance holds the data directory's lock until it is closed: shared, or with `exclusive` (key rotation)
    alone, refusing while any other process has it open. A key rotation a crash cut short is settled here. Given
    `lock`, one the caller took already (an upgrade keeps the directory to itself from its snapshot through its
    migrations), the appliance holds that one instead and releases it when closed.
    """
    if not layout.key_dir.is_dir():
        raise NotInitialised(f"key directory {layout.key_dir} does not exist; run `chatspark init` or give --key-dir")
    if not layout.data_dir.is_dir():
        raise NotInitialised(
            f"data directory {layout.data_dir} does not exist; run `chatspark init` or give --data-dir"
        )
    try:
        identity = layout.read_identity()
    except FileNotFoundError:
        raise NotInitialised(
            f"{layout.data_dir} is not an appliance data directory (no {layout.identity_file.name}); "
            "run `chatspark init` or give the right --data-dir"
        ) from None
    if lock is None:
        lock = DataLock.acquire(layout.lock_file, exclusive=exclusive)
    try:
        return _open_locked(layout, clock=clock, passphrase=passphrase, identity=identity, lock=lock)
    except BaseException:
        lock.close()
        raise


def _open_locked(layout: Layout, *, clock: Clock, passphrase: str | None, identity: dict,
                 lock: DataLock) -> Appliance:
    master = masterkey.load(layout.key_dir, passphrase=passphrase)
    keystore = Keystore.open(layout.key_dir, master, clock=clock)
    try:
        appliance_id = keystore.appliance_id
        if identity.get("appliance_id") != appliance_id:
            raise ApplianceMismatch(
                f"data directory {layout.data_dir} belongs to appliance {identity.get('appliance_id')}, but the keys "
                f"in {layout.key_dir} belong to appliance {appliance_id}; give the matching --data-dir/--key-dir"
            )
        control = open_database(keystore, CONTROL_DB_KEY, layout.control_db, verified=True)
        workspaces = WorkspaceDatabases(layout, keystore)
        try:
            migrate(control, "control")
            for name, purpose in _SERVICE_KEYS.items():
                if not keystore.has(name):
                    keystore.create_key(name, purpose=purpose)
            workspaces.settle_pending_keys()
        except BaseException:
            workspaces.close()
            control.close()
            raise
    except BaseException:
        keystore.close()
        raise
    return Appliance(layout, keystore, control, workspaces, appliance_id, clock, lock)


def server_certificate(appliance: Appliance, *, names: Iterable[str] = (),
                       replace_ca: bool = False) -> certificates.IssuedCertificate:
    """The appliance-issued server certificate and key, re-issued from the CA when it is close to expiry, when it
    lacks one of `names` (those the settings add at serve time), or when it no longer matches its key or its CA.

    The CA may vouch only for the names it was made for. A name outside them needs a new CA, whose new fingerprint
    every browser, system and control panel must trust again: it is made only with `replace_ca`, and otherwise
    CertificateAuthorityChangeNeeded says which names need it. The new CA replaces the old only once it is stored
    whole; the old stays beside it (and its key among the keystore's retired keys), and the change is audited.
    """
    layout, keystore, now = appliance.layout, appliance.keystore, appliance.clock.now()
    _settle_ca_replacement(appliance)
    ca = certificates.load(layout.ca_cert.read_bytes(), keystore.get(CA_KEY))
    if ca.certificate.public_key() != ca.private_key.public_key():
        raise CertificateError(
            f"{layout.ca_cert} is not the certificate of the CA key in the keystore (were the data directory and "
            "the key directory restored from different times?); restore the two from the same backup and kit"
        )
    current = certificates.load(layout.server_cert.read_bytes(), keystore.get(SERVER_KEY))
    wanted = certificates.merged_names(certificates.names_of(current.certificate), names)
    outside = [name for name in wanted if not certificates.permits(ca.certificate, name)]
    if outside and not replace_ca:
        raise CertificateAuthorityChangeNeeded(
            f"the appliance CA may vouch only for {', '.join(certificates.constrained_names(ca.certificate))}, "
            f"not for {', '.join(outside)}: serving {'them' if len(outside) > 1 else 'it'} needs a new CA, with a "
            "new fingerprint that every browser, system and control panel trusting the current CA must trust again"
        )
    if outside or (replace_ca and not certificates.is_constrained(ca.certificate)):
        ca = _replace_ca(appliance, ca, names=wanted, reason="names" if outside else "unconstrained", now=now)
    elif (certificates.names_of(current.certificate) == wanted and certificates.belongs_to(current, ca)
          and not certificates.needs_renewal(current.certificate, now=now)):
        return current
    renewed = certificates.issue_server(ca, names=wanted, now=now)
    keystore.replace_secret(SERVER_KEY, renewed.key_pem)
    _write_public(layout.server_cert, renewed.cert_pem)
    return renewed


def _replace_ca(appliance: Appliance, old: certificates.IssuedCertificate, *, names: list[str], reason: str,
                now: dt.datetime) -> certificates.IssuedCertificate:
    """A new CA for `names`, put in place in steps that a crash at any point leaves settleable (see below)."""
    layout, keystore = appliance.layout, appliance.keystore
    new = certificates.issue_ca(appliance_id=appliance.appliance_id, names=names, now=now)
    # The new CA is stored whole, public part then key, before anything of the old one is touched.
    _write_public(layout.tls_dir / NEXT_CA_FILE, new.cert_pem)
    keystore.set_pending(CA_KEY, new.key_pem)
    _record_ca_replacement(appliance, old.certificate, new.certificate, reason=reason)
    _settle_ca_replacement(appliance)
    return new


def _settle_ca_replacement(appliance: Appliance) -> None:
    """Finish a CA replacement that was stored whole (the new key pending, its certificate written), or forget
    one that was not; then ca.crt and the CA key always belong together."""
    layout, keystore = appliance.layout, appliance.keystore
    next_file = layout.tls_dir / NEXT_CA_FILE
    pending = keystore.pending(CA_KEY)
    if pending is None:
        next_file.unlink(missing_ok=True)
        return
    new_key = certificates.load_private_key(pending).public_key()
    current = certificates.load_certificate(layout.ca_cert.read_bytes())
    if current.public_key() != new_key:
        if not (next_file.is_file() and certificates.load_certificate(next_file.read_bytes()).public_key() == new_key):
            keystore.discard_pending(CA_KEY)
            next_file.unlink(missing_ok=True)
            return
        _record_ca_replacement(appliance, current, certificates.load_certificate(next_file.read_bytes()),
                               reason="interrupted replacement finished")
        _write_public(layout.tls_dir / PREVIOUS_CA_FILE, layout.ca_cert.read_bytes())
        os.replace(next_file, layout.ca_cert)
        sync_directory(layout.tls_dir)
    keystore.promote_pending(CA_KEY)  # the old key is kept among the retired ones


def _record_ca_replacement(appliance: Appliance, old: x509.Certificate, new: x509.Certificate, *,
                           reason: str) -> None:
    """Audit the replacement once, even when a crash made the next start finish it."""
    audit = audit_log(appliance.control_db, keystore=appliance.keystore, clock=appliance.clock)
    fingerprint = certificates.fingerprint(new)
    if any(event.target_id == fingerprint for event in audit.events(action="tls.ca_replaced", limit=MAX_PAGE)):
        return
    audit.record(
        "tls.ca_replaced", target_type="certificate_authority", target_id=fingerprint,
        details={"previous_fingerprint": certificates.fingerprint(old), "fingerprint": certificates.fingerprint(new),
                 "names": certificates.constrained_names(new), "reason": reason},
    )


def _issue_certificates(layout: Layout, keystore: Keystore, *, appliance_id: str, names: list[str],
                        now: dt.datetime) -> str:
    ca = certificates.issue_ca(appliance_id=appliance_id, names=names, now=now)
    server = certificates.issue_server(ca, names=names, now=now)
    # Private keys stay in the keystore and reach Caddy only through a pipe, never as files.
    keystore.put_secret(CA_KEY, ca.key_pem, purpose="appliance CA private key")
    keystore.put_secret(SERVER_KEY, server.key_pem, purpose="server TLS private key")
    layout.tls_dir.mkdir(mode=0o755, exist_ok=False)
    _write_public(layout.ca_cert, ca.cert_pem)
    _write_public(layout.server_cert, server.cert_pem)
    return certificates.fingerprint(ca.certificate)


def _write_public(path: Path, data: bytes) -> None:
    """Replace a public file whole and durably: a crash leaves the old one or the new one, never part of either."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.chmod(0o644)
    tmp.replace(path)
    sync_directory(path.parent)
