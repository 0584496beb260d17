"""Agents and training data through the API: upload, background indexing, status, asking, deleting."""

from __future__ import annotations

import io
import json
import uuid
from urllib.parse import urlsplit

import pytest

from appliance.conversations.chat import Visitor
from appliance.services import build_scheduler
from server.app import create_app
from tests.appliance.accounts.account_steps import log_in, make_user
from tests.appliance.knowledge.fake_llm import running_llm
from tests.appliance.knowledge.web_server import Route, running_site
from tests.server.demo_appliance import start_demo

PASSWORD = "a long enough passphrase for tests"
UPLOAD_LIMIT = 4000


@pytest.fixture
def settings(settings):
    """A small upload limit, so the test of it sends kilobytes, not the 25 MB default; a crawlable site on loopback."""
    return settings.replace(max_upload_bytes=UPLOAD_LIMIT, crawl_allowed_hosts="127.0.0.1",
                            crawl_allow_private_addresses=True)


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
    assert not unknown["answered"] and unknown["offer_lead_form"]
    assert unknown["reply"].startswith("I couldn't find anything about “1998 World Cup”")
    assert unknown["reply"].endswith(" Ask HR directly.")  # the operator's own fallback, whole


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


def test_an_agent_comes_with_the_snippet_that_embeds_its_widget_and_its_preview_page(api, settings):
    agent = api.post(f"{api.workspace}/agents", json={"name": "Bot"}).get_json()["agent"]
    expected = f'<script src="https://localhost:8443/widget.js" data-agent="{agent["public_id"]}" defer></script>'
    assert agent["embed_snippet"] == expected
    assert api.get(f"{api.workspace}/agents").get_json()["agents"][0]["embed_snippet"] == expected
    preview = f"https://localhost:8443{api.workspace.removeprefix('/api/v1')}/agents/{agent['id']}/preview"
    assert agent["preview_url"] == preview


def test_only_a_crawled_page_gives_a_citation_or_a_source_a_url(api, services):
    """An upload named like a link, pasted text or Q&A titled like one: none of them is ever cited as a URL."""
    evil = "https://evil.example/steal/leave.md"
    with running_site() as site:
        site.routes["/canteen"] = Route(b"<html><head><title>Canteen</title></head><body><main><h1>Canteen</h1>"
                                        b"<p>The canteen serves lunch from 11:30 to 14:00.</p></main></body></html>")
        crawled = api.post(f"{api.workspace}/sources", json={"kind": "url", "url": site.url + "/canteen"})
        uploaded = upload(api, evil, b"# Leave\n\nEmployees get 28 days of paid leave a year.\n")
        pasted = api.post(f"{api.workspace}/sources", json={"kind": "text", "title": "javascript:alert(1)",
                                                            "text": "Staff park on level B2 of the north garage."})
        qa = api.post(f"{api.workspace}/sources", json={"kind": "qa", "title": evil, "pairs": [
            {"question": "Is there a bike shed?", "answer": "Yes, behind building C."}]})
        assert services.knowledge.wait_idle(30)
    assert {r.status_code for r in (crawled, uploaded, pasted, qa)} == {202}
    agent = api.post(f"{api.workspace}/agents", json={"name": "Bot"}).get_json()["agent"]
    ask = f"{api.workspace}/agents/{agent['id']}/ask"

    replies = {question: api.post(ask, json={"question": question}).get_json() for question in (
        "When does the canteen serve lunch?", "How many days of paid leave do I get?", "Where do staff park?",
        "Is there a bike shed?")}

    cited = {question: [(s["title"], s["url"]) for s in reply["sources"]] for question, reply in replies.items()}
    assert cited["When does the canteen serve lunch?"] == [("Canteen", site.url + "/canteen")]
    assert [url for sources in list(cited.values())[1:] for _, url in sources] == [None, None, None]
    assert all(reply["answered"] for reply in replies.values())
    listed = {s["kind"]: s for s in api.get(f"{api.workspace}/sources").get_json()["sources"]}
    assert listed["url"]["url"] == site.url + "/canteen"
    assert (listed["file"]["url"], listed["file"]["filename"]) == (None, evil)
    assert listed["text"]["url"] is None and listed["qa"]["url"] is None
    for reply in replies.values():
        transcript = api.get(f"{api.workspace}/conversations/{reply['conversation_id']}").get_json()
        urls = [s["url"] for m in transcript["conversation"]["messages"] for s in m["sources"]]
        assert evil not in urls and "javascript:alert(1)" not in urls


