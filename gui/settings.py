"""The panel's own settings, per user, in the platform's config folder: the appliances it knows (URL and pinned CA)
and the window's size. Never a password or a session token: those live in memory only."""

from __future__ import annotations

import base64
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from PySide6.QtCore import QStandardPaths

FILE_NAME = "panel.json"


@dataclass(frozen=True)
class KnownAppliance:
    """An appliance the admin connected to: where it is and the CA they confirmed (its PEM and fingerprint)."""

    url: str
    fingerprint: str
    ca_pem: str
    last_email: str = ""


class PanelSettings:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._data = self._read()

    @classmethod
    def default(cls) -> "PanelSettings":
        """The settings of the user running the panel, in the platform's config folder
        (`~/.config/chatspark/panel.json` on Linux, `$XDG_CONFIG_HOME` honoured)."""
        folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation)
        return cls(Path(folder) / "chatspark" / FILE_NAME)

    def appliances(self) -> list[KnownAppliance]:
        return [KnownAppliance(**entry) for entry in self._data.get("appliances", [])
                if isinstance(entry, dict) and {"url", "fingerprint", "ca_pem"} <= set(entry)]

    def find(self, url: str) -> KnownAppliance | None:
        return next((known for known in self.appliances() if known.url == url), None)

    def remember(self, appliance: KnownAppliance) -> None:
        """Keep `appliance` first in the list (it is the one used last), replacing an older entry for its URL."""
        others = [asdict(known) for known in self.appliances() if known.url != appliance.url]
        self._data["appliances"] = [asdict(appliance), *others]
        self._write()

    def forget(self, url: str) -> None:
        self._data["appliances"] = [asdict(known) for known in self.appliances() if known.url != url]
        self._write()

    def geometry(self) -> bytes | None:
        encoded = self._data.get("window_geometry")
        return base64.b64decode(encoded) if isinstance(encoded, str) else None

    def save_geometry(self, geometry: bytes) -> None:
        self._data["window_geometry"] = base64.b64encode(geometry).decode("ascii")
        self._write()

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # a missing or damaged file is a panel that knows no appliance yet
        return data if isinstance(data, dict) else {}

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".panel-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(self._data, out, indent=2)
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
