"""Agents and training data through the API: upload, background indexing, status, asking, deleting."""

from __future__ import annotations

import io

import pytest

from appliance.services import build_scheduler
from server.app import create_app

PASSWORD = "a long enough passphrase for tests"
UPLOAD_LIMIT = 4000


@pytest.fixture
def settings(settings):
    """A small upload limit, so the test of it sends kilobytes, not the 25 MB default."""
    return settings.replace(max_upload_bytes=UPLOAD_LIMIT)


@pytest.fixture
def api(services, settings):
    scheduler = build_scheduler(services)
    scheduler.start()
    app = create_app(services, settings=settings, scheduler=scheduler)
    operator = services.users.create_operator(email="op@example.com", password=PASSWORD)
    workspace = services.workspaces.create(name="Acme", owner_id=operator.id, actor_id=operator.id,
                                           client_address=None)
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"email": "op@example.com", "password": PASSWORD}).get_json()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token['token']}"
    client.workspace = f"/api/v1/workspaces/{workspace.id}"
    yield client
    scheduler.shutdown(wait=True)
    services.knowledge.close()


def upload(api, filename: str, data: bytes):
    return api.post(f"{api.workspace}/sources/upload", data={"file": (io.BytesIO(data), filename)},
                    content_type="multipart/form-data")


def test_uploaded_file_is_queued_at_once_then_indexed_in_the_background(api, services):
    response = upload(api, "handbook.md", b"# Leave\n\nEmployees get 28 days of paid leave a year.\n")
    assert response.status_code == 202
    source = response.get_json()["source"]
    assert source["status"] in ("queued", "indexing", "ready") and source["size_bytes"] > 0

    assert services.knowledge.wait_idle(30)
    ready = api.get(f"{api.workspace}/sources/{source['id']}").get_json()["source"]
    assert ready["status"] == "ready" and ready["chunk_count"] == 1 and ready["refreshed_at"]
    original = api.get(f"{api.workspace}/sources/{source['id']}/original")
    assert original.data == b"# Leave\n\nEmployees get 28 days of paid leave a year.\n"


def test_asking_an_agent_returns_the_reply_with_its_sources(api, services):
    api.post(f"{api.workspace}/sources", json={"kind": "qa", "title": "HR FAQ", "pairs": [
        {"question": "How many days of paid leave do I get?", "answer": "28 days a year."}]})
    api.post(f"{api.workspace}/sources", json={"kind": "text", "title": "Parking",
                                               "text": "Staff park on level B2 of the north garage."})
    assert services.knowledge.wait_idle(30)
    agent = api.post(f"{api.workspace}/agents", json={"name": "HR bot", "fallback_text": "Ask HR directly."})
    assert agent.status_code == 201
    ask = f"{api.workspace}/agents/{agent.get_json()['agent']['id']}/ask"

    qa = api.post(ask, json={"question": "How many days of paid leave do I get?"}).get_json()
    assert qa["reply"] == "28 days a year." and qa["method"] == "qa" and qa["sources"][0]["title"] == "HR FAQ"
    parking = api.post(ask, json={"question": "Where do staff park?", "conversation_id": qa["conversation_id"]})
    body = parking.get_json()
    assert body["answered"] and "B2" in body["reply"] and body["conversation_id"] == qa["conversation_id"]
    assert body["sources"][0]["title"] == "Parking" and "north garage" in body["sources"][0]["passage"]
    unknown = api.post(ask, json={"question": "Who won the 1998 World Cup?"}).get_json()
    assert not unknown["answered"] and unknown["reply"] == "Ask HR directly." and unknown["offer_lead_form"]


def test_unsupported_and_malformed_uploads_fail_their_source_with_a_reason(api, services):
    garbage = upload(api, "notes.txt", bytes(range(256)) * 10).get_json()["source"]
    exe = upload(api, "setup.exe", b"MZ\x90\x00" * 100)
    assert services.knowledge.wait_idle(30)
    failed = api.get(f"{api.workspace}/sources/{garbage['id']}").get_json()["source"]
    assert failed["status"] == "failed" and "text" in failed["error"]
    assert exe.status_code in (202, 400)
    if exe.status_code == 202:
        source = api.get(f"{api.workspace}/sources/{exe.get_json()['source']['id']}").get_json()["source"]
        assert source["status"] == "failed" and ".pdf" in source["error"]


def test_oversized_upload_is_refused_with_the_limit_and_nothing_is_stored(api, services):
    response = upload(api, "big.txt", b"a" * (UPLOAD_LIMIT + 1))
    assert response.status_code == 400
    assert "limit" in response.get_json()["message"]
    assert api.get(f"{api.workspace}/sources").get_json()["sources"] == []


def test_deleting_a_source_takes_its_answers_away(api, services):
    source = api.post(f"{api.workspace}/sources", json={"kind": "text", "title": "Canteen",
                                                        "text": "The canteen serves lunch from 11:30."})
    assert services.knowledge.wait_idle(30)
    agent = api.post(f"{api.workspace}/agents", json={"name": "Bot"}).get_json()["agent"]
    ask = f"{api.workspace}/agents/{agent['id']}/ask"
    assert api.post(ask, json={"question": "When does the canteen serve lunch?"}).get_json()["answered"]

    assert api.delete(f"{api.workspace}/sources/{source.get_json()['source']['id']}").status_code == 204

    assert not api.post(ask, json={"question": "When does the canteen serve lunch?"}).get_json()["answered"]


def test_agent_settings_are_validated(api):
    bad = api.post(f"{api.workspace}/agents", json={"name": "Bot", "confidence_threshold": 3})
    assert bad.status_code == 400 and "confidence_threshold" in bad.get_json()["message"]
    bad = api.post(f"{api.workspace}/agents", json={"name": "Bot", "allowed_origins": ["javascript:alert(1)"]})
    assert bad.status_code == 400
    good = api.post(f"{api.workspace}/agents", json={"name": "Bot", "allowed_origins": ["https://Intranet.Example"],
                                                     "suggested_questions": ["Where do I park?"]})
    assert good.status_code == 201
    assert good.get_json()["agent"]["allowed_origins"] == ["https://intranet.example"]
    assert good.get_json()["agent"]["public_id"].startswith("ag_")


def test_an_agent_comes_with_the_snippet_that_embeds_its_widget(api, settings):
    agent = api.post(f"{api.workspace}/agents", json={"name": "Bot"}).get_json()["agent"]
    expected = f'<script src="https://localhost:8443/widget.js" data-agent="{agent["public_id"]}" defer></script>'
    assert agent["embed_snippet"] == expected
    assert api.get(f"{api.workspace}/agents").get_json()["agents"][0]["embed_snippet"] == expected
