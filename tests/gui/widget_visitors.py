"""What the Conversations and Leads screens' tests share: an appliance whose widget visitors may all chat from
127.0.0.1, a workspace trained on a small handbook with its agent, visitors made through the widget's own routes,
what the API lists and exports for them, and a window the size of a small laptop's screen."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
from dataclasses import dataclass
from urllib.parse import urlencode

from PySide6.QtWidgets import QApplication

from appliance.keys.pinning import PinnedClient
from gui.main_window import MainWindow
from tests.gui.driving import WAIT_MS, idle, new_workspace, signed_in_window, start_served, unique
from tests.running import tls13_context

HANDBOOK = ("# Parking\n\nVisitors park on level B1 of the garage, next to reception. Staff park on level B2 of the "
            "garage.\n\n# Help desk\n\nThe IT help desk answers on extension 4400 from 8 to 18.\n")
PARKING = "Where do visitors park?"
FALLS_BACK = "What is the capital of Mongolia?"
SITE = "https://intranet.example.com"
LEAD_FIELDS = [{"name": "name", "label": "Name", "required": True}, {"name": "email", "label": "Email",
                                                                      "required": True},
               {"name": "company", "label": "Company"}]


@contextlib.contextmanager
def visitors_appliance(tmp_path_factory, relay, name: str):
    """A module's appliance: every widget visitor in these tests chats from 127.0.0.1, so the per-visitor message
    limit is raised (the limit itself is tested in tests/server/test_widget_https.py)."""
    served = start_served(tmp_path_factory.mktemp(f"{name}-appliance"), relay,
                          env={"CHATSPARK_WIDGET_MESSAGES_PER_MINUTE": "1000"})
    try:
        yield served
    finally:
        served.running.stop()


def answer_every_windows_calls(qtbot) -> None:
    """Every call a test's windows made is answered before qtbot closes them, so that none lands in the next test.
    The windows are held meanwhile: unreferenced once the test returns, the panel's collector would free them while
    their calls are still out."""
    windows = [widget for widget in QApplication.topLevelWidgets() if isinstance(widget, MainWindow)]
    for window in windows:
        idle(qtbot, window.context)


# --- a trained agent and its visitors, through the API and the widget's own routes ---------------------------------

@dataclass
class Site:
    workspace_id: str
    agent: dict
    source_id: str

    @property
    def base(self) -> str:
        return f"/api/v1/workspaces/{self.workspace_id}"


def trained_site(qtbot, served, *, origins: tuple[str, ...] = ()) -> Site:
    """A new workspace whose agent, trained on the handbook, offers its lead form on a fallback and is embedded on
    SITE (and `origins`)."""
    workspace = new_workspace(served, "Inbox")["id"]
    base = f"/api/v1/workspaces/{workspace}"
    status, made = served.api("POST", f"{base}/agents", {
        "name": unique("Helper"), "lead_capture": "on_fallback", "lead_fields": LEAD_FIELDS,
        "allowed_origins": [SITE, *origins]})
    assert status == 201, made
    status, source = served.api("POST", f"{base}/sources", {"kind": "text", "title": "Employee handbook",
                                                            "text": HANDBOOK})
    assert status == 202, source
    source_id = source["source"]["id"]
    ready(qtbot, served, base, source_id)
    return Site(workspace, made["agent"], source_id)


def ready(qtbot, served, base: str, source_id: str) -> None:
    states = []

    def indexed() -> bool:
        states[:] = [served.api("GET", f"{base}/sources/{source_id}")[1]["source"]["status"]]
        return states[0] in ("ready", "failed")

    qtbot.waitUntil(indexed, timeout=60_000)
    assert states == ["ready"]


def widget(served, site: Site, path: str, body: dict, *, token: str | None = None) -> dict:
    """One call of the widget's API as the widget makes it from a page on SITE."""
    headers = {"Origin": SITE, "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn = http.client.HTTPSConnection("localhost", served.running.port, context=tls13_context(served.running.ca_file),
                                       timeout=20)
    try:
        conn.request("POST", f"/widget/v1/agents/{site.agent['public_id']}{path}", body=json.dumps(body).encode(),
                     headers=headers)
        response = conn.getresponse()
        data = json.loads(response.read() or b"{}")
    finally:
        conn.close()
    assert response.status in (200, 201), data
    return data


def visit(served, site: Site, *questions: str, rating: str | None = None, lead: dict | None = None) -> str:
    """A visitor's conversation through the widget's routes: the questions, a rating of the last reply, a lead."""
    page_url = f"{SITE}/hr"
    session = widget(served, site, "/session", {"page_url": page_url})
    token = session["token"]
    reply = None
    for question in questions:
        reply = widget(served, site, "/messages", {"text": question, "page_url": page_url}, token=token)["reply"]
    if rating:
        widget(served, site, f"/messages/{reply['id']}/feedback", {"rating": rating}, token=token)
    if lead:
        widget(served, site, "/leads", {"fields": lead, "consent": True, "page_url": page_url,
                                        "consent_version": session["agent"]["lead_form"]["consent_version"]},
               token=token)
    return session["conversation"]["id"]


def listed(served, site: Site, **filters) -> list[str]:
    status, body = served.api("GET", f"{site.base}/conversations?{urlencode({**filters, 'limit': 200})}")
    assert status == 200, body
    return [c["id"] for c in body["conversations"]]


def exported(served, site: Site, **query) -> bytes:
    status, headers, body = served.running.get(f"{site.base}/conversations/export?{urlencode(query)}",
                                               headers={"Authorization": f"Bearer {served.token()}"})
    assert status == 200, body
    return body


def export_rows(served, site: Site) -> list[dict]:
    """The workspace's conversations.export audit rows, oldest first."""
    status, body = served.api("GET", f"{site.base}/audit?action=conversations.export")
    assert status == 200, body
    return body["events"]


def held_after_the_first_piece(monkeypatch) -> threading.Event:
    """Downloads from here on wait after their first piece until the event returned is set: a test cancels one
    mid-transfer, whatever the machine's speed."""
    released = threading.Event()
    stream = PinnedClient.stream

    def held(client, method, path, *, receive, **kwargs):
        def received(piece: bytes, total: int | None) -> None:
            receive(piece, total)
            released.wait(WAIT_MS / 1000)

        return stream(client, method, path, receive=received, **kwargs)

    monkeypatch.setattr(PinnedClient, "stream", held)
    return released


def window_of_1280_by_800(qtbot, tmp_path, served) -> MainWindow:
    """A signed-in window at the size of a small laptop's screen, shown (a hidden one grows to no minimum)."""
    window = signed_in_window(qtbot, tmp_path, served)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    return window


def assert_fits_1280_by_800(window, page) -> None:
    """The page needs no more than what the window has beside its navigation, so the window kept its size."""
    QApplication.processEvents()  # the layout's pending requests, which would grow the window
    assert page.minimumSizeHint().width() <= 1020, page.minimumSizeHint()
    assert (window.width(), window.height()) == (1280, 800)
