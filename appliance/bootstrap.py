"""Creating an appliance (`chatspark init`) and opening one, fail-closed, in a fixed order."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from appliance import __version__
from appliance.audit.keys import AUDIT_MAC_KEY
from appliance.audit.keys import PURPOSE as AUDIT_MAC_PURPOSE
from appliance.clock import Clock, isoformat
from appliance.errors import ApplianceExists, ApplianceMismatch, NotInitialised
from appliance.keys import certificates, masterkey
from appliance.keys.database_keys import open_database
from appliance.keys.keystore import CONTROL_DB_KEY, Keystore
from appliance.storage.data_lock import DataLock
from appliance.storage.database import Database
from appliance.storage.layout import Layout, make_private_dir
from appliance.storage.migrations import migrate
from appliance.storage.workspace_files import WorkspaceDatabases

CA_KEY = "tls:ca-key"
SERVER_KEY = "tls:server-key"
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
            names = certificates.default_names(extra_names or ())
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
                   exclusive: bool = False) -> Appliance:
    """Open keys then data, checking at each step that they belong together; create or change nothing on failure.

    The appliance holds the data directory's lock until it is closed: shared, or with `exclusive` (key rotation)
    alone, refusing while any other process has it open. A key rotation a crash cut short is settled here.
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


def server_certificate(appliance: Appliance) -> certificates.IssuedCertificate:
    """The appliance-issued server certificate and key, renewed from the CA when it is close to expiry."""
    layout, keystore = appliance.layout, appliance.keystore
    current = certificates.load(layout.server_cert.read_bytes(), keystore.get(SERVER_KEY))
    now = appliance.clock.now()
    if not certificates.needs_renewal(current.certificate, now=now):
        return current
    ca = certificates.load(layout.ca_cert.read_bytes(), keystore.get(CA_KEY))
    renewed = certificates.issue_server(ca, names=certificates.names_of(current.certificate), now=now)
    keystore.replace_secret(SERVER_KEY, renewed.key_pem)
    _write_public(layout.server_cert, renewed.cert_pem)
    return renewed


def _issue_certificates(layout: Layout, keystore: Keystore, *, appliance_id: str, names: list[str],
                        now: dt.datetime) -> str:
    ca = certificates.issue_ca(appliance_id=appliance_id, now=now)
    server = certificates.issue_server(ca, names=names, now=now)
    # Private keys stay in the keystore and reach Caddy only through a pipe, never as files.
    keystore.put_secret(CA_KEY, ca.key_pem, purpose="appliance CA private key")
    keystore.put_secret(SERVER_KEY, server.key_pem, purpose="server TLS private key")
    layout.tls_dir.mkdir(mode=0o755, exist_ok=False)
    _write_public(layout.ca_cert, ca.cert_pem)
    _write_public(layout.server_cert, server.cert_pem)
    return certificates.fingerprint(ca.certificate)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