def test_ask_continues_only_the_conversations_its_own_caller_started(api, services):
    """Every caller (owner, viewer, editor, two chat-only keys) against every conversation (a widget visitor's, an
    older API one with no caller on record, and each caller's own): only one's own continues; the rest are 404
    like an unknown id, and gain no message."""
    workspace_id = api.workspace.rsplit("/", 1)[1]
    api.post(f"{api.workspace}/sources", json={"kind": "text", "title": "Parking",
                                               "text": "Staff park on level B2 of the north garage."})
    assert services.knowledge.wait_idle(30)
    agent_id = api.post(f"{api.workspace}/agents", json={"name": "Bot"}).get_json()["agent"]["id"]
    ask = f"{api.workspace}/agents/{agent_id}/ask"
    owner_id = services.workspaces.get(workspace_id).owner_id
    tokens = {"owner": api.environ_base["HTTP_AUTHORIZATION"].split(" ", 1)[1]}
    for role in ("viewer", "editor"):
        user = make_user(services, f"{role}@example.com")
        with services.appliance.control_db.transaction() as conn:
            services.workspaces.add_member(conn, workspace_id=workspace_id, user_id=user.id, role=role)
        tokens[role] = log_in(services, f"{role}@example.com").token
    for name in ("key1", "key2"):
        tokens[name] = services.api_keys.create(workspace_id, name=name, scopes=["chat"], actor_id=owner_id,
                                                client_address=None)[0]
    clients = {name: api.application.test_client() for name in tokens}
    for name, client in clients.items():
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {tokens[name]}"
    agent = services.agents.of(workspace_id).get(agent_id)
    chat = services.conversations.chat(workspace_id)
    conversations = {
        "widget visitor": chat.ask(agent, "Where do staff park?", conversation_id=uuid.uuid4().hex,
                                   visitor=Visitor("visitor-1", "https://intranet.example.com")).conversation_id,
        "older API": chat.ask(agent, "Where do staff park?").conversation_id,
        **{name: clients[name].post(ask, json={"question": "Where do staff park?"}).get_json()["conversation_id"]
           for name in clients}}
    unknown = clients["owner"].post(ask, json={"question": "Hi", "conversation_id": "f" * 32})
    assert unknown.status_code == 404

    for caller, client in clients.items():
        for started_by, conversation_id in conversations.items():
            before = len(chat.messages(conversation_id))
            response = client.post(ask, json={"question": "And visitors?", "conversation_id": conversation_id})
            after = len(chat.messages(conversation_id))
            if started_by == caller:
                assert response.status_code == 200, (caller, started_by)
                assert response.get_json()["conversation_id"] == conversation_id and after == before + 2
            else:
                assert response.status_code == 404, (caller, started_by, response.get_json())
                assert response.get_json()["error"] == unknown.get_json()["error"] and after == before


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The demo appliance over HTTPS, with a fake model endpoint on this machine that its allow-list names twice:
    by its address (an operator's choice) and by the name localhost (which resolves to loopback)."""
    with running_llm() as llm:
        port = urlsplit(llm.url).port
        demo = start_demo(tmp_path_factory.mktemp("knowledge-https"),
                          env={"CHATSPARK_EGRESS_ALLOWED_HOSTS": f"127.0.0.1:{port}, localhost:{port}"})
        demo.llm, demo.token = llm, demo.login()
        demo.base = f"/api/v1/workspaces/{demo.workspace_id}"
        yield demo
        demo.running.stop()


def _widget_conversation(demo) -> str:
    """A widget visitor's conversation with the demo agent, over HTTPS from the demo page's origin."""
    headers = {"Origin": demo.site_origin}
    path = f"/widget/v1/agents/{demo.public_id}"
    status, opened = demo.running.api("POST", f"{path}/session", {}, headers=headers)
    assert status == 200, opened
    status, asked = demo.running.api("POST", f"{path}/messages", {"text": "Where do visitors park?"},
                                     headers={**headers, "Authorization": f"Bearer {opened['token']}"})
    assert status == 200, asked
    return opened["conversation"]["id"]


def test_over_https_ask_continues_only_the_callers_own_conversation(served):
    ask = f"{served.base}/agents/{served.agent_id}/ask"
    status, created = served.running.api("POST", f"{served.base}/api-keys", {"name": "Bot", "scopes": ["chat"]},
                                         token=served.token)
    assert status == 201, created
    key = created["key"]
    _, mine = served.running.api("POST", ask, {"question": "Where do visitors park?"}, token=served.token)
    _, keys = served.running.api("POST", ask, {"question": "Where do visitors park?"}, token=key)
    visitors = _widget_conversation(served)

    def follow_up(token: str, conversation_id: str) -> int:
        return served.running.api("POST", ask, {"question": "And staff?", "conversation_id": conversation_id},
                                  token=token)[0]

    assert [follow_up(key, c) for c in (visitors, mine["conversation_id"], keys["conversation_id"])] == [404, 404, 200]
    assert [follow_up(served.token, c) for c in (visitors, keys["conversation_id"], mine["conversation_id"])] == [
        404, 404, 200]
    status, transcript = served.running.api("GET", f"{served.base}/conversations/{visitors}", token=served.token)
    assert status == 200 and [m["role"] for m in transcript["conversation"]["messages"]] == ["visitor", "agent"]


def test_over_https_the_generator_reaches_only_a_listed_port_and_never_a_name_that_resolves_to_loopback(served):
    port = urlsplit(served.llm.url).port
    agent = f"{served.base}/agents/{served.agent_id}"

    def answer_with(url: str) -> str:
        status, body = served.running.api("PATCH", agent, {"generator": {"url": url, "timeout_seconds": 5}},
                                          token=served.token)
        assert status == 200, body
        status, body = served.running.api("POST", f"{agent}/ask", {"question": "Where do visitors park?"},
                                          token=served.token)
        assert status == 200, body
        return body["method"]

    served.llm.requests.clear()
    assert answer_with(f"http://localhost:{port}/v1") == "extractive"     # listed, but resolves to loopback
    assert answer_with(f"http://127.0.0.1:{port + 1}/v1") == "extractive"  # an address listed on another port
    assert answer_with("http://127.0.0.1/v1") == "extractive"             # no port listed for 80
    assert served.llm.requests == []
    assert answer_with(f"http://127.0.0.1:{port}/v1") == "generated"
    assert len(served.llm.requests) == 1
    refusals = [e for e in served.running.log_entries() if "answer generator at" in e.get("msg", "")]
    assert any("resolves to 127.0.0.1" in e["msg"] for e in refusals)
    assert any(f"127.0.0.1:{port + 1} is not on the egress allow-list" in e["msg"] for e in refusals)


def test_every_change_to_agents_and_sources_is_audited_by_who_and_what_never_content(api, services):
    workspace_id = api.workspace.rsplit("/", 1)[1]
    agent = api.post(f"{api.workspace}/agents", json={"name": "Help desk"}).get_json()["agent"]
    assert api.patch(f"{api.workspace}/agents/{agent['id']}",
                     json={"instructions": "Answer from the handbook only.", "confidence_threshold": 0.4,
                           "name": "Help desk"}).status_code == 200
    text = api.post(f"{api.workspace}/sources", json={"kind": "text", "title": "Leave",
                                                      "text": "Staff get 28 days of leave."}).get_json()["source"]
    qa = api.post(f"{api.workspace}/sources", json={"kind": "qa", "title": "FAQ", "pairs": [
        {"question": "Where is parking?", "answer": "Behind building B."}]}).get_json()["source"]
    filed = upload(api, "handbook.md", b"# Expenses\n\nClaim within 30 days.\n").get_json()["source"]
    assert services.knowledge.wait_idle(30)
    assert api.patch(f"{api.workspace}/sources/{qa['id']}", json={"pairs": [
        {"question": "Where is parking?", "answer": "Behind building B."},
        {"question": "Is there a canteen?", "answer": "On the ground floor."}]}).status_code == 202
    assert api.post(f"{api.workspace}/sources/{filed['id']}/refresh").status_code == 202
    assert services.knowledge.wait_idle(30)
    assert api.delete(f"{api.workspace}/sources/{text['id']}").status_code == 204
    assert api.delete(f"{api.workspace}/agents/{agent['id']}").status_code == 204

    rows = [e for e in services.audit.events(workspace_id=workspace_id, limit=1000)
            if e.action.startswith(("agent.", "source."))]
    seen = [(e.action, e.target_id) for e in rows]
    assert seen == [("agent.create", agent["id"]), ("agent.update", agent["id"]), ("source.add", text["id"]),
                    ("source.add", qa["id"]), ("source.add", filed["id"]), ("source.update", qa["id"]),
                    ("source.refresh", filed["id"]), ("source.delete", text["id"]), ("agent.delete", agent["id"])]
    by_action = {e.action: e for e in rows}
    assert all(e.actor_type == "user" and e.actor_id for e in rows)
    # Only the settings that changed, by name (the unchanged name is not one of them); counts, never what was written.
    assert by_action["agent.update"].details == {"fields": ["confidence_threshold", "instructions"]}
    assert by_action["source.update"].details["pairs"] == 2
    written = " ".join(str(e.details) for e in rows)
    assert "28 days" not in written and "building B" not in written and "handbook only" not in written


def test_me_tells_a_client_the_upload_limit_and_the_hosts_it_may_crawl(api):
    appliance = api.get("/api/v1/me").get_json()["appliance"]
    assert appliance["max_upload_bytes"] == UPLOAD_LIMIT and appliance["crawl_allowed_hosts"] == ["127.0.0.1"]


def test_answers_added_one_pair_at_a_time_are_all_kept_and_a_question_asked_again_is_answered_anew(api, services):
    """What the panel's "Answer this" sends: each pair added in one step on the appliance, so two admins answering
    at once both keep theirs (a read-modify-write in the client would lose one)."""
    import threading

    qa = api.post(f"{api.workspace}/sources", json={"kind": "qa", "title": "Answers", "pairs": [
        {"question": "Where is parking?", "answer": "Behind building B."}]}).get_json()["source"]
    questions = [f"Question number {n}?" for n in range(8)]
    answers = []

    def answer(question: str) -> None:
        client = api.application.test_client()
        client.environ_base.update(api.environ_base)
        answers.append(client.post(f"{api.workspace}/sources/{qa['id']}/pairs",
                                   json={"question": question, "answer": f"Answer to {question}"}).status_code)

    threads = [threading.Thread(target=answer, args=(q,)) for q in questions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [202] * len(questions)
    again = api.post(f"{api.workspace}/sources/{qa['id']}/pairs",
                     json={"question": "  where IS parking? ", "answer": "In the north garage now."})
    assert again.status_code == 202 and again.get_json()["pairs"] == len(questions) + 1
    pairs = json.loads(api.get(f"{api.workspace}/sources/{qa['id']}/original").data)
    assert {q for q, _ in pairs} == {"where IS parking?", *questions}
    assert dict(pairs)["where IS parking?"] == "In the north garage now."
    text = api.post(f"{api.workspace}/sources", json={"kind": "text", "title": "T", "text": "x y z"}).get_json()
    assert api.post(f"{api.workspace}/sources/{text['source']['id']}/pairs",
                    json={"question": "a?", "answer": "b"}).status_code == 400
    assert services.knowledge.wait_idle(30)
