"""Repeated refusals from one source, audited in full the first few times and then counted into one summary row.

A client that sends thousands of made-up API keys or passwords would otherwise write a row for each (gigabytes a
day, never pruned, burying the events people look for). Refusals are grouped by what was refused, its outcome and
the client address, never by anything the client invents (a made-up key id, an email address): per group and
window, the first `keep` are written as they happen, the rest are counted, and one row says how many there were,
when, and a few of the actor ids they named. Successes are always written.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field

SAMPLE_ACTORS = 5
MAX_GROUPS = 10_000  # sources tracked at once; past it the oldest group is summarised early


@dataclass
class _Group:
    started: dt.datetime
    written: int = 0
    counted: int = 0
    first_counted: dt.datetime | None = None
    last_counted: dt.datetime | None = None
    actors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Summary:
    """One group's counted refusals, for the row that stands for them."""

    action: str
    outcome: str
    client_address: str | None
    count: int
    first_at: dt.datetime
    last_at: dt.datetime
    actor_ids: tuple[str, ...]

    def details(self) -> dict:
        return {"repeated": self.count, "first_at": self.first_at.isoformat(), "last_at": self.last_at.isoformat(),
                "sample_actor_ids": list(self.actor_ids),
                "note": "refusals like this one from the same address, counted instead of written one by one"}


class RepeatedRefusals:
    """Decides which refusals are written in full, and collects the rest into summaries."""

    def __init__(self, *, window: dt.timedelta, keep: int) -> None:
        if window <= dt.timedelta(0) or keep < 1:
            raise ValueError("a RepeatedRefusals window must be positive and keep at least one row")
        self.window = window
        self.keep = keep
        self._groups: dict[tuple[str, str, str | None], _Group] = {}
        self._lock = threading.Lock()

    def admit(self, action: str, outcome: str, client_address: str | None, actor_id: str | None,
              now: dt.datetime) -> tuple[bool, list[Summary]]:
        """Whether to write this refusal in full, and the summaries of groups whose window has closed (to write
        before it)."""
        with self._lock:
            closed = self._close(now)
            key = (action, outcome, client_address)
            group = self._groups.get(key)
            if group is None:
                if len(self._groups) >= MAX_GROUPS:
                    closed += self._evict_oldest()
                group = self._groups[key] = _Group(started=now)
            if group.written < self.keep:
                group.written += 1
                return True, closed
            group.counted += 1
            group.first_counted = group.first_counted or now
            group.last_counted = now
            if actor_id and actor_id not in group.actors and len(group.actors) < SAMPLE_ACTORS:
                group.actors.append(actor_id)
            return False, closed

    def due(self, now: dt.datetime, *, everything: bool = False) -> list[Summary]:
        """Summaries of the groups whose window has closed by `now` (with `everything`, of every group)."""
        with self._lock:
            return self._close(now, everything=everything)

    def _close(self, now: dt.datetime, *, everything: bool = False) -> list[Summary]:
        ended = [key for key, group in self._groups.items() if everything or now - group.started >= self.window]
        return [summary for key in ended if (summary := _summary(key, self._groups.pop(key))) is not None]

    def _evict_oldest(self) -> list[Summary]:
        key = min(self._groups, key=lambda k: self._groups[k].started)
        summary = _summary(key, self._groups.pop(key))
        return [summary] if summary is not None else []


def _summary(key: tuple[str, str, str | None], group: _Group) -> Summary | None:
    if not group.counted:
        return None
    action, outcome, address = key
    return Summary(action, outcome, address, group.counted, group.first_counted, group.last_counted,
                   tuple(group.actors))
