"""The recovery kit: every key of the keystore, encrypted to an operator's passphrase, to restore backups elsewhere.

A kit is a copy of keys at one moment: it opens the backups made while those keys were current. Export a new kit
after every key rotation (older backups need the older kit, so keep it as long as those backups), and keep kits as
carefully as the key directory. A kit made before a workspace was purged still holds that workspace's key: a purge is
final for old backups only once the kits and backups from before it are destroyed.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from appliance.accounts import strength
from appliance.clock import Clock, isoformat
from appliance.keys import masterkey
from appliance.keys.keystore import Keystore
from appliance.storage.encrypted_files import (
    DEFAULT_SCRYPT,
    EncryptedFileError,
    ScryptParameters,
    decrypt_bytes,
    encrypt_bytes,
)

PURPOSE = "recovery-kit"


@dataclass(frozen=True)
class KitKey:
    name: str
    material: bytes
    purpose: str
    created_at: str
    rotated_at: str | None
    retired: tuple[tuple[int, bytes], ...] = ()   # (version, material) it had before rotations, newest first

    @property
    def materials(self) -> list[bytes]:
        """The current material first, then the retired ones: what may open a backup made before a rotation."""
        return [self.material, *(material for _, material in self.retired)]


@dataclass(frozen=True)
class RecoveryKit:
    appliance_id: str
    created_at: str
    keys: dict[str, KitKey]


def export_kit(keystore: Keystore, *, passphrase: str, clock: Clock, scrypt: ScryptParameters = DEFAULT_SCRYPT,
               context: Iterable[str | None] = ()) -> bytes:
    """Every key the keystore holds, with the appliance's id, encrypted to `passphrase` (which must pass the one
    secret policy, with `context` as the words an attacker would try first)."""
    strength.check_passphrase(passphrase, context=context)
    keys = [{"name": r.name, "purpose": r.purpose, "created_at": r.created_at, "rotated_at": r.rotated_at,
             "material": base64.b64encode(keystore.get(r.name)).decode("ascii"),
             "retired": [{"version": version, "material": base64.b64encode(material).decode("ascii")}
                         for version, material in keystore.retired(r.name)]} for r in keystore.records()]
    document = {"kind": "chatspark-recovery-kit", "version": 1, "appliance_id": keystore.appliance_id,
                "created_at": isoformat(clock.now()), "keys": keys}
    return encrypt_bytes(json.dumps(document).encode(), purpose=PURPOSE, passphrase=passphrase, scrypt=scrypt)


def read_kit(data: bytes, *, passphrase: str) -> RecoveryKit:
    """The kit's keys; EncryptedFileError for a wrong passphrase or a damaged or foreign file."""
    document = json.loads(decrypt_bytes(data, purpose=PURPOSE, passphrase=passphrase))
    if document.get("kind") != "chatspark-recovery-kit" or document.get("version") != 1:
        raise EncryptedFileError("this is not a recovery kit this release can read")
    keys = {k["name"]: KitKey(k["name"], base64.b64decode(k["material"]), k["purpose"], k["created_at"],
                              k["rotated_at"], tuple((int(r["version"]), base64.b64decode(r["material"]))
                                                     for r in k.get("retired", ())))
            for k in document["keys"]}
    return RecoveryKit(document["appliance_id"], document["created_at"], keys)


def install_kit(kit: RecoveryKit, key_dir: Path, *, clock: Clock, passphrase: str | None = None) -> Keystore:
    """A new key directory holding the kit's keys under a new master key (wrapped if `passphrase` is given).

    The key directory must not hold keys yet; nothing is written before that is checked.
    """
    master = masterkey.create(Path(key_dir), passphrase=passphrase)
    keystore = Keystore.create(Path(key_dir), master, appliance_id=kit.appliance_id, clock=clock)
    for key in kit.keys.values():
        keystore.put_secret(key.name, key.material, purpose=key.purpose)
        for version, material in key.retired:
            keystore.put_retired(key.name, version, material)
    return keystore
