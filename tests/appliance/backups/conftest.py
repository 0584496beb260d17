"""The backup tests' appliance: a workspace people have talked to, a second one, and a recovery kit of its keys."""

from __future__ import annotations

import os

import pytest

from appliance.backups import archive
from appliance.backups.index import Backup
from appliance.backups.manifest import Manifest
from appliance.backups.service import BackupService
from appliance.errors import StorageError
from appliance.keys.recovery_kit import export_kit
from appliance.services import Services
from appliance.storage.encrypted_files import ScryptParameters
from tests.appliance.conversations.chats import Chats, start_chats

# Written into sources, questions and leads; a backup may hold it only encrypted.
CANARY = "okapi-canary-5b1e"
KIT_PASSPHRASE = "a recovery kit passphrase"
FAST_SCRYPT = ScryptParameters(n=1 << 10)


@pytest.fixture
def chats(services, clock) -> Chats:
    """The Acme workspace (tests/appliance/conversations/chats.py) with the canary in a source, a question and a
    lead."""
    chats = start_chats(services, clock)
    services.knowledge.sources(chats.workspace_id).add_text(title="Canary", text=f"The password is {CANARY}.")
    assert services.knowledge.wait_idle(30)
    conversation = chats.conversation(f"What about {CANARY}?", "Where do visitors park?", widget=True)
    chats.lead(conversation, name=f"Jane {CANARY}")
    yield chats
    services.knowledge.close()


@pytest.fixture
def backups(services) -> BackupService:
    return services.backups


def second_workspace(services: Services, chats: Chats, *, name: str = "Globex") -> str:
    """Another workspace of the same owner, with one source of its own."""
    owner = services.workspaces.get(chats.workspace_id).owner_id
    workspace = services.workspaces.create(name=name, owner_id=owner, actor_id=owner, client_address=None)
    services.knowledge.sources(workspace.id).add_text(title=f"{name} handbook", text=f"{name} opens at nine.")
    assert services.knowledge.wait_idle(30)
    return workspace.id


def add_ballast(services: Services, workspace_id: str, *, megabytes: int) -> None:
    """Random originals straight into the workspace's file, to make backups big (their sources are never indexed)."""
    db = services.appliance.workspaces.open(workspace_id)
    with db.transaction() as conn:
        for n in range(megabytes):
            conn.execute("INSERT INTO sources (id, kind, title, status, original, created_at, updated_at) VALUES "
                         "(?, 'text', 'ballast', 'ready', ?, '2026-11-29T12:00:00Z', '2026-11-29T12:00:00Z')",
                         (f"ballast-{n}", os.urandom(1 << 20)))


def failed_backup(services: Services) -> None:
    """A backup that fails for real: the identity file is missing while it runs (and is put back after)."""
    identity = services.appliance.layout.identity_file
    saved = identity.read_bytes()
    identity.unlink()
    try:
        with pytest.raises(StorageError, match="the backup could not be made: .*appliance.json"):
            services.backups.create()
    finally:
        identity.write_bytes(saved)


def kit_of(services: Services, clock) -> bytes:
    return export_kit(services.appliance.keystore, passphrase=KIT_PASSPHRASE, clock=clock, scrypt=FAST_SCRYPT)


def unpack(backups: BackupService, backup: Backup, scratch, keystore) -> Manifest:
    """The backup's files decrypted into `scratch`, with the keystore's backup key."""
    with backups.path_of(backup).open("rb") as source:
        return archive.unpack(source, scratch, key=lambda header: keystore.get(header.key_id))
