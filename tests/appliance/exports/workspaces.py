"""A workspace holding every kind of data an export carries, and the steps to export it and open it again."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from appliance.conversations.leads import Lead
from appliance.exports.archive import write_new_file
from appliance.exports.service import ExportReceipt, ExportService, Requester
from appliance.storage.encrypted_files import ScryptParameters
from tests.appliance.conversations.chats import ANSWERED, FALLS_BACK, PARKING, Chats

CHEAP_SCRYPT = ScryptParameters(n=1 << 10)  # the real cost is checked on its own
PASSPHRASE = "correct horse battery staple"
TESTER = Requester("user", "tester-id", "192.0.2.1", via="api")
# In pasted text, an uploaded file, a question and a lead: it must never be readable in an encrypted export.
CANARY = "zebracanary"
# A name as a browser might send it, pointing out of any directory it is unpacked into, with bytes that are not text.
UPLOAD_NAME = "../../etc/Q3 plan: draft.bin"
UPLOAD_BYTES = bytes(range(256)) + f"notes on the {CANARY}".encode()


@dataclass
class Trained:
    chats: Chats
    pasted_id: str
    upload_id: str
    widget_conversation: str
    api_conversation: str
    lead: Lead

    @property
    def workspace_id(self) -> str:
        return self.chats.workspace_id

    @property
    def services(self):
        return self.chats.services


def train(chats: Chats) -> Trained:
    """Beside the chats' Q&A pairs and handbook: pasted text, an odd upload, widget and API conversations, a rating,
    and a lead, spread over two days."""
    sources = chats.services.knowledge.sources(chats.workspace_id)
    pasted = sources.add_text(title="Canary notes", text=f"# Notes\n\nThe {CANARY} sings at dawn.\n")
    upload = sources.add_file(filename=UPLOAD_NAME, data=UPLOAD_BYTES, media_type="application/octet-stream")
    assert chats.services.knowledge.wait_idle(30)
    widget = chats.conversation(ANSWERED, f"Does the {CANARY} sing?", widget=True)
    chats.rate(chats.ask(PARKING, conversation_id=widget, widget=True), "up")
    chats.clock.advance(days=1)
    api = chats.conversation(FALLS_BACK)
    lead = chats.lead(widget, name=f"Jane {CANARY}", team_size="12")
    return Trained(chats, pasted.id, upload.id, widget, api, lead)


def export_workspace(exports: ExportService, workspace_id: str, directory: Path,
                     passphrase: str = PASSPHRASE) -> tuple[ExportReceipt, Path]:
    path = directory / "workspace.chatspark-export"
    receipt = write_new_file(path, lambda target: exports.export_workspace(
        workspace_id, target, passphrase=passphrase, requester=TESTER))
    return receipt, path


def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def files_under(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}
