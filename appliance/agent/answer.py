"""Answering a visitor's question from the workspace's own content: Q&A pairs verbatim, else the sentences of the
best passages that answer it, cited; below the agent's confidence threshold, its fallback text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from appliance.agent.generator import Generator, GeneratorConfig, GeneratorUnavailable
from appliance.knowledge import search
from appliance.knowledge.chunking import sentences
from appliance.knowledge.retrieval import Retriever
from appliance.storage.database import Database

SENTENCES_BY_LENGTH = {"short": 2, "medium": 3, "long": 5}
RELEVANT_SHARE = 0.5    # a sentence joins the reply if it scores at least this share of the best sentence
QA_MATCH = 0.6          # term-overlap F1 at which a Q&A pair's question counts as the same question
# Words that shape a question more than its subject: they count little towards confidence.
GENERIC = frozenset("""long take takes taking took done make makes made need needs want wants like way ways use used
using find found give gives happen happens mean means possible able work works thing things kind sort best good better
time times much many often anything something someone anyone everyone""".split())
_ANAPHORA = {"it", "that", "this", "they", "them", "those", "these", "there", "he", "she", "its", "their"}
HANDOFF_TEXT = "Of course. Leave your details below and a colleague will get back to you."
# "Can I talk to a person?", "I want to speak with someone", "contact me", "call me back", "human please"
_WANTS_PERSON = re.compile(
    r"\b(talk|speak|chat|connect|put)\b.{0,30}\b(human|person|someone|somebody|agent|representative|staff|"
    r"colleague|people|team|sales|support)\b|\b(contact|call|email|ring)\s+me\b|\breal\s+person\b|"
    r"^\s*(a\s+)?(human|person|representative|agent)(\s+please)?\s*[.!?]*\s*$",
    re.IGNORECASE)


@dataclass(frozen=True)
class Citation:
    source_id: str
    title: str
    url: str | None
    heading_path: str
    passage: str
    content_hash: str
    chunk_id: int | None = None
    qa_id: int | None = None


@dataclass(frozen=True)
class Reply:
    text: str
    answered: bool
    confidence: float
    method: str                       # qa, extractive, generated, fallback, handoff
    citations: list[Citation] = field(default_factory=list)
    offer_lead_form: bool = False


@dataclass(frozen=True)
class AgentProfile:
    """What answering needs to know of an agent."""

    fallback_text: str
    confidence_threshold: float = 0.45
    answer_length: str = "medium"
    lead_capture: str = "on_fallback"
    instructions: str = ""
    generator: GeneratorConfig | None = None


def _overlap_f1(a: list[str], b: list[str]) -> float:
    sa, sb = {search.stem(w) for w in a}, {search.stem(w) for w in b}
    if not sa or not sb:
        return 0.0
    common = len(sa & sb)
    if not common:
        return 0.0
    precision, recall = common / len(sb), common / len(sa)
    return 2 * precision * recall / (precision + recall)


def wants_person(question: str) -> bool:
    """Whether the visitor asks to be put in touch with a person rather than asking about the content."""
    return bool(_WANTS_PERSON.search(question))


def is_follow_up(question: str) -> bool:
    words = [w.lower() for w in search.WORD.findall(question)]
    return len(search.terms(question)) <= 2 or any(w in _ANAPHORA for w in words)


class Answerer:
    def __init__(self, db: Database, *, retriever: Retriever,
                 egress_allowed_hosts: frozenset[str] = frozenset()) -> None:
        self._db = db
        self._retriever = retriever
        self._egress_allowed_hosts = egress_allowed_hosts

    def answer(self, agent: AgentProfile, question: str, *, history: list[str] | None = None) -> Reply:
        """Reply to `question`; `history` holds the visitor's earlier questions, oldest first."""
        question = " ".join(question.split())
        if agent.lead_capture != "off" and wants_person(question):
            return Reply(HANDOFF_TEXT, False, 0.0, "handoff", [], offer_lead_form=True)
        qa = self._qa_reply(question)
        if qa is not None:
            return qa
        best = self._extractive(agent, question, question)
        if history and is_follow_up(question):
            # "And how long does that take?": read it together with the question it follows.
            combined = self._extractive(agent, f"{history[-1]} {question}", question)
            if combined.confidence > best.confidence:
                best = combined
        if best.confidence < agent.confidence_threshold or not best.text:
            return Reply(agent.fallback_text, False, best.confidence, "fallback", [],
                         offer_lead_form=agent.lead_capture != "off")
        return self._generated(agent, question, history or [], best) or Reply(
            best.text, True, best.confidence, "extractive", best.citations,
            offer_lead_form=agent.lead_capture == "always")

    def _generated(self, agent: AgentProfile, question: str, history: list[str], best: Reply) -> Reply | None:
        """The agent's model wording the passages the extractive answer found; None keeps the extractive answer."""
        if agent.generator is None or not best.citations:
            return None
        passages = [(f"{c.title} > {c.heading_path}" if c.heading_path else c.title, c.passage)
                    for c in best.citations]
        try:
            text = Generator(agent.generator, allowed_hosts=self._egress_allowed_hosts).generate(
                question=question, passages=passages, instructions=agent.instructions, history=history)
        except GeneratorUnavailable:
            return None  # logged with host and reason; the extractive answer stands
        return Reply(text, True, best.confidence, "generated", best.citations,
                     offer_lead_form=agent.lead_capture == "always")

    def _qa_reply(self, question: str) -> Reply | None:
        words = search.terms(question)
        for hit in search.search_qa(self._db, question, limit=3):
            score = _overlap_f1(words, search.terms(hit.question))
            if score >= QA_MATCH:
                source = self._db.query_one("SELECT title FROM sources WHERE id = ?", (hit.source_id,))
                citation = Citation(hit.source_id, source["title"] if source else hit.question, None, "",
                                    f"Q: {hit.question}\nA: {hit.answer}", search.content_hash(hit.answer),
                                    qa_id=hit.qa_id)
                return Reply(hit.answer, True, round(score, 3), "qa", [citation])
        return None

    def _extractive(self, agent: AgentProfile, query: str, question: str) -> Reply:
        hits = self._retriever.retrieve(query, limit=5)
        if not hits:
            return Reply("", False, 0.0, "fallback")
        words = search.terms(query)
        stats = search.TermStatistics(self._db)
        weights = {w: stats.idf(w) * (0.2 if w in GENERIC else 1.0) for w in words}
        total = sum(weights.values()) or 1.0
        covered = sum(weight for w, weight in weights.items() if stats.contains(hits[0].chunk_id, w))
        confidence = covered / total
        stems = {search.stem(w): weights[w] for w in words}
        scored = []
        for rank, hit in enumerate(hits[:3]):
            for position, sentence in enumerate(sentences(hit.text)):
                found = {search.stem(w) for w in search.terms(sentence)}
                score = sum(weight for stem, weight in stems.items() if stem in found)
                if score > 0:
                    # Prefer the best passage, and earlier sentences within a passage, when scores tie.
                    scored.append((score * (1.0 - 0.15 * rank), -rank, -position, rank, position, sentence))
        if not scored:
            return Reply("", False, confidence * 0.5, "fallback")
        count = SENTENCES_BY_LENGTH.get(agent.answer_length, 3)
        ranked = sorted(scored, reverse=True)
        chosen, seen = [], set()
        for item in ranked:
            # Sentences far weaker than the best one are padding, not answer.
            if len(chosen) == count or item[0] < ranked[0][0] * RELEVANT_SHARE:
                break
            # A notice repeated on every page of a site, or in every section, is said once.
            said = " ".join(item[5].casefold().split())
            if said not in seen:
                seen.add(said)
                chosen.append(item)
        chosen.sort(key=lambda item: (item[3], item[4]))
        used = sorted({item[3] for item in chosen})
        citations = [Citation(hits[r].source_id, hits[r].title, hits[r].url, hits[r].heading_path, hits[r].text,
                              hits[r].content_hash, chunk_id=hits[r].chunk_id) for r in used]
        return Reply(" ".join(item[5] for item in chosen), True, round(confidence, 3), "extractive", citations)
