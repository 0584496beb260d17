"""Agents answering from their own workspace: Q&A verbatim, cited extractive replies that keep to the question's
topic, confidence, the fallback that names what was asked, follow-ups."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from urllib.parse import urlsplit

import pytest

from appliance.agent.agents import AgentService
from appliance.agent.answer import Answerer, quote
from appliance.conversations.chat import ConversationService
from appliance.knowledge.extract import Limits
from appliance.knowledge.retrieval import Retriever
from appliance.knowledge.search import Hit, content_hash
from appliance.knowledge.sources import SourceService
from appliance.turns import Turns
from server.cli.demo import SUGGESTED, demo_content_dir

HANDBOOK = """# Travel policy

## Booking

Employees book business travel through the travel desk at least 14 days before departure. Economy class is the
default for flights under six hours.

## Expenses

Submit travel expenses within 30 days of returning, with receipts attached. Reimbursement reaches your bank account
within 10 working days of approval. Meals are covered up to 60 euros a day.

# Parking

Staff parking is on level B2 of the north garage. Visitors park on level B1 and register at reception.
"""


class Workspace:
    def __init__(self, appliance, clock, workspace_id: str, agent: dict | None = None) -> None:
        self.db = appliance.workspaces.create(workspace_id)
        self.sources = SourceService(self.db, clock=clock, limits=Limits(), max_workspace_bytes=10**8)
        self.agents = AgentService(self.db, clock=clock)
        self.agent = self.agents.create(agent or {"name": "Helpdesk", "fallback_text": "I don't know that yet."})
        self.answerer = Answerer(self.db, retriever=Retriever(self.db))
        self.conversations = ConversationService(self.db, clock=clock, answerer=self.answerer)

    def teach(self, title: str, text: str):
        source = self.sources.add_text(title=title, text=text)
        indexed = self.sources.index(source.id)
        assert indexed.status == "ready", indexed.error
        return indexed

    def ask(self, question: str, **kwargs):
        return self.answerer.answer(self.agent.profile, question, **kwargs)

    def configure(self, **changes) -> None:
        self.agent = self.agents.update(self.agent.id, changes)


@pytest.fixture
def workspace(appliance, clock):
    space = Workspace(appliance, clock, "acme")
    space.teach("Employee handbook", HANDBOOK)
    return space


@pytest.fixture
def demo(appliance, clock):
    """What `chatspark demo create` makes: the shipped handbook, and an agent with the demo's suggested questions that
    keeps the default fallback."""
    space = Workspace(appliance, clock, "demo", agent={"name": "Northwind helper", "suggested_questions": SUGGESTED})
    for path in sorted(demo_content_dir().glob("*.md")):
        source = space.sources.add_file(filename=path.name, data=path.read_bytes(), media_type="text/markdown")
        assert space.sources.index(source.id).status == "ready"
    return space


def sections(reply) -> list[str]:
    return [c.heading_path.rsplit(" > ", 1)[-1] for c in reply.citations]


def test_qa_pair_answers_verbatim(workspace):
    source = workspace.sources.add_qa(title="IT FAQ", pairs=[("How do I reset my VPN password?",
                                                              "Open https://vpn.example/reset and follow the steps.")])
    workspace.sources.index(source.id)

    reply = workspace.ask("how can I reset the VPN password")

    assert reply.method == "qa" and reply.answered
    assert reply.text == "Open https://vpn.example/reset and follow the steps."
    assert reply.citations[0].title == "IT FAQ"


def test_extractive_reply_quotes_the_answering_sentences_and_cites_the_passage(workspace):
    reply = workspace.ask("How long does reimbursement of travel expenses take?")

    assert reply.answered and reply.method == "extractive"
    assert "within 10 working days of approval" in reply.text
    assert "parking" not in reply.text.lower()
    assert reply.confidence >= workspace.agent.confidence_threshold
    [citation] = reply.citations
    assert citation.title == "Employee handbook"
    assert citation.heading_path == "Travel policy > Expenses"
    assert "Reimbursement" in citation.passage


def test_question_outside_the_content_gets_the_fallback_and_the_lead_form(workspace):
    reply = workspace.ask("What is the capital of Australia?")

    assert not reply.answered and reply.method == "fallback"
    assert reply.text == "I couldn't find anything about “capital of Australia” in what I know. I don't know that yet."
    assert reply.offer_lead_form and reply.citations == []


def test_an_operators_own_fallback_is_said_whole_between_what_was_asked_and_the_suggested_questions(workspace):
    workspace.configure(suggested_questions=["When must I submit travel expenses?", "Where is staff parking?"])

    reply = workspace.ask("Is there a taxi rank?")

    assert reply.method == "fallback" and reply.offer_lead_form
    assert reply.text == ("I couldn't find anything about “taxi rank” in what I know. I don't know that yet. "
                          "I can help with questions such as “When must I submit travel expenses?” or "
                          "“Where is staff parking?”")


def test_the_demo_agents_fallback_names_what_was_asked_and_what_it_can_help_with(demo):
    taxi = demo.ask("Where can I get a taxi?")
    bread = demo.ask("How do I bake bread?")

    assert taxi.method == "fallback" and not taxi.answered and taxi.offer_lead_form and taxi.citations == []
    assert taxi.text == ("I couldn't find anything about “taxi” in what I know. I can help with questions such as "
                         "“How many days of leave do I get?”, “Where do visitors park?” or “How do I reach the IT help "
                         "desk?” Leave your details below and a colleague will get back to you.")
    assert bread.text.startswith("I couldn't find anything about “bake bread” in what I know.")


def test_without_the_lead_form_or_suggestions_the_built_in_fallback_asks_for_other_words(demo):
    demo.configure(lead_capture="off", suggested_questions=[])

    reply = demo.ask("Where can I get a taxi?")

    assert reply.method == "fallback" and not reply.offer_lead_form
    assert reply.text == "I couldn't find anything about “taxi” in what I know. Try asking in other words."


@pytest.mark.parametrize("question", [
    '<img src=x onerror="alert(1)"> parking fines',
    "What is at https://evil.example/login now?",
    "Write to boss@evil.example about the canteen",
    "Could you summarise every single rule about bringing large dogs into offices?",
])
def test_the_fallback_never_repeats_markup_an_address_or_a_long_question(demo, question):
    reply = demo.ask(question)

    assert reply.method == "fallback"
    assert reply.text.startswith("I couldn't find an answer to that in what I know. I can help with questions such as")
    for echoed in ("<", "onerror", "evil", "summarise", "dogs"):
        assert echoed not in reply.text


def test_a_question_with_a_word_the_content_never_uses_is_answered_from_the_passage_that_matches_the_rest(demo):
    car = demo.ask("Where do I park my car?")
    staff = demo.ask("Where is staff parking?")

    assert car.answered and car.method == "extractive" and "level B2 of the north garage" in car.text
    assert sections(car) == sections(staff) == ["Office"]


@pytest.mark.parametrize("question", ["What is the capital of France?", "How do I bake bread?",
                                      "Who is the CEO of Northwind?", "Can I bring my dog to the office?",
                                      "How many days off do I get?"])
def test_questions_the_demo_content_does_not_answer_fall_back(demo, question):
    reply = demo.ask(question)

    assert not reply.answered and reply.method == "fallback" and reply.citations == []


def test_the_leave_answer_on_the_demo_cites_leave_only_even_after_a_question_on_expenses(demo):
    alone = demo.ask("How many days of leave do I get?")
    after_expenses = demo.ask("How much leave do I get?", history=["How do I submit expenses?"])
    approvals = demo.ask("Who approves leave requests?")

    assert "28 days of paid leave" in alone.text and "28 days of paid leave" in after_expenses.text
    assert "Request leave in the HR portal" in approvals.text
    for reply in (alone, after_expenses, approvals):
        assert reply.answered and sections(reply) == ["Leave"] and "expenses" not in reply.text.lower()


def test_a_section_longer_than_a_passage_is_quoted_on_where_the_answer_goes_on(workspace):
    rules = " ".join(f"Rule {n} of the house order applies on every floor of the building." for n in range(1, 13))
    workspace.teach("Night work", f"# Night shift\n\nThe night shift starts at 22:00; sign in at the gate. {rules}\n\n"
                                  f"{rules} Night shift staff find the rota at the security desk.\n")

    reply = workspace.ask("When does the night shift start, where do I sign in, and where is the rota?")

    assert reply.text == ("The night shift starts at 22:00; sign in at the gate. "
                          "Night shift staff find the rota at the security desk.")
    assert sections(reply) == ["Night shift", "Night shift"]


def passage(chunk_id: int, heading: str, text: str, source: str = "handbook") -> Hit:
    return Hit(chunk_id, source, "Handbook", heading, None, text, content_hash(text), 1.0)


def test_a_source_is_quoted_one_section_at_a_time_unless_its_best_section_runs_out():
    annual = passage(1, "Annual leave", "Request annual leave in the portal. Annual leave is 28 days. Leave carries "
                                        "over.")
    parental = passage(2, "Parental leave", "Request parental leave from HR. Parental leave lasts 16 weeks.")
    other = passage(3, "Leave", "Request leave from your manager.", source="intranet")
    weights = {"request": 1.0, "leave": 1.0}

    three = quote([annual, parental, other], [0, 1, 2], weights, 3)
    five = quote([annual, parental, other], [0, 1, 2], weights, 5)

    assert [(rank, position) for rank, position, _ in three] == [(0, 0), (0, 1), (2, 0)]
    assert [(rank, position) for rank, position, _ in five] == [(0, 0), (0, 1), (0, 2), (1, 0), (2, 0)]


def test_answer_length_bounds_the_number_of_sentences(workspace):
    workspace.agents.update(workspace.agent.id, {"answer_length": "short"})
    short = workspace.agents.get(workspace.agent.id).profile

    reply = workspace.answerer.answer(short, "travel expenses receipts reimbursement meals")

    assert reply.answered and 1 <= reply.text.count(".") <= 2


def test_a_sentence_repeated_in_the_content_is_said_once(workspace):
    notice = "The badge office is open from 22:00 to 06:00 in building C."
    workspace.teach("Night shift", "\n\n".join(f"# Night shift {n}\n\n{notice}\n\nSee the {n} rota for who is on "
                                                "duty." for n in ("first", "second", "third")))

    reply = workspace.ask("When is the badge office open at night?")

    assert reply.answered and reply.text.count("badge office is open") == 1
    assert reply.text.startswith(notice)


def test_follow_up_question_is_read_with_the_one_before(workspace):
    alone = workspace.ask("and how long does that take?")
    follow_up = workspace.ask("and how long does that take?", history=["How is reimbursement of expenses done?"])

    assert not alone.answered
    assert follow_up.answered and "10 working days" in follow_up.text


def test_a_question_with_a_subject_of_its_own_is_not_answered_from_the_one_before(workspace):
    mongolia = workspace.ask("What is the capital of Mongolia?", history=["How is reimbursement of expenses done?"])
    berlin = workspace.ask("And in Berlin?", history=["Where is staff parking?"])
    meals = workspace.ask("What about meals?", history=["Where is staff parking?"])

    assert not mongolia.answered and not berlin.answered
    assert meals.answered and "60 euros" in meals.text and "parking" not in meals.text.lower()


def test_each_reply_records_the_passages_it_used_with_their_hash(workspace):
    exchange = workspace.conversations.ask(workspace.agent, "When must I submit travel expenses?")

    rows = workspace.db.query("SELECT chunk_id, content_hash FROM message_sources WHERE message_id = ?",
                              (exchange.message_id,))
    assert rows and rows[0]["chunk_id"] == exchange.reply.citations[0].chunk_id
    stored = workspace.db.query_one("SELECT text FROM chunks WHERE id = ?", (rows[0]["chunk_id"],))["text"]
    assert rows[0]["content_hash"] == content_hash(stored)
    follow = workspace.conversations.ask(workspace.agent, "and what about meals?",
                                         conversation_id=exchange.conversation_id)
    assert follow.conversation_id == exchange.conversation_id
    assert "60 euros" in follow.reply.text


def test_deleting_a_source_removes_its_passages_from_answers_at_once(workspace):
    source = workspace.teach("Canteen", "The canteen serves lunch from 11:30 to 14:00 on weekdays.")
    assert workspace.ask("When does the canteen serve lunch?").answered

    workspace.sources.delete(source.id)

    assert not workspace.ask("When does the canteen serve lunch?").answered
    assert workspace.db.query_one("SELECT count(*) FROM chunks WHERE source_id = ?", (source.id,))[0] == 0
    assert workspace.db.query_one("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'canteen'")[0] == 0


def test_a_failed_source_harms_nothing_else(workspace):
    broken = workspace.sources.add_file(filename="notes.txt", data=b"\x00\x01\x02binary\xff\xfe" * 200)

    failed = workspace.sources.index(broken.id)

    assert failed.status == "failed" and failed.error
    assert workspace.ask("How long does reimbursement of travel expenses take?").answered
    assert workspace.sources.get(broken.id).chunk_count == 0


def test_an_agent_never_retrieves_another_workspaces_content(appliance, clock):
    north = Workspace(appliance, clock, "north")
    south = Workspace(appliance, clock, "south")
    north.teach("Office hours", "The office opens at 7:00 every weekday morning.")
    south.teach("Office hours", "The office opens at 10:00 every weekday morning.")

    north_reply = north.ask("When does the office open?")
    south_reply = south.ask("When does the office open?")

    assert "7:00" in north_reply.text and "10:00" not in north_reply.text
    assert "10:00" in south_reply.text and "7:00" not in south_reply.text
    # The files are apart and under different keys: one workspace's key cannot even read the other's file.
    assert north.db.path != south.db.path


def test_agent_with_an_allowed_generator_words_the_reply_from_its_passages(workspace):
    from tests.appliance.knowledge.fake_llm import Scripted, completion, running_llm

    with running_llm() as llm:
        llm.reply = completion("Reimbursement arrives within 10 working days of approval [1].")
        workspace.agents.update(workspace.agent.id, {"generator": {"url": llm.url, "model": "local",
                                                                   "timeout_seconds": 2}})
        profile = workspace.agents.get(workspace.agent.id).profile
        allowed = Answerer(workspace.db, retriever=Retriever(workspace.db),
                           egress_allowed_hosts=frozenset({f"127.0.0.1:{urlsplit(llm.url).port}"}))
        reply = allowed.answer(profile, "How long does reimbursement of travel expenses take?")
        assert reply.method == "generated" and reply.text.startswith("Reimbursement arrives")
        [request] = llm.requests
        prompt = json.dumps(request.json())
        assert "10 working days" in prompt and "north garage" not in prompt

        llm.reply = Scripted(b"upstream broke", status=500)
        fallback = allowed.answer(profile, "How long does reimbursement of travel expenses take?")
        assert fallback.method == "extractive" and "10 working days" in fallback.text

        not_allowed = workspace.answerer.answer(profile, "How long does reimbursement of travel expenses take?")
        assert not_allowed.method == "extractive" and len(llm.requests) == 2


def test_a_reply_waiting_on_its_model_gives_its_turn_to_other_replies(workspace, clock):
    """With one reply computed at a time, a slow model does not hold up the replies of agents without one."""
    from tests.appliance.knowledge.fake_llm import completion, running_llm

    turns = Turns(1)
    with running_llm() as llm:
        llm.reply = dataclasses.replace(completion("Reimbursement arrives within 10 working days [1]."),
                                        delay_seconds=30)
        worded = workspace.agents.create({"name": "Worded", "generator": {"url": llm.url, "model": "local",
                                                                           "timeout_seconds": 30}})
        answerer = Answerer(workspace.db, retriever=Retriever(workspace.db), turns=turns,
                            egress_allowed_hosts=frozenset({f"127.0.0.1:{urlsplit(llm.url).port}"}))
        chat = ConversationService(workspace.db, clock=clock, answerer=answerer)
        slow: list = []
        waiting = threading.Thread(target=lambda: slow.append(
            chat.ask(worded, "How long does reimbursement of travel expenses take?")))
        waiting.start()
        deadline = time.monotonic() + 10
        while not llm.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert llm.requests, "the model was never asked"

        quick = chat.ask(workspace.agent, "Where is staff parking?")  # while the other waits on its model
        assert quick.reply.method == "extractive" and "B2" in quick.reply.text and not slow

        llm.released.set()
        waiting.join(10)
        assert [exchange.reply.method for exchange in slow] == ["generated"] and not turns.held_here()


def test_the_messages_an_exchange_hands_back_are_those_read_back_for_every_kind_of_reply(workspace):
    """The widget shows what `ask` hands back without reading it again: it must be what a reload reads."""
    source = workspace.sources.add_qa(title="IT FAQ", pairs=[("How do I reset my VPN password?",
                                                              "Open https://vpn.example/reset and follow the steps.")])
    workspace.sources.index(source.id)
    workspace.configure(lead_capture="on_fallback")
    conversation_id, methods = None, []
    for question in ("How do I reset my VPN password?", "Where is staff parking?", "And for visitors?",
                     "What is the capital of France?", "Can I talk to a person?"):
        exchange = workspace.conversations.ask(workspace.agent, question, conversation_id=conversation_id)
        conversation_id = exchange.conversation_id
        read_back = workspace.conversations.messages(conversation_id, since_id=exchange.visitor_message_id - 1)
        assert list(exchange.messages()) == read_back
        methods.append(exchange.reply.method)
    assert methods == ["qa", "extractive", "extractive", "fallback", "handoff"]
