"""A visitor's message through the real Flask app is handled in one of the process's turns at computing replies
(shipped: one at a time); other widget requests do not wait for one."""

from __future__ import annotations

import os
import threading

import pytest

from appliance.conversations.chat import ConversationService
from appliance.turns import reply_cores
from server.app import create_app
from tests.server.trained_agents import handbook_agent

PAGE = "https://intranet.example.com"
HANDBOOK = b"# Parking\n\nVisitors park in the north car park, next to reception.\n"


@pytest.fixture
def widget(services, settings):
    _, agent = handbook_agent(services, HANDBOOK, {"name": "Acme helper", "allowed_origins": [PAGE]})
    client = create_app(services, settings=settings).test_client()
    yield lambda path, body, token=None: client.post(
        f"/widget/v1/agents/{agent.public_id}{path}", json=body,
        headers={"Origin": PAGE, **({"Authorization": f"Bearer {token}"} if token else {})})
    services.knowledge.close()


def _session(post) -> str:
    response = post("/session", {})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


def test_a_visitors_message_waits_for_a_turn_at_computing_replies_and_nothing_else_does(widget, services):
    """With every turn taken, a message is answered once one comes free; meanwhile a session starts."""
    token = _session(widget)
    answered: list = []
    with services.turns.taken():
        asking = threading.Thread(target=lambda: answered.append(
            widget("/messages", {"text": "Where do visitors park?"}, token)))
        asking.start()
        asking.join(0.5)
        assert asking.is_alive() and not answered
        assert _session(widget)  # other widget requests go on
    asking.join(10)
    [response] = answered
    assert response.status_code == 200 and "north car park" in response.get_json()["reply"]["text"]


def test_a_message_is_computed_on_the_reply_cores_and_the_thread_goes_back_to_its_own_after(widget, monkeypatch):
    """The test client runs each request on this thread, as a server's worker thread would."""
    own = os.sched_getaffinity(0)
    cores = reply_cores(1) or own  # shipped: replies_keep_to_cores, one reply at a time; one CPU alone keeps all
    token, seen = _session(widget), []
    answered = ConversationService._answered

    def noted(self, *args, **kwargs):
        seen.append(os.sched_getaffinity(0))
        return answered(self, *args, **kwargs)

    monkeypatch.setattr(ConversationService, "_answered", noted)
    response = widget("/messages", {"text": "Where do visitors park?"}, token)
    assert response.status_code == 200 and "north car park" in response.get_json()["reply"]["text"]
    assert seen == [cores] and os.sched_getaffinity(0) == own
