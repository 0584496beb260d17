"""The Playground, end to end: a question the training text answers shows the cited reply with its method and
confidence, kept as one conversation with its follow-up; a question nothing answers falls back, and "Answer this…"
makes it a Q&A pair that, once live, answers the same question word for word; a viewer asks but cannot answer; an
empty workspace says where agents are made; the window keeps ticking while the agent answers."""

from __future__ import annotations

import json

from gui.views.playground import PlaygroundPage
from gui.views.written_answers import PANEL_SOURCE, AnswerDialog
from tests.gui.driving import (
    PASSWORD,
    WAIT_MS,
    join,
    new_workspace,
    open_dialog,
    open_page,
    signed_in_window,
    unique,
)
from tests.gui.test_responsiveness import MAX_GAP_S, Ticks

PARKING = ("Staff park on level B2 of the north garage, with the badge they were given on their first day. "
           "Visitors park in the south lot, which is free for the first two hours.")
GIFT_CARDS = "Do you sell gift cards?"


def _trained_workspace(qtbot, served, token: str) -> tuple[str, dict]:
    """A workspace with a ready text source about parking and an agent; its id and the agent."""
    workspace = new_workspace(served, "Playground")["id"]
    base = f"/api/v1/workspaces/{workspace}"
    status, made = served.api("POST", f"{base}/sources", {"kind": "text", "title": "Parking guide", "text": PARKING},
                              token=token)
    assert status == 202, made
    status, agent = served.api("POST", f"{base}/agents", {
        "name": unique("Front desk"), "welcome_message": "Hello! Ask me about parking.",
        "suggested_questions": ["Where do staff park?"]}, token=token)
    assert status == 201, agent
    qtbot.waitUntil(lambda: _source(served, token, workspace, made["source"]["id"])["status"] == "ready",
                    timeout=WAIT_MS)
    return workspace, agent["agent"]


def _source(served, token: str, workspace: str, source_id: str) -> dict:
    status, body = served.api("GET", f"/api/v1/workspaces/{workspace}/sources/{source_id}", token=token)
    assert status == 200, body
    return body["source"]


def _page(qtbot, window, workspace: str) -> PlaygroundPage:
    return open_page(qtbot, window, f"playground:{workspace}", ready=lambda p: p.agent() is not None)


def _ask(qtbot, page: PlaygroundPage, question: str) -> dict:
    """Type the question, press Ask, and wait for the reply; the reply as the API gave it."""
    before = len(page.transcript.replies())
    page.question.setText(question)
    page.ask_button.click()
    qtbot.waitUntil(lambda: len(page.transcript.replies()) == before + 1, timeout=WAIT_MS)
    return page.transcript.replies()[-1].reply


def test_a_question_the_text_answers_shows_the_cited_reply_and_its_follow_up_stays_in_the_conversation(
        qtbot, tmp_path, served):
    token = served.token()
    workspace, agent = _trained_workspace(qtbot, served, token)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)
    assert page.agent_choice.currentText() == agent["name"]
    assert "Hello! Ask me about parking." in page.transcript.placeholder.text()
    assert page.suggestions[0].text() == "Where do staff park?" and page.conversation_label.text() == "New conversation"

    page.suggestions[0].click()
    qtbot.waitUntil(lambda: len(page.transcript.replies()) == 1, timeout=WAIT_MS)
    first = page.transcript.replies()[0]
    assert first.reply["method"] == "extractive" and first.reply["answered"]
    assert "B2" in first.text.text()
    assert first.method.text() == "Method: extractive"
    assert first.confidence.text() == f"Confidence: {first.reply['confidence']:.2f} (high)"
    assert first.answer_button is None  # only a fallback can be answered
    assert "Parking guide" in first.citations[0].title.text()
    assert "north garage" in first.citations[0].passage.text()
    assert not page.suggestions[0].isVisible()  # suggestions start a conversation, they do not interrupt one

    follow_up = _ask(qtbot, page, "Where do visitors park?")
    assert follow_up["conversation_id"] == first.reply["conversation_id"] == page.conversation_id
    assert "south lot" in follow_up["reply"]
    assert page.conversation_label.text() == f"Conversation {page.conversation_id[:8]}… · 2 questions"

    status, body = served.api("GET", f"/api/v1/workspaces/{workspace}/conversations/{page.conversation_id}",
                              token=token)
    assert status == 200, body
    conversation = body["conversation"]
    assert conversation["agent_id"] == agent["id"] and conversation["channel"] == "api"
    assert [(m["role"], m["text"]) for m in conversation["messages"]] == [
        ("visitor", "Where do staff park?"), ("agent", first.reply["reply"]),
        ("visitor", "Where do visitors park?"), ("agent", follow_up["reply"])]
    replies = [m for m in conversation["messages"] if m["role"] == "agent"]
    assert [m["method"] for m in replies] == ["extractive", follow_up["method"]]
    assert replies[0]["confidence"] == first.reply["confidence"]
    assert replies[0]["sources"][0]["title"] == "Parking guide"

    earlier = page.conversation_id
    page.new_conversation_action()
    assert page.conversation_id is None and not page.transcript.messages()
    again = _ask(qtbot, page, "Where do staff park?")
    assert again["conversation_id"] != earlier and page.conversation_id == again["conversation_id"]
    assert page.conversation_label.text().endswith("· 1 question")


