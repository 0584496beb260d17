"""Answering a visitor's question from the workspace's own content: Q&A pairs verbatim, else the sentences of the
passages about it that answer it, cited; below the agent's confidence threshold, a fallback naming what was asked."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Collection

from appliance.agent.generator import Generator, GeneratorConfig, GeneratorUnavailable
from appliance.knowledge import search
from appliance.knowledge.chunking import sentences
from appliance.knowledge.retrieval import Retriever
from appliance.knowledge.search import Hit
from appliance.storage.database import Database
from appliance.turns import Turns

SENTENCES_BY_LENGTH = {"short": 2, "medium": 3, "long": 5}
RELEVANT_SHARE = 0.5    # a sentence joins the reply if it scores at least this share of the best sentence
QA_MATCH = 0.6          # term-overlap F1 at which a Q&A pair's question counts as the same question
QUOTED_PASSAGES = 5     # the best passages of the ranking that a reply is drawn from
# Words that shape a question more than its subject: they count little towards confidence.
GENERIC = frozenset("""long take takes taking took done make makes made need needs want wants like way ways use used
using find found give gives happen happens mean means possible able work works thing things kind sort best good better
time times much many often anything something someone anyone everyone get gets got getting know tell please could
would also one""".split())
_ANAPHORA = {"it", "that", "this", "they", "them", "those", "these", "there", "he", "she", "its", "their"}
HANDOFF_TEXT = "Of course. Leave your details below and a colleague will get back to you."
# "Can I talk to a person?", "I want to speak with someone", "contact me", "call me back", "human please"
_WANTS_PERSON = re.compile(
    r"\b(talk|speak|chat|connect|put)\b.{0,30}\b(human|person|someone|somebody|agent|representative|staff|"
    r"colleague|people|team|sales|support)\b|\b(contact|call|email|ring)\s+me\b|\breal\s+person\b|"
    r"^\s*(a\s+)?(human|person|representative|agent)(\s+please)?\s*[.!?]*\s*$",
    re.IGNORECASE)
# What a fallback says: what was not found, the operator's own text or the built-in lines, what the agent can help with.
NOT_FOUND_ABOUT = "I couldn't find anything about “{topic}” in what I know."
NOT_FOUND = "I couldn't find an answer to that in what I know."
CAN_HELP_WITH = "I can help with questions such as {questions}"
TRY_OTHER_WORDS = "Try asking in other words."
LEAVE_DETAILS = "Leave your details below and a colleague will get back to you."
SUGGESTIONS_SHOWN = 3
TOPIC_WORDS = 6         # a longer subject is not repeated back
# A question is repeated back only if it holds nothing but words and ordinary punctuation: no markup, no address.
_PLAIN_QUESTION = re.compile(r"[\w\s.,;:!?'’\"“”()-]*")


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
    """What answering needs to know of an agent: `fallback_text` is the operator's own words for a question it cannot
    answer (None: the built-in ones), `suggested_questions` what it offers to answer instead."""

    fallback_text: str | None
    confidence_threshold: float = 0.45
    answer_length: str = "medium"
    lead_capture: str = "on_fallback"
    instructions: str = ""
    generator: GeneratorConfig | None = None
    suggested_questions: tuple[str, ...] = ()


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


def subject_words(question: str) -> set[str]:
    """The content words of `question` that say what it is about, not how it is asked ("long", "way")."""
    return {w for w in search.terms(question) if w not in GENERIC}


def asked_about(question: str) -> str | None:
    """What `question` asks about, in the visitor's own words: from its first subject word (a content word, not one
    like "long" or "way") to its last. None when it has none, when that runs past TOPIC_WORDS words, or when the
    question holds anything but words and ordinary punctuation, so no markup or address is ever said back."""
    if not _PLAIN_QUESTION.fullmatch(question):
        return None
    subject = subject_words(question)
    found = [m for m in search.WORD.finditer(question) if m.group().lower() in subject]
    if not found:
        return None
    topic = question[found[0].start():found[-1].end()]
    return topic if len(search.WORD.findall(topic)) <= TOPIC_WORDS else None


def fallback_text(agent: AgentProfile, question: str, *, lead_form: bool) -> str:
    """What the agent says to a question it cannot answer: what it could not find (`asked_about`), then the
    operator's own fallback text, whole and as written, or else the built-in lines (the lead form's, when `lead_form`
    shows it), then up to SUGGESTIONS_SHOWN of its suggested questions as what it can help with."""
    topic = asked_about(question)
    parts = [NOT_FOUND_ABOUT.format(topic=topic)] if topic else []
    asked = question.casefold().strip()
    suggestions = [" ".join(q.split()) for q in agent.suggested_questions if q.casefold().strip() != asked]
    suggestions = [q for q in suggestions if q][:SUGGESTIONS_SHOWN]
    if agent.fallback_text is not None:
        parts.append(agent.fallback_text)
    elif not topic:
        parts.append(NOT_FOUND)
    if suggestions:
        quoted = [f"“{q}”" for q in suggestions]
        listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
        parts.append(CAN_HELP_WITH.format(questions=listed) + ("" if suggestions[-1][-1] in ".?!" else "."))
    elif agent.fallback_text is None:
        parts.append(TRY_OTHER_WORDS)
    if agent.fallback_text is None and lead_form:
        parts.append(LEAVE_DETAILS)
    return " ".join(parts)


def _section(hit: Hit) -> tuple[str, str]:
    return hit.source_id, hit.heading_path


@functools.lru_cache(maxsize=2048)
def _sentence_stems(text: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """A passage's sentences, each with the stems of its words: the same for every question that ranks the passage,
    so kept for the passages replies quote most (a pure function of the text, so never stale)."""
    return tuple((sentence, frozenset(search.stem(w) for w in search.terms(sentence))) for sentence in sentences(text))


def quote(hits: list[Hit], ranks: list[int], weights: dict[str, float], count: int) -> list[tuple[int, int, str]]:
    """Up to `count` sentences of the passages at `ranks`, as (rank, position, sentence) in reading order. A sentence
    scores the weight of the question's words it holds, less for a lower-ranked passage; one under RELEVANT_SHARE of
    the best is padding, not answer. Each source's highest-ranked section is drawn on first, another section of it
    only when that leaves room: one passage's worth per source, unless more is needed."""
    stems = {search.stem(w): weight for w, weight in weights.items()}
    first: dict[str, tuple[str, str]] = {}
    for rank in ranks:
        first.setdefault(hits[rank].source_id, _section(hits[rank]))
    scored = []
    for rank in ranks:
        for position, (sentence, found) in enumerate(_sentence_stems(hits[rank].text)):
            score = sum(weight for stem, weight in stems.items() if stem in found) * (1.0 - 0.15 * rank)
            if score > 0:
                scored.append((score, rank, position, sentence))
    if not scored:
        return []
    floor = max(item[0] for item in scored) * RELEVANT_SHARE
    # Ties go to the better passage, then to the earlier sentence.
    candidates = sorted((item for item in scored if item[0] >= floor),
                        key=lambda item: (first[hits[item[1]].source_id] != _section(hits[item[1]]), -item[0],
                                          item[1], item[2]))
    chosen, seen = [], set()
    for _, rank, position, sentence in candidates:
        if len(chosen) == count:
            break
        # A notice repeated on every page of a site, or in every section, is said once.
        said = " ".join(sentence.casefold().split())
        if said not in seen:
            seen.add(said)
            chosen.append((rank, position, sentence))
    return sorted(chosen)


