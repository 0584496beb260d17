"""What happened to the workspace's data, newest first, from its audit trail: policy changes, legal holds, what each
retention sweep deleted, erasures, exports, and its cancellation; each in a sentence, with who did it."""

from __future__ import annotations

from typing import Callable
from urllib.parse import urlencode

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView

from gui.client.api import ApiClient
from gui.models.table import Column, RecordsModel
from gui.views.retention_policy import describe_policy
from gui.views.retention_requests import counts_text
from gui.widgets.formatting import size, when
from gui.widgets.tables import records_table

# The audit actions shown (each matches its dotted children and longer names: workspace.cancel_undo too).
ACTIONS = ("retention", "erasure.subject", "workspace.export", "subject.export", "workspace.cancel",
           "workspace.purge_date")
PER_ACTION = 25
SHOWN = 50
SWEPT = (("conversations", "conversation", "conversations"), ("messages", "message", "messages"),
         ("leads", "lead", "leads"), ("analytics_events", "analytics event", "analytics events"),
         ("visitor_addresses", "visitor address", "visitor addresses"),
         ("uploaded_originals", "uploaded file", "uploaded files"))
EMPTY = ("Nothing yet. Policy changes, legal holds, what each retention sweep deletes, erasures and exports of this "
         "workspace are listed here as they happen.")


def _swept(counts: dict) -> str:
    parts = [f"{counts[key]} {one if counts[key] == 1 else many}" for key, one, many in SWEPT if counts.get(key)]
    return ", ".join(parts) or "nothing"


def describe_event(event: dict) -> str:
    """The audit event as a sentence an admin reads."""
    action, details = event["action"], event.get("details") or {}
    if action == "retention.update":
        return f"Policy changed. {describe_policy(details.get('after') or {})}"
    if action == "retention.legal_hold":
        reason = f" ({details['reason']})" if details.get("reason") else ""
        return f"Legal hold put on{reason}." if details.get("on") else "Legal hold lifted."
    if action == "retention.sweep":
        return f"The retention sweep deleted {_swept(details.get('deleted') or {})}."
    if action == "erasure.subject":
        if details.get("legal_hold"):
            return f"Erasure {details.get('erasure_id', '')}: nothing erased, the workspace was on legal hold."
        return f"Erasure {details.get('erasure_id', '')}: {counts_text(details.get('deleted') or {})} erased."
    if action == "workspace.export":
        return f"The workspace was exported, encrypted ({size(details.get('archive_bytes'))})."
    if action == "subject.export":
        return f"A person's data was exported, encrypted (subject {str(details.get('subject_sha256', ''))[:12]}…)."
    if action == "workspace.cancel":
        return f"The workspace was cancelled; purge after {when(details.get('purge_after'))}."
    if action == "workspace.cancel_undo":
        return "The cancellation was undone."
    if action == "workspace.purge_date":
        return f"An operator brought the purge forward to {when(details.get('after'))}."
    return action


class RetentionHistory:
    """The table of those events and how it loads; `names` maps user ids to what the table shows for them."""

    def __init__(self, api: ApiClient, workspace_id: str, *, owner) -> None:
        self.api, self.workspace_id = api, workspace_id
        self.names: dict[str, str] = {}
        self.model = RecordsModel([
            Column("at", "When", show=lambda e: when(e["at"]), sort=lambda e: e["seq"]),
            Column("action", "What happened", show=describe_event),
            Column("actor_id", "By", show=self._by),
        ])
        self.table = records_table(self.model, name="retentionHistory", stretch=1,
                                   sort=(0, Qt.SortOrder.DescendingOrder), owner=owner)
        # Rows grow to hold their sentence whole: what was deleted is never to be cut off.
        self.table.setWordWrap(True)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

    def _by(self, event: dict) -> str:
        if event["actor_type"] == "system":
            return "the appliance"
        return self.names.get(event.get("actor_id") or "", event.get("actor_id") or event["actor_type"])

    def load(self, *, on_error: Callable) -> None:
        """Ask for each action's latest events, and show them together once all have come."""
        found: dict[str, list[dict]] = {}

        def got(action: str, answer: dict) -> None:
            found[action] = answer["events"]
            if len(found) == len(ACTIONS):
                events = {e["seq"]: e for batch in found.values() for e in batch}
                self.model.set_records(sorted(events.values(), key=lambda e: -e["seq"])[:SHOWN])

        for action in ACTIONS:
            query = urlencode({"action": action, "order": "newest", "limit": PER_ACTION})
            self.api.get(f"/api/v1/workspaces/{self.workspace_id}/audit?{query}",
                         on_done=lambda answer, action=action: got(action, answer), on_error=on_error)