def test_answering_a_fallback_makes_a_qa_pair_that_answers_the_same_question_once_live(qtbot, tmp_path, served):
    token = served.token()
    workspace, _ = _trained_workspace(qtbot, served, token)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)

    fallback = _ask(qtbot, page, GIFT_CARDS)
    bubble = page.transcript.replies()[-1]
    assert fallback["method"] == "fallback" and not fallback["answered"]
    assert bubble.method.text() == "Method: fallback" and "(low)" in bubble.confidence.text()
    assert bubble.answer_button.isEnabled()
    bubble.answer_button.click()
    dialog = open_dialog(qtbot, page, AnswerDialog)
    assert dialog.question.text() == GIFT_CARDS
    dialog.submit.click()
    assert dialog.form.field_error("answer") == f"Write the answer {page.agent()['name']} should give."
    dialog.answer.setPlainText("Yes: gift cards of 25, 50 or 100 euros are sold at the front desk.")
    dialog.submit.click()
    qtbot.waitUntil(lambda: "The answer is live" in page.banner.label.text(), timeout=WAIT_MS)
    assert bubble.answer_button.text() == "Answer live" and not bubble.answer_button.isEnabled()

    status, listed = served.api("GET", f"/api/v1/workspaces/{workspace}/sources", token=token)
    assert status == 200, listed
    [source] = [s for s in listed["sources"] if s["kind"] == "qa"]
    assert source["title"] == PANEL_SOURCE and source["status"] == "ready"
    assert _pairs(served, token, workspace, source["id"]) == [
        [GIFT_CARDS, "Yes: gift cards of 25, 50 or 100 euros are sold at the front desk."]]

    answered = _ask(qtbot, page, GIFT_CARDS)
    assert answered["method"] == "qa" and answered["answered"]
    assert answered["reply"] == "Yes: gift cards of 25, 50 or 100 euros are sold at the front desk."
    assert page.transcript.replies()[-1].method.text() == "Method: Q&A"
    assert answered["sources"][0]["title"] == PANEL_SOURCE

    # A second answer joins the same source, next to the first.
    _ask(qtbot, page, "Is the building open on Sundays?")
    page.transcript.replies()[-1].answer_button.click()
    dialog = open_dialog(qtbot, page, AnswerDialog)
    dialog.answer.setPlainText("No, it is closed on Sundays and public holidays.")
    dialog.submit.click()
    qtbot.waitUntil(lambda: "“Is the building open on Sundays?” now gets" in page.banner.label.text(),
                    timeout=WAIT_MS)
    assert _pairs(served, token, workspace, source["id"]) == [
        [GIFT_CARDS, "Yes: gift cards of 25, 50 or 100 euros are sold at the front desk."],
        ["Is the building open on Sundays?", "No, it is closed on Sundays and public holidays."]]
    assert _ask(qtbot, page, "Is the building open on Sundays?")["method"] == "qa"


def _pairs(served, token: str, workspace: str, source_id: str) -> list[list[str]]:
    status, body = served.running.api("GET", f"/api/v1/workspaces/{workspace}/sources/{source_id}/original",
                                      token=token, headers={"Accept": "application/octet-stream"})
    assert status == 200, body
    return body if isinstance(body, list) else json.loads(body)


def test_a_viewer_can_ask_but_not_answer_a_fallback(qtbot, tmp_path, served):
    token = served.token()
    workspace, _ = _trained_workspace(qtbot, served, token)
    email, _ = join(qtbot, served, workspace, "viewer")
    window = signed_in_window(qtbot, tmp_path, served, email, PASSWORD)
    page = _page(qtbot, window, workspace)

    assert "B2" in _ask(qtbot, page, "Where do staff park?")["reply"]
    assert _ask(qtbot, page, GIFT_CARDS)["method"] == "fallback"
    button = page.transcript.replies()[-1].answer_button
    assert not button.isEnabled() and "editor or above" in button.toolTip()
    page.answer_action(GIFT_CARDS)
    assert page.answer_dialog is None
    status, listed = served.api("GET", f"/api/v1/workspaces/{workspace}/sources", token=token)
    assert status == 200 and [s["kind"] for s in listed["sources"]] == ["text"]