class Answerer:
    def __init__(self, db: Database, *, retriever: Retriever,
                 egress_allowed_hosts: frozenset[str] = frozenset(), turns: Turns | None = None) -> None:
        self._db = db
        self._retriever = retriever
        self._egress_allowed_hosts = egress_allowed_hosts
        self.turns = turns or Turns(1)  # the process's turns at computing replies (ConversationService takes one)

    def answer(self, agent: AgentProfile, question: str, *, history: list[str] | None = None) -> Reply:
        """Reply to `question`; `history` holds the visitor's earlier questions, oldest first."""
        question = " ".join(question.split())
        if agent.lead_capture != "off" and wants_person(question):
            return Reply(HANDOFF_TEXT, False, 0.0, "handoff", [], offer_lead_form=True)
        qa = self._qa_reply(question)
        if qa is not None and qa.confidence >= agent.confidence_threshold:
            return qa
        best = self._extractive(agent, question)
        if best.confidence < agent.confidence_threshold and history and is_follow_up(question):
            # "And how long does that take?" cannot stand alone: read it with the question it follows. One that can
            # ("How much leave do I get?" after a question on expenses) is answered as asked, and the question before
            # only supplies a subject, never stands in for one the content lacks ("And in Berlin?").
            combined = self._extractive(agent, f"{history[-1]} {question}", holding=subject_words(question))
            if combined.confidence > best.confidence:
                best = combined
        if best.confidence < agent.confidence_threshold or not best.text:
            lead_form = agent.lead_capture != "off"
            return Reply(fallback_text(agent, question, lead_form=lead_form), False, best.confidence, "fallback", [],
                         offer_lead_form=lead_form)
        if best.method == "qa":
            return best
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
            with self.turns.given_up():  # the model may take seconds: other replies are computed meanwhile
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
                return self._pair(hit.source_id, hit.qa_id, hit.question, hit.answer, round(score, 3))
        return None

    def _pair(self, source_id: str, qa_id: int, question: str, answer: str, confidence: float) -> Reply:
        """A Q&A pair's answer, whole and verbatim, citing the pair."""
        source = self._db.query_one("SELECT title FROM sources WHERE id = ?", (source_id,))
        citation = Citation(source_id, source["title"] if source else question, None, "",
                            f"Q: {question}\nA: {answer}", search.content_hash(answer), qa_id=qa_id)
        return Reply(answer, True, confidence, "qa", [citation])

    def _matched_pair(self, hit: Hit, confidence: float) -> Reply | None:
        """The pair whose passage `hit` is, answered whole as its author wrote it, or None for a document's passage.
        Its confidence may be the cosine of the two questions (the visitor's, and the pair's, which its passage is
        also embedded as), which says how surely they ask the same thing; a document's passage has no question to
        compare with, so its cosine has no such meaning and its confidence stays the share of the words."""
        if hit.origin != "qa":
            return None
        row = self._db.query_one("SELECT id, question, answer FROM qa_pairs WHERE source_id = ? AND question = ?",
                                 (hit.source_id, hit.title))
        return self._pair(hit.source_id, row["id"], row["question"], row["answer"], confidence) if row else None

    def _extractive(self, agent: AgentProfile, query: str, *, holding: Collection[str] = ()) -> Reply:
        """The sentences of the retrieved passages that answer `query`, none if the best passage lacks a word of
        `holding`. Confidence is the share of the question's weight (`_weigh`) that the best passage holds. A
        lower-ranked passage is quoted only when it is as much about the question, holding at least that share, or
        goes on with the section of one that is (a section longer than a passage is cut in several): a passage that
        shares a word or two with the question but is about something else (expenses, for a question on days of
        leave) adds nothing."""
        candidates = self._retriever.candidates(query, keep=QUOTED_PASSAGES)
        hits = candidates.fused()[:QUOTED_PASSAGES]
        if not hits:
            return Reply("", False, 0.0, "fallback")
        words = search.terms(query)
        stats = search.TermStatistics(self._db, [*words, *holding], [hit.chunk_id for hit in hits])
        if not all(stats.contains(hits[0].chunk_id, w) for w in holding):
            return Reply("", False, 0.0, "fallback")
        weights, total = self._weigh(stats, words)
        coverage = [sum(weight for w, weight in weights.items() if stats.contains(hit.chunk_id, w)) / total
                    for hit in hits]
        confidence = round(coverage[0], 3)
        pair = self._matched_pair(hits[0], max(confidence, round(candidates.similarity(hits[0].chunk_id), 3)))
        if pair is not None:
            return pair
        topical: list[int] = []
        for rank, hit in enumerate(hits):
            if coverage[rank] >= coverage[0] or any(_section(hits[r]) == _section(hit) for r in topical):
                topical.append(rank)
        chosen = quote(hits, topical, weights, SENTENCES_BY_LENGTH.get(agent.answer_length, 3))
        if not chosen:
            return Reply("", False, round(confidence * 0.5, 3), "fallback")
        citations = [Citation(hits[r].source_id, hits[r].title, hits[r].url, hits[r].heading_path, hits[r].text,
                              hits[r].content_hash, chunk_id=hits[r].chunk_id)
                     for r in sorted({rank for rank, _, _ in chosen})]
        return Reply(" ".join(sentence for _, _, sentence in chosen), True, confidence, "extractive", citations)

    def _weigh(self, stats: search.TermStatistics, words: list[str]) -> tuple[dict[str, float], float]:
        """Each content word's weight, and the question's: how rare the word is among the workspace's passages
        (BM25's IDF), a fifth of that for a word that shapes a question more than its subject. The unit is the weight
        of a word that one passage holds. No word weighs more: BM25's smoothing would make a word no passage holds the
        heaviest of all, far above any word the content uses when the workspace is small (2.77 against 1.67 in a
        handbook of seven passages), so one word the content never uses ("car" in "Where do I park my car?") would
        sink an answer that matches the rest. And no question weighs less: one matched only by words most passages
        hold ("How many days off do I get?" by "days") is too vague to answer from any of them."""
        unit = stats.idf_of(1)
        weights = {w: min(stats.idf(w), unit) * (0.2 if w in GENERIC else 1.0) for w in words}
        return weights, max(sum(weights.values()), unit)
