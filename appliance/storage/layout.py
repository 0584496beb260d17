"""Where everything lives: the data directory and the key directory, always apart."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import ConfigurationError, InvalidIdentifier
from appliance.keys import keystore, masterkey

IDENTITY_NAME = "appliance.json"
_WORKSPACE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Layout:
    data_dir: Path
    key_dir: Path

    @classmethod
    def of(cls, data_dir: Path, key_dir: Path) -> "Layout":
        """Resolve both directories and refuse a key directory that is, contains or sits in the data directory."""
        data, keys = Path(data_dir).expanduser().resolve(), Path(key_dir).expanduser().resolve()
        if data == keys or data in keys.parents or keys in data.parents:
            raise ConfigurationError(
                f"key directory {keys} and data directory {data} must be separate (neither inside the other)"
            )
        return cls(data, keys)

    @property
    def identity_file(self) -> Path:
        return self.data_dir / IDENTITY_NAME

    @property
    def control_db(self) -> Path:
        return self.data_dir / "control.db"

    @property
    def workspaces_dir(self) -> Path:
        return self.data_dir / "workspaces"

    def workspace_db(self, workspace_id: str) -> Path:
        if not isinstance(workspace_id, str) or not _WORKSPACE_ID.fullmatch(workspace_id):
            raise InvalidIdentifier(f"{workspace_id!r} is not a valid workspace id")
        return self.workspaces_dir / f"{workspace_id}.db"

    @property
    def lock_file(self) -> Path:
        """Held shared by every process with the appliance open, exclusively by key rotation (see data_lock)."""
        return self.data_dir / "chatspark.lock"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"

    @property
    def ca_cert(self) -> Path:
        return self.tls_dir / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.tls_dir / "server.crt"

    @property
    def demo_site_dir(self) -> Path:
        """The demo intranet page `chatspark demo create` writes and Caddy serves on the demo site port."""
        return self.data_dir / "demo-site"

    @property
    def caddy_dir(self) -> Path:
        return self.data_dir / "caddy"

    @property
    def keystore_db(self) -> Path:
        return self.key_dir / keystore.FILE_NAME

    def has_keys(self) -> bool:
        return masterkey.exists(self.key_dir) or self.keystore_db.exists()

    def has_data(self) -> bool:
        return self.identity_file.exists() or self.control_db.exists() or self.tls_dir.exists()

    def read_identity(self) -> dict:
        try:
            return json.loads(self.identity_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise
        except (ValueError, OSError) as exc:
            raise ConfigurationError(f"{self.identity_file} is unreadable ({exc})") from None

    def write_identity(self, identity: dict) -> None:
        fd = os.open(self.identity_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(identity, handle, indent=2)
            handle.write("\n")


def make_private_dir(path: Path) -> None:
    """Create `path` (and parents) and make it 0700; an existing directory is tightened, not replaced."""
    path.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        os.chmod(path, 0o700)