def test_a_workspace_without_agents_says_so_and_points_to_the_agents_screen(qtbot, tmp_path, served):
    workspace = new_workspace(served, "Empty playground")["id"]
    window = signed_in_window(qtbot, tmp_path, served)
    page = open_page(qtbot, window, f"playground:{workspace}", ready=lambda p: p.empty.isVisibleTo(p))

    assert page.empty.text().startswith("No agents in this workspace yet.")
    assert "Create the first agent on the Agents screen" in page.empty.text()
    assert page.transcript.isHidden()
    assert not page.question.isEnabled() and not page.ask_button.isEnabled()
    assert "no training data yet" in page.training_notice.label.text()
    page.ask_action("Anyone there?")
    assert window.context.background.pending == 0 and not page.transcript.messages()


def test_the_window_keeps_ticking_while_the_agent_answers(qtbot, tmp_path, served):
    token = served.token()
    workspace, _ = _trained_workspace(qtbot, served, token)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)

    with Ticks() as ticks:
        page.question.setText("Where do staff park?")
        page.ask_action()
        assert not page.ask_button.isEnabled()  # one question at a time
        qtbot.waitUntil(lambda: bool(page.transcript.replies()), timeout=WAIT_MS)

    assert page.ask_button.isEnabled() and page.question.text() == ""
    assert ticks.longest_gap <= MAX_GAP_S, f"the UI thread stalled for {ticks.longest_gap * 1000:.0f} ms"


def test_a_conversation_deleted_meanwhile_is_said_so_and_the_next_question_starts_another(qtbot, tmp_path, served):
    token = served.token()
    workspace, _ = _trained_workspace(qtbot, served, token)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)
    first = _ask(qtbot, page, "Where do staff park?")["conversation_id"]
    status, _ = served.api("DELETE", f"/api/v1/workspaces/{workspace}/conversations/{first}", token=token)
    assert status == 200

    page.question.setText("Where do visitors park?")
    page.ask_action()
    qtbot.waitUntil(lambda: page.banner.isVisible(), timeout=WAIT_MS)
    assert "no longer exists" in page.banner.label.text() and page.banner.kind == "error"
    assert "Not answered" in page.transcript.questions()[-1].status.text()
    assert page.question.text() == "Where do visitors park?"  # kept, to ask again as it was
    assert page.conversation_id is None

    page.ask_action()
    qtbot.waitUntil(lambda: len(page.transcript.replies()) == 2, timeout=WAIT_MS)
    again = page.transcript.replies()[-1].reply["conversation_id"]
    assert again != first
    status, body = served.api("GET", f"/api/v1/workspaces/{workspace}/conversations/{again}", token=token)
    assert status == 200 and [m["text"] for m in body["conversation"]["messages"]][0] == "Where do visitors park?"


def test_a_cancelled_workspace_shows_its_agents_but_asks_them_nothing(qtbot, tmp_path, served):
    token = served.token()
    workspace, agent = _trained_workspace(qtbot, served, token)
    assert served.api("POST", f"/api/v1/workspaces/{workspace}/cancel", token=token)[0] == 200
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)

    assert "cancelled and read-only" in page.read_only_notice.label.text() and page.read_only_notice.isVisible()
    assert page.agent_choice.currentText() == agent["name"]
    assert not page.question.isEnabled() and not page.ask_button.isEnabled()
    assert not any(button.isVisible() for button in page.suggestions)
    page.ask_action("Where do staff park?")
    assert window.context.background.pending == 0 and not page.transcript.messages()


def test_an_agent_deleted_meanwhile_is_said_so_and_leaves_the_choice(qtbot, tmp_path, served):
    token = served.token()
    workspace, agent = _trained_workspace(qtbot, served, token)
    window = signed_in_window(qtbot, tmp_path, served)
    page = _page(qtbot, window, workspace)
    assert served.api("DELETE", f"/api/v1/workspaces/{workspace}/agents/{agent['id']}", token=token)[0] == 204

    page.question.setText("Where do staff park?")
    page.ask_action()
    qtbot.waitUntil(lambda: page.empty.isVisibleTo(page), timeout=WAIT_MS)
    assert page.banner.isVisible() and page.banner.kind == "error" and agent["id"] in page.banner.label.text()
    assert page.agent_choice.count() == 0 and page.empty.text().startswith("No agents in this workspace yet.")
