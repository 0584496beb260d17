"""The analytics a workspace reads: counts per day (empty days included), the questions asked most, and the
questions its agents could not answer, which are what to train them on next. The questions are visitors' own words:
readers who may not read conversations get them redacted."""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import asdict, dataclass, fields

from appliance.clock import Clock
from appliance.conversations.redaction import redact
from appliance.errors import ValidationError
from appliance.exports.spreadsheets import to_csv
from appliance.storage.database import Database

DEFAULT_DAYS = 30
MAX_DAYS = 366
TABLES = ("daily", "fell_back_questions")


@dataclass(frozen=True)
class DayCounts:
    day: str
    conversations: int = 0
    questions: int = 0
    answered: int = 0
    fell_back: int = 0
    handed_off: int = 0               # the visitor asked for a person
    leads: int = 0
    thumbs_up: int = 0
    thumbs_down: int = 0

    def public(self) -> dict:
        return asdict(self)


COUNTS = tuple(f.name for f in fields(DayCounts) if f.name != "day")


@dataclass(frozen=True)
class QuestionCount:
    question: str                     # normalised: lower case, single spaces, no trailing punctuation
    count: int
    answered_share: float
    last_asked: str

    def public(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FellBackQuestion:
    question: str
    count: int
    last_asked: str

    def public(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Report:
    since: str
    until: str
    days: list[DayCounts]
    totals: dict[str, int]
    top_questions: list[QuestionCount]
    fell_back_questions: list[FellBackQuestion]
    question_text: str = "full"       # or "redacted": links, addresses and numbers masked

    def public(self) -> dict:
        return {"since": self.since, "until": self.until, "days": [d.public() for d in self.days],
                "totals": self.totals, "top_questions": [q.public() for q in self.top_questions],
                "fell_back_questions": [q.public() for q in self.fell_back_questions],
                "question_text": self.question_text}


@dataclass
class _Group:
    count: int = 0
    answered: int = 0
    fell_back: int = 0
    last_asked: str = ""
    last_fell_back: str = ""


def normalise(question: str) -> str:
    """The form questions are grouped by: "Opening  hours?" and "opening hours" are the same question."""
    text = " ".join(question.lower().split())
    while text and (unicodedata.category(text[-1]).startswith("P") or text[-1].isspace()):
        text = text[:-1]
    return text


def totals(days: list[DayCounts]) -> dict[str, int]:
    return {name: sum(getattr(d, name) for d in days) for name in COUNTS}


class AnalyticsReport:
    def __init__(self, db: Database, *, clock: Clock, redacted: bool = False) -> None:
        """`redacted`: question texts come with links, email addresses, phone numbers and long digit runs masked
        (for readers who may not read the conversations they come from)."""
        self._db = db
        self._clock = clock
        self._redacted = redacted

    @property
    def question_text(self) -> str:
        return "redacted" if self._redacted else "full"

    def period(self, since_day: str | None = None, until_day: str | None = None) -> tuple[str, str]:
        """The inclusive range of UTC days asked for; by default the last 30 days up to today."""
        try:
            until = _day("until", until_day) or self._clock.now().astimezone(dt.timezone.utc).date()
            since = _day("since", since_day) or until - dt.timedelta(days=DEFAULT_DAYS - 1)
        except OverflowError:
            raise ValidationError("'since' and 'until' must be days within the calendar") from None
        if since > until:
            raise ValidationError("'since' must be on or before 'until'")
        if (until - since).days + 1 > MAX_DAYS:
            raise ValidationError(f"a report covers at most {MAX_DAYS} days; narrow 'since' and 'until'")
        return since.isoformat(), until.isoformat()

    def daily(self, since_day: str | None = None, until_day: str | None = None,
              agent_id: str | None = None) -> list[DayCounts]:
        """One row per day of the range, oldest first, days without events included as zeros."""
        since, until = self.period(since_day, until_day)
        where, params = _where(since, until, agent_id)
        found = {r["day"]: DayCounts(**{k: r[k] for k in r.keys()}) for r in self._db.query(
            f"""SELECT day, sum(kind = 'conversation') AS conversations, sum(kind = 'question') AS questions,
                       sum(kind = 'question' AND answered IS 1) AS answered,
                       sum(kind = 'question' AND answered IS 0) AS fell_back,
                       sum(kind = 'question' AND answered IS NULL) AS handed_off, sum(kind = 'lead') AS leads,
                       sum(kind = 'thumbs_up') AS thumbs_up, sum(kind = 'thumbs_down') AS thumbs_down
                FROM analytics_events WHERE {where} GROUP BY day""", params)}
        first = dt.date.fromisoformat(since)
        span = (dt.date.fromisoformat(until) - first).days + 1
        return [found.get(day, DayCounts(day)) for day in
                ((first + dt.timedelta(days=n)).isoformat() for n in range(span))]

    def top_questions(self, since_day: str | None = None, until_day: str | None = None,
                      agent_id: str | None = None, *, limit: int = 20) -> list[QuestionCount]:
        """The questions asked most, with the share of them answered."""
        groups = self._groups(since_day, until_day, agent_id)
        ranked = sorted(groups.items(), key=lambda item: (-item[1].count, item[0]))[:limit]
        return [QuestionCount(text, g.count, round(g.answered / g.count, 3), g.last_asked) for text, g in ranked]

    def fell_back_questions(self, since_day: str | None = None, until_day: str | None = None,
                            agent_id: str | None = None, *, limit: int = 100) -> list[FellBackQuestion]:
        """The questions that got the fallback reply, most frequent first, then most recent."""
        groups = [(text, g) for text, g in self._groups(since_day, until_day, agent_id).items() if g.fell_back]
        groups.sort(key=lambda item: item[0])
        groups.sort(key=lambda item: (item[1].fell_back, item[1].last_fell_back), reverse=True)
        return [FellBackQuestion(text, g.fell_back, g.last_fell_back) for text, g in groups[:limit]]

    def report(self, since_day: str | None = None, until_day: str | None = None,
               agent_id: str | None = None) -> Report:
        since, until = self.period(since_day, until_day)
        days = self.daily(since, until, agent_id)
        return Report(since, until, days, totals(days), self.top_questions(since, until, agent_id),
                      self.fell_back_questions(since, until, agent_id), self.question_text)

    def csv(self, table: str, since_day: str | None = None, until_day: str | None = None,
            agent_id: str | None = None) -> str:
        """The daily table or the fell-back questions (all of them) as CSV."""
        if table == "daily":
            return to_csv(("day", *COUNTS), ([d.day, *(getattr(d, n) for n in COUNTS)]
                                             for d in self.daily(since_day, until_day, agent_id)))
        if table == "fell_back_questions":
            return to_csv(("question", "count", "last_asked"), (
                [q.question, q.count, q.last_asked]
                for q in self.fell_back_questions(since_day, until_day, agent_id, limit=1_000_000)))
        raise ValidationError(f"'table' is one of: {', '.join(TABLES)}")

    def _groups(self, since_day: str | None, until_day: str | None, agent_id: str | None) -> dict[str, _Group]:
        since, until = self.period(since_day, until_day)
        where, params = _where(since, until, agent_id)
        # SQL groups identical texts; Python merges those that differ only in case, spacing or punctuation.
        rows = self._db.query(
            f"""SELECT question, count(*) AS asked, sum(answered IS 1) AS answered, sum(answered IS 0) AS fell_back,
                       max(created_at) AS last_asked, max(CASE WHEN answered IS 0 THEN created_at END) AS last_fell_back
                FROM analytics_events WHERE {where} AND kind = 'question' AND question IS NOT NULL
                GROUP BY question""", params)
        groups: dict[str, _Group] = {}
        for row in rows:
            text = normalise(row["question"])
            if self._redacted:
                # Before grouping, so questions that differ only in the address or number they hold count as one.
                text = redact(text)
            if not text:
                continue
            group = groups.setdefault(text, _Group())
            group.count += row["asked"]
            group.answered += row["answered"]
            group.fell_back += row["fell_back"]
            group.last_asked = max(group.last_asked, row["last_asked"])
            group.last_fell_back = max(group.last_fell_back, row["last_fell_back"] or "")
        return groups


def _day(name: str, raw: str | None) -> dt.date | None:
    if not raw:
        return None
    try:
        if len(raw) == 10:  # fromisoformat would take 20261129 and 2026-W48-7 as well
            return dt.date.fromisoformat(raw)
    except ValueError:
        pass
    raise ValidationError(f"'{name}' must be a day, like 2026-11-29")


def _where(since: str, until: str, agent_id: str | None) -> tuple[str, list]:
    where, params = "day BETWEEN ? AND ?", [since, until]
    if agent_id:
        where += " AND agent_id = ?"
        params.append(agent_id)
    return where, params
