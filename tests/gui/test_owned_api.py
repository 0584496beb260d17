"""A page's calls answered after the page was deleted reach nothing: the page's view of the API client drops their
callbacks, so a slow answer never touches widgets that no longer exist."""

from __future__ import annotations

import shiboken6
from PySide6.QtWidgets import QLabel

from gui.client.owned import OwnedApi


class RecordingClient:
    base_url = "https://appliance.test"

    def __init__(self) -> None:
        self.pending = []

    def get(self, path, *, on_done=None, on_error=None):
        self.pending.append((path, on_done, on_error))


def test_answers_reach_a_live_page_and_are_dropped_once_it_is_deleted(qtbot):
    client, label = RecordingClient(), QLabel()
    api = OwnedApi(client, label)
    seen = []
    api.get("/api/v1/me", on_done=lambda answer: (seen.append(answer), label.setText(answer["user"])))
    api.get("/api/v1/overview", on_done=lambda answer: label.setText(answer["late"]), on_error=seen.append)
    assert api.base_url == "https://appliance.test"  # everything else passes through

    _, first, _ = client.pending[0]
    first({"user": "ann"})
    assert seen == [{"user": "ann"}] and label.text() == "ann"

    shiboken6.delete(label)
    _, late_done, late_error = client.pending[1]
    late_done({"late": "would have raised: Internal C++ object already deleted"})
    late_error("an error after the page went")
    assert seen == [{"user": "ann"}]
